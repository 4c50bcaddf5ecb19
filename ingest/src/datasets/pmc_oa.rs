//! PMC-OA (Lin et al., PMC-CLIP) from its Hugging Face repository, both releases:
//! release A's `train.jsonl` / `valid.jsonl` / `test.jsonl` (`image`, `caption`, `pmcid`,
//! `url_name`) and release B's `pmc_oa.jsonl` (`alignment_type`, `alignment_score`) or
//! `pmc_oa_beta.jsonl` (`image`, `caption` only). Images live under
//! `caption_T060_filtered_top4_sep_v0_subfigures/` (or `images/`, as some loaders rename it).
//!
//! Quirks handled (specs/datasets.md §1.4): every key but `image` and `caption` is optional and
//! unknown keys are kept in `extra`; captions with embedded newlines stay one record; the
//! 455 MB JSONL is streamed line by line; listed images may be missing or unreadable.

use serde_json::{Map, Value};

use crate::datasets::DatasetReader;
use crate::input::{Input, Inputs, Lines, Pending, blank_record, clean_text};
use crate::source::Source;
use crate::{Error, Result};

const IMAGE_DIRS: [&str; 2] = ["caption_T060_filtered_top4_sep_v0_subfigures", "images"];
const RELEASE_A: [(&str, &str); 3] = [
    ("train.jsonl", "train"),
    ("valid.jsonl", "validation"),
    ("test.jsonl", "test"),
];
/// Variants selectable with `--variant`.
const VARIANTS: [&str; 3] = ["splits", "pmc_oa", "pmc_oa_beta"];

pub(crate) struct PmcOa {
    src: Source,
    variant: &'static str,
    /// `(file, split)` in reading order.
    files: Vec<(String, &'static str)>,
    image_dir: String,
}

impl PmcOa {
    pub(crate) fn open(src: &Source, variant: Option<&str>) -> Result<PmcOa> {
        let variant = match variant {
            Some(v) => *VARIANTS
                .iter()
                .find(|k| **k == v)
                .ok_or_else(|| Error::InvalidOption {
                    option: "--variant",
                    reason: format!("pmc-oa variants are {}, not `{v}`", VARIANTS.join(", ")),
                })?,
            None => default_variant(src).ok_or_else(|| Error::Layout {
                dataset: "pmc-oa",
                src: src.describe(),
                reason:
                    "none of train.jsonl, valid.jsonl, test.jsonl, pmc_oa.jsonl, pmc_oa_beta.jsonl"
                        .into(),
            })?,
        };
        let files: Vec<(String, &'static str)> = match variant {
            "splits" => RELEASE_A
                .iter()
                .filter(|(f, _)| src.is_file(f))
                .map(|(f, s)| (f.to_string(), *s))
                .collect(),
            v => vec![(format!("{v}.jsonl"), "train")],
        };
        if let Some((f, _)) = files.iter().find(|(f, _)| !src.is_file(f)) {
            return Err(Error::Layout {
                dataset: "pmc-oa",
                src: src.describe(),
                reason: format!("{f} not found"),
            });
        }
        let image_dir = IMAGE_DIRS
            .iter()
            .find(|d| src.is_dir(d))
            .map(|d| format!("{d}/"))
            .unwrap_or_default();
        Ok(PmcOa {
            src: src.clone(),
            variant,
            files,
            image_dir,
        })
    }
}

fn default_variant(src: &Source) -> Option<&'static str> {
    if RELEASE_A.iter().any(|(f, _)| src.is_file(f)) {
        Some("splits")
    } else {
        ["pmc_oa", "pmc_oa_beta"]
            .into_iter()
            .find(|v| src.is_file(&format!("{v}.jsonl")))
    }
}

impl DatasetReader for PmcOa {
    fn files(&self) -> Vec<String> {
        self.files.iter().map(|(f, _)| f.clone()).collect()
    }

    fn options(&self) -> Value {
        serde_json::json!({ "variant": self.variant, "image_dir": self.image_dir })
    }

    fn inputs(&self) -> Result<Inputs> {
        let mut parts: Vec<Box<dyn Iterator<Item = Result<Input>> + Send>> = Vec::new();
        for (file, split) in &self.files {
            let lines = Lines::new(self.src.lines(file)?, file);
            let ctx = LineCtx {
                file: file.clone(),
                split,
                image_dir: self.image_dir.clone(),
                subset: (self.variant != "splits").then(|| self.variant.to_string()),
            };
            parts.push(Box::new(lines.filter_map(move |l| match l {
                Ok((_, b)) if b.iter().all(u8::is_ascii_whitespace) => None,
                Ok((n, b)) => Some(Ok(ctx.parse(n, &b))),
                Err(e) => Some(Err(e)),
            })));
        }
        Ok(Box::new(parts.into_iter().flatten()))
    }
}

struct LineCtx {
    file: String,
    split: &'static str,
    image_dir: String,
    subset: Option<String>,
}

