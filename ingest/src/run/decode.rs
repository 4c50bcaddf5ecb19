//! Validating (and resizing) a folder of images exactly as ingest does, writing nothing: what
//! `unimlip bench decode` measures.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::ordered::{ordered_map, pool_window};
use crate::image::{ResizePolicy, normalize_guarded};
use crate::{Error, Result};

/// What became of the images of a [`decode_files`] run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodeCounts {
    /// Images read.
    pub images: u64,
    /// Their bytes.
    pub source_bytes: u64,
    /// Kept byte for byte.
    pub kept: u64,
    /// Resized and re-encoded.
    pub reencoded: u64,
    /// Rejected, by reason.
    pub rejected: BTreeMap<&'static str, u64>,
    /// Wall time.
    pub seconds: f64,
}

/// Every `.jpg`, `.jpeg` and `.png` under `dir` (recursively), sorted.
pub fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    collect(dir, &mut found)?;
    found.sort();
    Ok(found)
}

fn collect(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let read = |e| Error::read(dir.display().to_string(), e);
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let path = entry.map_err(read)?.path();
        if path.is_dir() {
            collect(&path, found)?;
            continue;
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ["jpg", "jpeg", "png"]
            .iter()
            .any(|e| ext.eq_ignore_ascii_case(e))
        {
            found.push(path);
        }
    }
    Ok(())
}

/// What one image became.
enum Verdict {
    Kept,
    Reencoded,
    Rejected(&'static str),
}

/// Reads and normalises `files` on `workers` threads under `policy`, as ingest's pool does.
pub fn decode_files(
    files: &[PathBuf],
    policy: ResizePolicy,
    workers: usize,
) -> Result<DecodeCounts> {
    let workers = workers.max(1);
    let mut c = DecodeCounts::default();
    let t0 = Instant::now();
    ordered_map(
        files.iter().map(Ok::<_, Error>),
        workers,
        pool_window(policy, workers),
        |path| -> Result<(u64, Verdict)> {
            let bytes =
                std::fs::read(path).map_err(|e| Error::read(path.display().to_string(), e))?;
            let n = bytes.len() as u64;
            let verdict = match normalize_guarded(bytes, policy) {
                Ok(img) if img.kept_original => Verdict::Kept,
                Ok(_) => Verdict::Reencoded,
                Err(r) => Verdict::Rejected(r.reason),
            };
            Ok((n, verdict))
        },
        |r| {
            let (n, verdict) = r?;
            c.images += 1;
            c.source_bytes += n;
            match verdict {
                Verdict::Kept => c.kept += 1,
                Verdict::Reencoded => c.reencoded += 1,
                Verdict::Rejected(reason) => *c.rejected.entry(reason).or_default() += 1,
            }
            Ok(())
        },
    )?;
    c.seconds = t0.elapsed().as_secs_f64();
    Ok(c)
}
