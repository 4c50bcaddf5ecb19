//! One reader per published dataset layout.

mod pmc_oa;
mod roco;

use crate::input::Inputs;
use crate::source::Source;
use crate::{Error, Result};

/// The datasets this build can ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dataset {
    /// PMC-OA (PMC-CLIP), both Hugging Face releases.
    PmcOa,
    /// ROCO (razorx89/roco-dataset), radiology and non-radiology.
    Roco,
}

impl Dataset {
    /// Names accepted on the command line.
    pub const NAMES: &'static [&'static str] = &["pmc-oa", "roco"];

    /// Parses a command-line name.
    pub fn parse(name: &str) -> Result<Dataset> {
        match name {
            "pmc-oa" => Ok(Dataset::PmcOa),
            "roco" => Ok(Dataset::Roco),
            other => Err(Error::UnknownDataset(other.to_string())),
        }
    }

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::PmcOa => "pmc-oa",
            Dataset::Roco => "roco",
        }
    }

    /// Opens the dataset's reader over a source root.
    pub fn reader(self, src: &Source, variant: Option<&str>) -> Result<Box<dyn DatasetReader>> {
        match self {
            Dataset::PmcOa => Ok(Box::new(pmc_oa::PmcOa::open(src, variant)?)),
            Dataset::Roco => {
                if let Some(v) = variant {
                    return Err(Error::InvalidOption {
                        option: "--variant",
                        reason: format!("roco has no variant `{v}`"),
                    });
                }
                Ok(Box::new(roco::Roco::open(src)?))
            }
        }
    }
}

/// A dataset layout found on a source, ready to stream its records.
pub trait DatasetReader: Send {
    /// The metadata files the records come from (relative paths), hashed into the manifest.
    fn files(&self) -> Vec<String>;
    /// Names of the `labels` entries (empty when the dataset has none).
    fn label_names(&self) -> Vec<String> {
        Vec::new()
    }
    /// Reader-specific facts recorded in the manifest's ingest options.
    fn options(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// Every input record, in a deterministic order.
    fn inputs(&self) -> Result<Inputs>;
}