/// A JSON scalar as text (numbers and booleans appear where strings are expected).
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl LineCtx {
    fn reject(&self, at: String, id: Option<String>, reason: &str, detail: String) -> Input {
        Input::rejected(at, id, self.split, reason, detail)
    }

    fn parse(&self, line: u64, bytes: &[u8]) -> Input {
        let at = format!("{}:{line}", self.file);
        let obj = match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return self.reject(at, None, "bad-metadata", "not a JSON object".into()),
            Err(e) => return self.reject(at, None, "bad-metadata", format!("invalid JSON: {e}")),
        };
        let Some(image) = obj
            .get("image")
            .and_then(scalar_text)
            .filter(|s| !s.trim().is_empty())
        else {
            return self.reject(at, None, "bad-metadata", "no `image` field".into());
        };
        let image = image.trim().to_string();
        let id = image
            .rsplit_once('.')
            .map_or(image.as_str(), |(stem, _)| stem)
            .to_string();
        let raw = obj.get("caption").and_then(scalar_text).unwrap_or_default();
        let (caption, caption_raw) = clean_text(&raw, "");
        if caption.is_empty() {
            return self.reject(
                at,
                Some(id),
                "no-caption",
                "empty or missing `caption`".into(),
            );
        }
        let image_path = format!("{}{image}", self.image_dir);
        let mut record = blank_record(&id, self.split);
        record.subset = self.subset.clone();
        record.source_path = Some(image_path.clone());
        record.caption = Some(caption);
        record.extra = Some(Value::Object(extra(obj, caption_raw)).to_string());
        Input::Ready(Box::new(Pending::new(record, image_path)))
    }
}

fn extra(mut obj: Map<String, Value>, caption_raw: Option<String>) -> Map<String, Value> {
    obj.remove("image");
    obj.remove("caption");
    if let Some(raw) = caption_raw {
        obj.insert("caption_raw".into(), Value::String(raw));
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(dir: &std::path::Path, variant: Option<&str>) -> Vec<Input> {
        let src = Source::open(dir.to_str().unwrap()).unwrap();
        let r = PmcOa::open(&src, variant).unwrap();
        r.inputs().unwrap().map(|i| i.unwrap()).collect()
    }

    #[test]
    fn release_a_splits_and_quirks() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join(IMAGE_DIRS[0])).unwrap();
        std::fs::write(d.path().join("train.jsonl"), concat!(
            r#"{"image": "PMC1_F1_1.jpg", "caption": "A. first\nB. second ", "pmcid": "PMC1", "url_name": "x.jpg"}"#, "\n",
            "not json\n\n",
            r#"{"caption": "no image"}"#, "\n",
        )).unwrap();
        std::fs::write(
            d.path().join("valid.jsonl"),
            r#"{"image": "PMC2_F2_1.jpg", "caption": 42}"#,
        )
        .unwrap();
        let got = inputs(d.path(), None);
        assert_eq!(got.len(), 4);
        let Input::Ready(a) = &got[0] else { panic!() };
        assert_eq!(a.record.id, "PMC1_F1_1");
        assert_eq!(a.record.caption.as_deref(), Some("A. first\nB. second"));
        assert_eq!(a.image_path, format!("{}/PMC1_F1_1.jpg", IMAGE_DIRS[0]));
        let e: Value = serde_json::from_str(a.record.extra.as_ref().unwrap()).unwrap();
        assert_eq!(e["pmcid"], "PMC1");
        assert_eq!(e["caption_raw"], "A. first\nB. second ");
        assert!(
            matches!(&got[1], Input::Rejected(q) if q.reason == "bad-metadata" && q.source == "train.jsonl:2")
        );
        assert!(matches!(&got[2], Input::Rejected(q) if q.source == "train.jsonl:4"));
        let Input::Ready(v) = &got[3] else { panic!() };
        assert_eq!(
            (v.record.split.as_str(), v.record.caption.as_deref()),
            ("validation", Some("42"))
        );
    }

    #[test]
    fn release_b_keeps_alignment_fields_and_subset() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("pmc_oa.jsonl"),
            r#"{"image": "PMC3_F1_2.jpg", "caption": "sub", "alignment_type": "ChatGPT", "alignment_score": 0.9}"#).unwrap();
        let got = inputs(d.path(), None);
        let Input::Ready(a) = &got[0] else { panic!() };
        assert_eq!(a.record.subset.as_deref(), Some("pmc_oa"));
        assert_eq!(a.record.split, "train");
        let e: Value = serde_json::from_str(a.record.extra.as_ref().unwrap()).unwrap();
        assert_eq!(e["alignment_score"], 0.9);
        let src = Source::open(d.path().to_str().unwrap()).unwrap();
        assert!(PmcOa::open(&src, Some("pmc_oa_beta")).is_err());
        assert!(PmcOa::open(&src, Some("bogus")).is_err());
    }
}
