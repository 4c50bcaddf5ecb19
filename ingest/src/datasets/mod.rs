//! One reader per published dataset layout.

mod chexpert;
mod mimic;
mod mimic_report;
mod nih;
mod pmc_oa;
mod qa;
mod roco;
mod slake;
mod table;
mod vqa_rad;

pub use chexpert::LABELS as CHEXPERT_LABELS;
pub use mimic::image_path as mimic_image_path;
pub use mimic_report::{Sections, sections};
pub use nih::{LABELS as NIH_LABELS, nih_labels};

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
    /// MIMIC-CXR-JPG v2.0.0 / v2.1.0, with reports when present.
    MimicCxr,
    /// CheXpert v1.0 and CheXpert-v1.0-small.
    Chexpert,
    /// NIH ChestX-ray14.
    NihCxr14,
    /// VQA-RAD (OSF release, MEVF split).
    VqaRad,
    /// SLAKE 1.0.
    Slake,
}

impl Dataset {
    /// Names accepted on the command line.
    pub const NAMES: &'static [&'static str] = &[
        "pmc-oa",
        "roco",
        "mimic-cxr",
        "chexpert",
        "nih-cxr14",
        "vqa-rad",
        "slake",
    ];

    /// Every dataset, in [`Dataset::NAMES`] order.
    pub const ALL: [Dataset; 7] = [
        Dataset::PmcOa,
        Dataset::Roco,
        Dataset::MimicCxr,
        Dataset::Chexpert,
        Dataset::NihCxr14,
        Dataset::VqaRad,
        Dataset::Slake,
    ];

    /// Parses a command-line name.
    pub fn parse(name: &str) -> Result<Dataset> {
        Self::ALL
            .into_iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| Error::UnknownDataset(name.to_string()))
    }

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::PmcOa => "pmc-oa",
            Dataset::Roco => "roco",
            Dataset::MimicCxr => "mimic-cxr",
            Dataset::Chexpert => "chexpert",
            Dataset::NihCxr14 => "nih-cxr14",
            Dataset::VqaRad => "vqa-rad",
            Dataset::Slake => "slake",
        }
    }

    /// Opens the dataset's reader over a source root.
    pub fn reader(self, src: &Source, variant: Option<&str>) -> Result<Box<dyn DatasetReader>> {
        if let (Some(v), false) = (variant, self == Dataset::PmcOa) {
            return Err(Error::InvalidOption {
                option: "--variant",
                reason: format!("{} has no variant `{v}`", self.name()),
            });
        }
        Ok(match self {
            Dataset::PmcOa => Box::new(pmc_oa::PmcOa::open(src, variant)?),
            Dataset::Roco => Box::new(roco::Roco::open(src)?),
            Dataset::MimicCxr => Box::new(mimic::Mimic::open(src)?),
            Dataset::Chexpert => Box::new(chexpert::Chexpert::open(src)?),
            Dataset::NihCxr14 => Box::new(nih::Nih::open(src)?),
            Dataset::VqaRad => Box::new(vqa_rad::VqaRad::open(src)?),
            Dataset::Slake => Box::new(slake::Slake::open(src)?),
        })
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

/// The real published metadata of a dataset under `../shared/real-metadata/<name>`, when the
/// checkout has it (a user's clone does not: the test then skips).
#[cfg(test)]
#[allow(clippy::print_stderr)]
pub(crate) fn real_metadata(name: &str) -> Option<(std::path::PathBuf, Source)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/real-metadata")
        .join(name);
    if !root.is_dir() {
        eprintln!("skipped: ../shared/real-metadata/{name} absent");
        return None;
    }
    let src = Source::open(root.to_str().expect("utf-8 path")).expect("readable folder");
    Some((root, src))
}

/// Writes a file under `dir`, creating its folders (test fixtures).
#[cfg(test)]
pub(crate) fn write_fixture(dir: &std::path::Path, rel: &str, bytes: impl AsRef<[u8]>) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("a parent")).expect("fixture folder");
    std::fs::write(p, bytes).expect("fixture file");
}

/// The accepted inputs among `inputs` (tests).
#[cfg(test)]
pub(crate) fn ready(inputs: &[crate::Input]) -> Vec<&crate::input::Pending> {
    inputs
        .iter()
        .filter_map(|i| match i {
            crate::Input::Ready(p) => Some(p.as_ref()),
            _ => None,
        })
        .collect()
}

/// Every input a reader yields, panicking on a read error (tests).
#[cfg(test)]
pub(crate) fn all_inputs(reader: &dyn DatasetReader) -> Vec<crate::Input> {
    reader
        .inputs()
        .expect("inputs")
        .map(|i| i.expect("readable input"))
        .collect()
}
