//! VQA-RAD (specs/datasets.md Part 1 §3): the OSF `VQA_RAD Dataset Public.json` with
//! `VQA_RAD Image Folder/` (or `images/`), and MEVF's `data_RAD/{trainset,testset}.json` split
//! when present. One row per (split, image) with all its questions in `qa`.
//!
//! Without `data_RAD/`, the OSF `phrase_type` decides: `test_freeform` / `test_para` → test,
//! the rest → train. Quirks handled: `qid` and `answer` of mixed JSON types (coerced to text),
//! `"CLOSED "` and other stray whitespace, the U+FFFD question, missing keys; each repair is
//! logged in `extra.qa_fixes`.

use serde_json::{Map, Value, json};

use crate::datasets::DatasetReader;
use crate::datasets::qa::{Grouper, qa_item};
use crate::input::{Input, Inputs, Pending, blank_record};
use crate::source::Source;
use crate::{Error, Result};

const OSF: &str = "VQA_RAD Dataset Public.json";
const MEVF: [(&str, &str); 2] = [
    ("data_RAD/trainset.json", "train"),
    ("data_RAD/testset.json", "test"),
];
const IMAGE_DIRS: [&str; 3] = ["VQA_RAD Image Folder", "VQA_RAD Image folder", "images"];

pub(crate) struct VqaRad {
    src: Source,
    files: Vec<(String, Option<&'static str>)>,
    image_dir: String,
}

impl VqaRad {
    pub(crate) fn open(src: &Source) -> Result<VqaRad> {
        let mevf: Vec<_> = MEVF
            .iter()
            .filter(|(f, _)| src.is_file(f))
            .map(|(f, s)| (f.to_string(), Some(*s)))
            .collect();
        let files = if mevf.is_empty() {
            if !src.is_file(OSF) {
                return Err(Error::Layout {
                    dataset: "vqa-rad",
                    src: src.describe(),
                    reason: format!("no `{OSF}` and no data_RAD/trainset.json"),
                });
            }
            vec![(OSF.to_string(), None)]
        } else {
            mevf
        };
        let image_dir = IMAGE_DIRS
            .iter()
            .find(|d| src.is_dir(d))
            .map_or(String::new(), |d| format!("{d}/"));
        Ok(VqaRad {
            src: src.clone(),
            files,
            image_dir,
        })
    }
}

fn read_array(src: &Source, file: &str) -> Result<Vec<Value>> {
    serde_json::from_reader(src.lines(file)?).map_err(|e| {
        Error::read(
            file,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        )
    })
}

fn osf_split(obj: &Map<String, Value>) -> &'static str {
    match obj
        .get("phrase_type")
        .and_then(Value::as_str)
        .map(str::trim)
    {
        Some(p) if p.starts_with("test") => "test",
        _ => "train",
    }
}

impl DatasetReader for VqaRad {
    fn files(&self) -> Vec<String> {
        self.files.iter().map(|(f, _)| f.clone()).collect()
    }

    fn options(&self) -> Value {
        json!({ "split_source": if self.files[0].1.is_some() { "data_RAD" } else { "osf-phrase-type" } })
    }

    fn inputs(&self) -> Result<Inputs> {
        let mut g = Grouper::default();
        let mut bad = Vec::new();
        for (file, split) in &self.files {
            for (i, v) in read_array(&self.src, file)?.into_iter().enumerate() {
                let at = format!("{file}[{i}]");
                let Value::Object(obj) = v else {
                    bad.push(Input::rejected(
                        at,
                        None,
                        split.unwrap_or("train"),
                        "bad-metadata",
                        "not a JSON object".into(),
                    ));
                    continue;
                };
                let split = split.unwrap_or_else(|| osf_split(&obj));
                let Some(image) = obj
                    .get("image_name")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                else {
                    bad.push(Input::rejected(
                        at,
                        None,
                        split,
                        "bad-metadata",
                        "no image_name".into(),
                    ));
                    continue;
                };
                let group = g.group(split, image);
                let item = qa_item(&obj, Some("en"), "question_type", &mut group.fixes);
                group.qa.push(item);
                for key in ["image_organ", "image_case_url"] {
                    if let Some(v) = obj.get(key) {
                        group.meta.entry(key.to_string()).or_insert(v.clone());
                    }
                }
                if !group.sources.contains(file) {
                    group.sources.push(file.clone());
                }
            }
        }
        let dir = self.image_dir.clone();
        let rows = g.into_groups().into_iter().map(move |gr| {
            let stem = gr
                .image
                .rsplit_once('.')
                .map_or(gr.image.as_str(), |(s, _)| s);
            let mut r = blank_record(&format!("{}/{stem}", gr.split), gr.split);
            let path = format!("{dir}{}", gr.image);
            r.source_path = Some(path.clone());
            r.qa = Some(gr.qa);
            let mut extra = gr.meta;
            extra.insert("sources".into(), json!(gr.sources));
            if !gr.fixes.is_empty() {
                extra.insert("qa_fixes".into(), Value::Array(gr.fixes));
            }
            r.extra = Some(Value::Object(extra).to_string());
            Ok(Input::Ready(Box::new(Pending::new(r, path))))
        });
        Ok(Box::new(bad.into_iter().map(Ok).chain(rows)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_osf_and_mevf_files_group_by_image() {
        let Some((_, src)) = crate::datasets::real_metadata("vqa_rad") else {
            return;
        };
        let rows = crate::datasets::all_inputs(&VqaRad::open(&src).unwrap());
        let ready = crate::datasets::ready(&rows);
        let per_split = |s: &str| {
            ready
                .iter()
                .filter(|p| p.record.split == s)
                .map(|p| p.record.qa.as_ref().unwrap().len())
                .sum::<usize>()
        };
        assert_eq!((per_split("train"), per_split("test")), (3064, 451));
        assert_eq!(
            ready.iter().filter(|p| p.record.split == "train").count(),
            314
        );
        assert_eq!(
            ready.iter().filter(|p| p.record.split == "test").count(),
            203
        );
        let types: std::collections::BTreeSet<_> = ready
            .iter()
            .flat_map(|p| p.record.qa.as_ref().unwrap())
            .filter_map(|q| q.answer_type.clone())
            .collect();
        assert_eq!(types.into_iter().collect::<Vec<_>>(), ["CLOSED", "OPEN"]);
    }
}
