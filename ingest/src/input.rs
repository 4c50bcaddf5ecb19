//! What a dataset reader yields: records whose image is still to be read, or rejections.

use std::io::BufRead;

use unimlip_shards::{ImageFormat, ImageInfo, QuarantineEntry, Record};

use crate::{Error, Result};

/// A record whose metadata is parsed and whose image is still on the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// The row, with an empty `image`.
    pub record: Record,
    /// The image path relative to the source root.
    pub image_path: String,
    /// A segmentation mask to store beside the image, relative to the source root.
    pub mask_path: Option<String>,
}

impl Pending {
    /// A record whose image is at `image_path`, with no mask.
    pub fn new(record: Record, image_path: String) -> Pending {
        Pending {
            record,
            image_path,
            mask_path: None,
        }
    }
}

/// One input record of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Parsed; the image is to be read and normalised.
    Ready(Box<Pending>),
    /// Rejected while parsing metadata.
    Rejected(QuarantineEntry),
}

impl Input {
    /// The split this input belongs to.
    pub fn split(&self) -> &str {
        match self {
            Input::Ready(p) => &p.record.split,
            Input::Rejected(q) => q.split.as_deref().unwrap_or(""),
        }
    }

    /// A metadata rejection.
    pub fn rejected(
        source: String,
        id: Option<String>,
        split: &str,
        reason: &str,
        detail: String,
    ) -> Input {
        Input::Rejected(QuarantineEntry {
            source,
            id,
            split: Some(split.to_string()),
            reason: reason.to_string(),
            detail,
        })
    }
}

/// A stream of inputs; an `Err` (an unreadable metadata file) ends the ingest.
pub type Inputs = Box<dyn Iterator<Item = Result<Input>> + Send>;

/// A row with the given id and split and nothing else yet.
pub fn blank_record(id: &str, split: &str) -> Record {
    Record {
        id: id.to_string(),
        split: split.to_string(),
        subset: None,
        image: Vec::new(),
        image_info: ImageInfo {
            format: ImageFormat::Jpeg,
            width: 0,
            height: 0,
            channels: 0,
            bit_depth: 0,
        },
        source_path: None,
        caption: None,
        labels: None,
        patient_id: None,
        study_id: None,
        view: None,
        qa: None,
        license: None,
        extra: None,
        mask: None,
    }
}

/// Trims a text field; returns the trimmed text and the raw text when trimming changed more
/// than the format's own `expected_prefix` (so nothing is lost silently).
pub fn clean_text(raw: &str, expected_prefix: &str) -> (String, Option<String>) {
    let trimmed = raw.trim().to_string();
    let expected = format!("{expected_prefix}{trimmed}");
    let kept = (raw != expected).then(|| raw.to_string());
    (trimmed, kept)
}

/// Numbered lines of a text file, as raw bytes without the line ending (`\n` or `\r\n`).
pub struct Lines {
    inner: Box<dyn BufRead + Send>,
    path: String,
    line: u64,
}

impl Lines {
    /// Lines of an open reader; `path` names it in errors.
    pub fn new(inner: Box<dyn BufRead + Send>, path: &str) -> Self {
        Lines {
            inner,
            path: path.to_string(),
            line: 0,
        }
    }
}

impl Iterator for Lines {
    type Item = Result<(u64, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut buf = Vec::new();
        match self.inner.read_until(b'\n', &mut buf) {
            Ok(0) => None,
            Ok(_) => {
                self.line += 1;
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                }
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
                Some(Ok((self.line, buf)))
            }
            Err(e) => Some(Err(Error::read(
                format!("{}:{}", self.path, self.line + 1),
                e,
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_records_unexpected_whitespace() {
        assert_eq!(clean_text(" Axial MRI.", " "), ("Axial MRI.".into(), None));
        let (t, raw) = clean_text("  Axial MRI. ", " ");
        assert_eq!(t, "Axial MRI.");
        assert_eq!(raw.as_deref(), Some("  Axial MRI. "));
        assert_eq!(clean_text("x", ""), ("x".into(), None));
    }

    #[test]
    fn lines_strip_lf_and_crlf_and_keep_numbers() {
        let r: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(b"a\r\nb\n\nc".to_vec()));
        let got: Vec<_> = Lines::new(r, "f").map(|l| l.unwrap()).collect();
        assert_eq!(
            got,
            vec![
                (1, b"a".to_vec()),
                (2, b"b".to_vec()),
                (3, vec![]),
                (4, b"c".to_vec())
            ]
        );
    }
}
