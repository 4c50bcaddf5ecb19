//! CheXpert v1.0 and CheXpert-v1.0-small (specs/datasets.md Part 2 §2): `train.csv` and
//! `valid.csv` beside `train/` and `valid/`, each `Path` prefixed with the top folder
//! (`CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg`).
//!
//! The prefix is stripped (kept in `extra.path_prefix` as provenance) so the stored path is
//! relative to the dataset root whichever release it is. The 14 labels are kept raw in file
//! order: 1, 0, -1 (uncertain), NaN (blank). `view` is `Frontal`/`Lateral`; `AP/PA` (including
//! the rare LL/RL on frontal rows), sex and age go to `extra`.

use serde_json::json;

use super::table::{Row, Table, label_value, parse_age};
use crate::datasets::DatasetReader;
use crate::input::{Input, Inputs, Pending, blank_record};
use crate::source::Source;
use crate::{Error, Result};

/// The 14 label columns, in file order.
pub const LABELS: [&str; 14] = [
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
];
const ROOTS: [&str; 3] = ["", "CheXpert-v1.0-small/", "CheXpert-v1.0/"];
const FILES: [(&str, &str); 2] = [("train.csv", "train"), ("valid.csv", "validation")];

pub(crate) struct Chexpert {
    src: Source,
    root: &'static str,
}

impl Chexpert {
    pub(crate) fn open(src: &Source) -> Result<Chexpert> {
        let root = ROOTS
            .into_iter()
            .find(|r| FILES.iter().any(|(f, _)| src.is_file(&format!("{r}{f}"))))
            .ok_or_else(|| Error::Layout {
                dataset: "chexpert",
                src: src.describe(),
                reason:
                    "no train.csv or valid.csv (nor under CheXpert-v1.0-small/ or CheXpert-v1.0/)"
                        .into(),
            })?;
        Ok(Chexpert {
            src: src.clone(),
            root,
        })
    }
}

impl DatasetReader for Chexpert {
    fn files(&self) -> Vec<String> {
        FILES
            .iter()
            .map(|(f, _)| format!("{}{f}", self.root))
            .filter(|p| self.src.is_file(p))
            .collect()
    }

    fn label_names(&self) -> Vec<String> {
        LABELS.iter().map(|s| s.to_string()).collect()
    }

    fn inputs(&self) -> Result<Inputs> {
        let mut parts: Vec<Inputs> = Vec::new();
        for (file, split) in FILES {
            let path = format!("{}{file}", self.root);
            if !self.src.is_file(&path) {
                continue;
            }
            let table = Table::open(&self.src, &path)?;
            let cols = Columns::find(&table, &self.src)?;
            let root = self.root.to_string();
            parts.push(Box::new(
                table.map(move |row| Ok(cols.parse(&row?, &path, &root, split))),
            ));
        }
        Ok(Box::new(parts.into_iter().flatten()))
    }
}

struct Columns {
    path: usize,
    sex: Option<usize>,
    age: Option<usize>,
    frontal: Option<usize>,
    ap_pa: Option<usize>,
    labels: Vec<usize>,
}

impl Columns {
    fn find(t: &Table, src: &Source) -> Result<Columns> {
        let labels = LABELS
            .iter()
            .map(|l| t.require("chexpert", src, &[l, &l.replace(' ', "_")]))
            .collect::<Result<_>>()?;
        Ok(Columns {
            path: t.require("chexpert", src, &["Path"])?,
            sex: t.col(&["Sex"]),
            age: t.col(&["Age"]),
            frontal: t.col(&["Frontal/Lateral"]),
            ap_pa: t.col(&["AP/PA"]),
            labels,
        })
    }

