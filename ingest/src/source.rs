//! The source dataset root: a local folder or an object-store URL, read-only.

use std::io::{BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};
use unimlip_shards::Store;

use crate::{Error, Result};

/// Why an image path could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// The file exists; here are its bytes.
    Bytes(Vec<u8>),
    /// No such file.
    Missing,
    /// The path leaves the dataset root.
    Escapes,
    /// Reading failed for another reason.
    Failed(String),
}

/// A dataset root to read from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A folder on local disk.
    Local(PathBuf),
    /// A prefix on an object store.
    Remote(Store),
}

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Moves a buffered reader past a leading UTF-8 byte-order mark, if its first buffer starts
/// with one (a buffer of a file or an object's first chunk holds far more than three bytes).
pub fn skip_bom<R: BufRead>(mut r: R) -> std::io::Result<R> {
    if r.fill_buf()?.starts_with(BOM) {
        r.consume(BOM.len());
    }
    Ok(r)
}

/// Bytes of a text file without a leading UTF-8 byte-order mark.
pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(BOM).unwrap_or(bytes)
}

/// Checks a relative path lexically: no root, no `..`, no empty name.
pub fn is_contained(rel: &str) -> bool {
    let p = Path::new(rel);
    !rel.is_empty()
        && !rel.contains('\\')
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

impl Source {
    /// Opens a source: a URL with a scheme, or an existing local folder.
    pub fn open(src: &str) -> Result<Source> {
        if src.contains("://") && !src.starts_with("file://") {
            return Ok(Source::Remote(Store::open_existing(src)?));
        }
        let path = PathBuf::from(src.strip_prefix("file://").unwrap_or(src));
        let abs = path
            .canonicalize()
            .map_err(|e| Error::read(path.display().to_string(), e))?;
        if !abs.is_dir() {
            return Err(Error::read(
                path.display().to_string(),
                std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a folder"),
            ));
        }
        Ok(Source::Local(abs))
    }

    /// How to name the root in messages and in the manifest.
    pub fn describe(&self) -> String {
        match self {
            Source::Local(p) => p.display().to_string(),
            Source::Remote(s) => s.url().to_string(),
        }
    }

    /// Whether a file exists.
    pub fn is_file(&self, rel: &str) -> bool {
        match self {
            Source::Local(root) => root.join(rel).is_file(),
            Source::Remote(s) => matches!(s.size(rel), Ok(Some(_))),
        }
    }

    /// Whether any file lies under a folder.
    pub fn is_dir(&self, rel: &str) -> bool {
        match self {
            Source::Local(root) => root.join(rel).is_dir(),
            Source::Remote(s) => s.any_under(rel).unwrap_or(false),
        }
    }

    /// A buffered streaming reader over a metadata file, past a leading UTF-8 byte-order mark
    /// (which spreadsheet tools on Windows put first and which would otherwise become part of
    /// the first id or header).
    pub fn lines(&self, rel: &str) -> Result<Box<dyn BufRead + Send>> {
        let inner: Box<dyn Read + Send> = match self {
            Source::Local(root) => {
                let f = std::fs::File::open(root.join(rel)).map_err(|e| Error::read(rel, e))?;
                Box::new(f)
            }
            Source::Remote(s) => s.reader(rel)?,
        };
        let reader = BufReader::with_capacity(1 << 20, inner);
        Ok(Box::new(skip_bom(reader).map_err(|e| Error::read(rel, e))?))
    }

    /// Reads an image file, refusing paths that leave the root.
    pub fn fetch(&self, rel: &str) -> Fetch {
        if !is_contained(rel) {
            return Fetch::Escapes;
        }
        match self {
            Source::Local(root) => fetch_local(root, rel),
            Source::Remote(s) => match s.get_opt(rel) {
                Ok(Some(b)) => Fetch::Bytes(b.to_vec()),
                Ok(None) => Fetch::Missing,
                Err(e) => Fetch::Failed(e.to_string()),
            },
        }
    }

    /// Every file under the root whose name ends with `suffix`, as sorted relative paths.
    pub fn find_files(&self, suffix: &str) -> Result<Vec<String>> {
        let mut out = match self {
            Source::Local(root) => {
                let mut v = Vec::new();
                walk(root, root, suffix, &mut v)?;
                v
            }
            Source::Remote(s) => s
                .list("")?
                .into_iter()
                .map(|l| l.path)
                .filter(|p| p.ends_with(suffix))
                .collect(),
        };
        out.sort();
        Ok(out)
    }

    /// SHA-256 over the given metadata files: each file's path, size and content hash.
    pub fn listing_hash(&self, files: &[String]) -> Result<String> {
        let mut all = Sha256::new();
        for rel in files {
            let mut h = Sha256::new();
            let mut r = self.lines(rel)?;
            let mut size = 0u64;
            loop {
                let buf = r.fill_buf().map_err(|e| Error::read(rel.as_str(), e))?;
                if buf.is_empty() {
                    break;
                }
                h.update(buf);
                let n = buf.len();
                size += n as u64;
                r.consume(n);
            }
            all.update(format!("{rel}\t{size}\t{}\n", hex::encode(h.finalize())));
        }
        Ok(hex::encode(all.finalize()))
    }
}

fn walk(root: &Path, dir: &Path, suffix: &str, out: &mut Vec<String>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::read(dir.display().to_string(), e))?;
    for e in entries {
        let e = e.map_err(|e| Error::read(dir.display().to_string(), e))?;
        let path = e.path();
        let kind = e
            .file_type()
            .map_err(|e| Error::read(path.display().to_string(), e))?;
        if kind.is_dir() {
            walk(root, &path, suffix, out)?;
        } else if kind.is_file() && path.to_string_lossy().ends_with(suffix) {
            let rel = path.strip_prefix(root).expect("under root");
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

fn fetch_local(root: &Path, rel: &str) -> Fetch {
    let path = root.join(rel);
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Fetch::Missing,
        Err(e) => return Fetch::Failed(e.to_string()),
        Ok(m) if m.file_type().is_symlink() => match path.canonicalize() {
            Ok(real) if real.starts_with(root) => {}
            Ok(_) => return Fetch::Escapes,
            Err(_) => return Fetch::Missing,
        },
        Ok(_) => {}
    }
    match std::fs::read(&path) {
        Ok(b) => Fetch::Bytes(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Fetch::Missing,
        Err(e) => Fetch::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_byte_order_mark_is_skipped_and_nothing_else() {
        let read = |b: &[u8]| {
            let mut out = String::new();
            skip_bom(b).unwrap().read_to_string(&mut out).unwrap();
            out
        };
        assert_eq!(read(b"\xEF\xBB\xBFid,caption"), "id,caption");
        assert_eq!(read(b"id,caption"), "id,caption");
        assert_eq!(read(b""), "");
        assert_eq!(read("é\u{feff}".as_bytes()), "é\u{feff}");
        assert_eq!(strip_bom(b"\xEF\xBB\xBF{}"), b"{}");
    }

    #[test]
    fn containment_is_lexical_and_strict() {
        assert!(is_contained("images/a.jpg"));
        assert!(is_contained("./images/a.jpg"));
        assert!(!is_contained("../a.jpg"));
        assert!(!is_contained("images/../../a.jpg"));
        assert!(!is_contained("/etc/passwd"));
        assert!(!is_contained(""));
    }

    #[test]
    fn fetch_refuses_symlinks_out_of_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(d.path().join("secret"), b"x").unwrap();
        std::os::unix::fs::symlink(d.path().join("secret"), root.join("link.jpg")).unwrap();
        let s = Source::open(root.to_str().unwrap()).unwrap();
        assert_eq!(s.fetch("link.jpg"), Fetch::Escapes);
        assert_eq!(s.fetch("nope.jpg"), Fetch::Missing);
        assert_eq!(s.fetch("../secret"), Fetch::Escapes);
    }
}
