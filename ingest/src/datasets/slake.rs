//! SLAKE 1.0 (specs/datasets.md Part 1 §4): `Slake1.0/{train,validate,test}.json` (or HF's
//! `validation.json`) and `imgs/xmlab<N>/{source.jpg,mask.png,detection.json}`. One row per
//! (split, image) holding the English and Chinese questions of that split, each with its `lang`;
//! the mask is stored in the `mask` column and the detections in `extra.detection`.
//!
//! Quirks handled: key order varies (parsed by name); the empty English answer of qid 1622
//! (kept as null and logged in `extra.qa_fixes`); one big single-line JSON per file.

use serde_json::{Value, json};

use crate::datasets::DatasetReader;
use crate::datasets::qa::{Grouper, qa_item};
use crate::input::{Input, Inputs, Pending, blank_record};
use crate::source::{Fetch, Source};
use crate::{Error, Result};

const ROOTS: [&str; 2] = ["Slake1.0/", ""];
const FILES: [(&str, &str); 4] = [
    ("train.json", "train"),
    ("validate.json", "validation"),
    ("validation.json", "validation"),
    ("test.json", "test"),
];

pub(crate) struct Slake {
    src: Source,
    root: &'static str,
}

impl Slake {
    pub(crate) fn open(src: &Source) -> Result<Slake> {
        let root = ROOTS
            .into_iter()
            .find(|r| FILES.iter().any(|(f, _)| src.is_file(&format!("{r}{f}"))))
            .ok_or_else(|| Error::Layout {
                dataset: "slake",
                src: src.describe(),
                reason: "no Slake1.0/train.json, validate.json or test.json".into(),
            })?;
        Ok(Slake {
            src: src.clone(),
            root,
        })
    }

    fn present(&self) -> Vec<(String, &'static str)> {
        FILES
            .iter()
            .map(|(f, s)| (format!("{}{f}", self.root), *s))
            .filter(|(f, _)| self.src.is_file(f))
            .collect()
    }
}

impl DatasetReader for Slake {
    fn files(&self) -> Vec<String> {
        self.present().into_iter().map(|(f, _)| f).collect()
    }

    fn inputs(&self) -> Result<Inputs> {
        let mut g = Grouper::default();
        let mut bad = Vec::new();
        for (file, split) in self.present() {
            let arr: Vec<Value> = serde_json::from_reader(self.src.lines(&file)?).map_err(|e| {
                Error::read(
                    file.as_str(),
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                )
            })?;
            for (i, v) in arr.into_iter().enumerate() {
                let img = v
                    .get("img_name")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty());
                let (Value::Object(obj), Some(img)) = (&v, img) else {
                    bad.push(Input::rejected(
                        format!("{file}[{i}]"),
                        None,
                        split,
                        "bad-metadata",
                        "no img_name".into(),
                    ));
                    continue;
                };
                let group = g.group(split, img);
                let item = qa_item(obj, None, "content_type", &mut group.fixes);
                group.qa.push(item);
                for key in ["location", "modality"] {
                    if let Some(v) = obj.get(key) {
                        group.meta.entry(key.to_string()).or_insert(v.clone());
                    }
                }
                if obj.get("base_type").and_then(Value::as_str) == Some("kvqa") {
                    let kv = group.meta.entry("kvqa".to_string()).or_insert(json!([]));
                    kv.as_array_mut()
                        .expect("array")
                        .push(json!({"qid": obj.get("qid"), "triple": obj.get("triple")}));
                }
            }
        }
        let (src, root) = (self.src.clone(), self.root);
        let rows = g.into_groups().into_iter().map(move |gr| {
            let folder = gr.image.rsplit_once('/').map_or("", |(d, _)| d).to_string();
            let mut r = blank_record(&format!("{}/{folder}", gr.split), gr.split);
            let path = format!("{root}imgs/{}", gr.image);
            r.source_path = Some(path.clone());
            r.qa = Some(gr.qa);
            let mut extra = gr.meta;
            if let Fetch::Bytes(b) = src.fetch(&format!("{root}imgs/{folder}/detection.json")) {
                extra.insert(
                    "detection".into(),
                    serde_json::from_slice(crate::source::strip_bom(&b)).unwrap_or(Value::Null),
                );
            }
            if !gr.fixes.is_empty() {
                extra.insert("qa_fixes".into(), Value::Array(gr.fixes));
            }
            r.extra = Some(Value::Object(extra).to_string());
            let mask = format!("{root}imgs/{folder}/mask.png");
            let mut p = Pending::new(r, path);
            p.mask_path = Some(mask);
            Ok(Input::Ready(Box::new(p)))
        });
        Ok(Box::new(bad.into_iter().map(Ok).chain(rows)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hugging_face_validation_json_name_is_accepted() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("Slake1.0");
        std::fs::create_dir_all(root.join("imgs/xmlab7")).unwrap();
        std::fs::write(
            root.join("validation.json"),
            r#"[{"qid": 3, "img_name": "xmlab7/source.jpg", "question": "Q?", "answer": "A", "q_lang": "en", "answer_type": "OPEN", "content_type": "Organ"}]"#,
        )
        .unwrap();
        let src = Source::open(d.path().to_str().unwrap()).unwrap();
        let rows: Vec<_> = crate::datasets::all_inputs(&Slake::open(&src).unwrap());
        let Input::Ready(p) = &rows[0] else { panic!() };
        assert_eq!(
            (p.record.id.as_str(), p.record.split.as_str()),
            ("validation/xmlab7", "validation")
        );
        assert_eq!(
            p.mask_path.as_deref(),
            Some("Slake1.0/imgs/xmlab7/mask.png")
        );
        assert_eq!(
            p.record.qa.as_ref().unwrap()[0].question_type.as_deref(),
            Some("Organ")
        );
    }

    #[test]
    fn real_files_keep_both_languages_and_flag_qid_1622() {
        let Some((_, src)) = crate::datasets::real_metadata("slake") else {
            return;
        };
        let rows = crate::datasets::all_inputs(&Slake::open(&src).unwrap());
        let ready = crate::datasets::ready(&rows);
        let count = |split: &str, lang: &str| {
            ready
                .iter()
                .filter(|p| p.record.split == split)
                .flat_map(|p| p.record.qa.as_ref().unwrap())
                .filter(|q| q.lang.as_deref() == Some(lang))
                .count()
        };
        assert_eq!((count("train", "en"), count("train", "zh")), (4919, 4916));
        assert_eq!(count("validation", "en"), 1053);
        let fixed = ready
            .iter()
            .find(|p| p.record.id == "train/xmlab281")
            .unwrap();
        assert!(
            fixed
                .record
                .extra
                .as_ref()
                .unwrap()
                .contains("empty answer")
        );
    }
}