    fn parse(&self, row: &Row, file: &str, root: &str, split: &str) -> Input {
        let at = format!("{file}:{}", row.line);
        let raw_path = row.get(self.path);
        let (prefix, rel) = strip_prefix(raw_path);
        let id = rel
            .rsplit_once('.')
            .map_or(rel, |(stem, _)| stem)
            .to_string();
        let mut labels = Vec::with_capacity(LABELS.len());
        for (name, &i) in LABELS.iter().zip(&self.labels) {
            match label_value(row.get(i)) {
                Some(v) => labels.push(v),
                None => {
                    let detail = format!("label `{name}` has value `{}`", row.get(i));
                    return Input::rejected(at, Some(id), split, "bad-metadata", detail);
                }
            }
        }
        let parts: Vec<&str> = rel.split('/').collect();
        let get = |c: Option<usize>| c.map(|i| row.get(i)).filter(|s| !s.is_empty());
        let image_path = format!("{root}{rel}");
        let mut r = blank_record(&id, split);
        r.source_path = Some(image_path.clone());
        r.labels = Some(labels);
        r.patient_id = parts.get(1).map(|s| s.to_string());
        r.study_id = (parts.len() > 2).then(|| format!("{}/{}", parts[1], parts[2]));
        r.view = get(self.frontal).map(str::to_string);
        let extra = json!({
            "sex": get(self.sex),
            "age": get(self.age).and_then(parse_age),
            "ap_pa": get(self.ap_pa),
            "path_prefix": prefix,
        });
        r.extra = Some(extra.to_string());
        Input::Ready(Box::new(Pending::new(r, image_path)))
    }
}

/// `CheXpert-v1.0-small/train/p/s/v.jpg` → (`CheXpert-v1.0-small`, `train/p/s/v.jpg`); a path
/// already starting at `train/` or `valid/` is kept.
fn strip_prefix(path: &str) -> (Option<&str>, &str) {
    match path.split_once('/') {
        Some((first, rest)) if !matches!(first, "train" | "valid" | "test") => (Some(first), rest),
        _ => (None, path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_stripped_and_labels_kept_raw() {
        let d = tempfile::tempdir().unwrap();
        let header = format!("Path,Sex,Age,Frontal/Lateral,AP/PA,{}\n", LABELS.join(","));
        let text = format!(
            "{header}CheXpert-v1.0-small/train/patient00002/study2/view1_frontal.jpg,Female,87,Frontal,AP,,,-1.0,1.0,,-1.0,-1.0,,-1.0,,-1.0,,1.0,\n\
             CheXpert-v1.0-small/train/patient07958/study5/view2_frontal.jpg,Female,64,Frontal,LL,,,,,,,,,,,1.0,,,\n\
             CheXpert-v1.0-small/train/patient1/study1/view1_frontal.jpg,Male,1,Frontal,AP,2.0,,,,,,,,,,,,,\n"
        );
        std::fs::create_dir(d.path().join("CheXpert-v1.0-small")).unwrap();
        std::fs::write(d.path().join("CheXpert-v1.0-small/train.csv"), text).unwrap();
        let src = Source::open(d.path().to_str().unwrap()).unwrap();
        let r = Chexpert::open(&src).unwrap();
        let got: Vec<Input> = r.inputs().unwrap().map(|i| i.unwrap()).collect();
        let Input::Ready(a) = &got[0] else { panic!() };
        assert_eq!(a.record.id, "train/patient00002/study2/view1_frontal");
        assert_eq!(
            a.image_path,
            "CheXpert-v1.0-small/train/patient00002/study2/view1_frontal.jpg"
        );
        assert_eq!(a.record.patient_id.as_deref(), Some("patient00002"));
        assert_eq!(a.record.study_id.as_deref(), Some("patient00002/study2"));
        let l = a.record.labels.as_ref().unwrap();
        assert!(l[0].is_nan() && l[1].is_nan());
        assert_eq!((l[2], l[3], l[5], l[12]), (-1.0, 1.0, -1.0, 1.0));
        assert!(l[13].is_nan());
        let Input::Ready(b) = &got[1] else { panic!() };
        assert!(
            b.record
                .extra
                .as_ref()
                .unwrap()
                .contains("\"ap_pa\":\"LL\"")
        );
        assert!(
            matches!(&got[2], Input::Rejected(q) if q.reason == "bad-metadata" && q.source.ends_with(":4"))
        );
    }

    /// The real published train.csv slice and the reconstructed valid.csv parse completely.
    #[test]
    fn real_metadata_parses_when_present() {
        let Some((_, src)) = crate::datasets::real_metadata("chexpert") else {
            return;
        };
        let r = Chexpert::open(&src).unwrap();
        let got: Vec<Input> = r.inputs().unwrap().map(|i| i.unwrap()).collect();
        assert!(got.len() > 100);
        assert!(
            got.iter().all(|i| matches!(i, Input::Ready(_))),
            "every real row parses"
        );
    }
}
