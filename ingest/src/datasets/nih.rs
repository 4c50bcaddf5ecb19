//! NIH ChestX-ray14 (specs/datasets.md Part 2 §1): `Data_Entry_2017_v2020.csv` or the older
//! `Data_Entry_2017.csv`, optional `BBox_List_2017.csv`, optional official
//! `train_val_list.txt` / `test_list.txt`, and the PNGs wherever they are (`images/`,
//! `images_0NN/images/`): a recursive scan builds the name → path index.
//!
//! Quirks handled: the bracket-split column names and trailing header commas (columns after
//! `View Position` are read by position); `Patient Gender` or `Patient Sex`; ages as `58` or
//! `058Y`; `No Finding` is all-zero, never a 15th class; labels split on `|` in any order; the
//! BBox file's `Infiltrate` spelling; v2020's unsorted rows and renumbered follow-ups (kept as
//! read). Labels are stored in CheXNet order. Without the official lists every row goes to the
//! split `all`; with them, rows in neither list go to `unlisted`.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::table::{Row, Table, parse_age};
use crate::datasets::DatasetReader;
use crate::input::{Input, Inputs, Lines, Pending, blank_record};
use crate::source::Source;
use crate::{Error, Result};

/// The 14 labels in CheXNet order (what Huang et al., MRM and REFERS use).
pub const LABELS: [&str; 14] = [
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
];
const ENTRY_FILES: [&str; 2] = ["Data_Entry_2017_v2020.csv", "Data_Entry_2017.csv"];
const BBOX: &str = "BBox_List_2017.csv";
const LISTS: [(&str, &str); 2] = [("train_val_list.txt", "train"), ("test_list.txt", "test")];

pub(crate) struct Nih {
    src: Source,
    entry: &'static str,
}

impl Nih {
    pub(crate) fn open(src: &Source) -> Result<Nih> {
        let entry = ENTRY_FILES
            .into_iter()
            .find(|f| src.is_file(f))
            .ok_or_else(|| Error::Layout {
                dataset: "nih-cxr14",
                src: src.describe(),
                reason: "no Data_Entry_2017_v2020.csv or Data_Entry_2017.csv".into(),
            })?;
        Ok(Nih {
            src: src.clone(),
            entry,
        })
    }

    fn split_lists(&self) -> Result<Option<HashMap<String, &'static str>>> {
        if !LISTS.iter().any(|(f, _)| self.src.is_file(f)) {
            return Ok(None);
        }
        let mut out = HashMap::new();
        for (file, split) in LISTS {
            if !self.src.is_file(file) {
                continue;
            }
            for line in Lines::new(self.src.lines(file)?, file) {
                let (_, bytes) = line?;
                let name = String::from_utf8_lossy(&bytes).trim().to_string();
                if let Some(base) = name.rsplit('/').next().filter(|b| !b.is_empty()) {
                    out.insert(base.to_string(), split);
                }
            }
        }
        Ok(Some(out))
    }

    fn boxes(&self) -> Result<HashMap<String, Vec<Value>>> {
        let mut out: HashMap<String, Vec<Value>> = HashMap::new();
        if !self.src.is_file(BBOX) {
            return Ok(out);
        }
        for row in Table::open(&self.src, BBOX)? {
            let row = row?;
            let num = |i: usize| row.get(i).parse::<f64>().ok();
            let b =
                json!({"label": row.get(1), "x": num(2), "y": num(3), "w": num(4), "h": num(5)});
            out.entry(row.get(0).to_string()).or_default().push(b);
        }
        Ok(out)
    }
}

impl DatasetReader for Nih {
    fn files(&self) -> Vec<String> {
        let mut v = vec![self.entry.to_string()];
        v.extend(
            [BBOX, LISTS[0].0, LISTS[1].0]
                .iter()
                .filter(|f| self.src.is_file(f))
                .map(|f| f.to_string()),
        );
        v
    }

    fn label_names(&self) -> Vec<String> {
        LABELS.iter().map(|s| s.to_string()).collect()
    }

    fn options(&self) -> Value {
        json!({ "entry_file": self.entry })
    }

    fn inputs(&self) -> Result<Inputs> {
        let images: HashMap<String, String> = self
            .src
            .find_files(".png")?
            .into_iter()
            .rev()
            .map(|p| (p.rsplit('/').next().unwrap_or(&p).to_string(), p))
            .collect();
        let ctx = Ctx {
            lists: self.split_lists()?,
            boxes: self.boxes()?,
            images,
            file: self.entry,
        };
        let table = Table::open(&self.src, self.entry)?;
        let cols = Columns::find(&table, &self.src)?;
        Ok(Box::new(table.map(move |row| Ok(ctx.parse(&cols, &row?)))))
    }
}

struct Columns {
    image: usize,
    findings: usize,
    follow_up: Option<usize>,
    patient: usize,
    age: Option<usize>,
    sex: Option<usize>,
    view: usize,
}

impl Columns {
    fn find(t: &Table, src: &Source) -> Result<Columns> {
        Ok(Columns {
            image: t.require("nih-cxr14", src, &["Image Index"])?,
            findings: t.require("nih-cxr14", src, &["Finding Labels"])?,
            follow_up: t.col(&["Follow-up #"]),
            patient: t.require("nih-cxr14", src, &["Patient ID"])?,
            age: t.col(&["Patient Age"]),
            sex: t.col(&["Patient Gender", "Patient Sex"]),
            view: t.require("nih-cxr14", src, &["View Position"])?,
        })
    }
}

struct Ctx {
    lists: Option<HashMap<String, &'static str>>,
    boxes: HashMap<String, Vec<Value>>,
    images: HashMap<String, String>,
    file: &'static str,
}

/// `Cardiomegaly|Emphysema` → the 14-vector; `No Finding` → all zero. Unknown names are errors.
pub fn nih_labels(findings: &str) -> std::result::Result<Vec<f32>, String> {
    let mut v = vec![0.0; LABELS.len()];
    for name in findings
        .split('|')
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "No Finding")
    {
        let i = LABELS
            .iter()
            .position(|l| *l == name)
            .ok_or_else(|| format!("unknown finding `{name}`"))?;
        v[i] = 1.0;
    }
    Ok(v)
}

impl Ctx {
    fn split(&self, name: &str) -> &'static str {
        match &self.lists {
            None => "all",
            Some(m) => m.get(name).copied().unwrap_or("unlisted"),
        }
    }

    fn parse(&self, c: &Columns, row: &Row) -> Input {
        let at = format!("{}:{}", self.file, row.line);
        let name = row.get(c.image).to_string();
        let split = self.split(&name);
        let id = name.strip_suffix(".png").unwrap_or(&name).to_string();
        let labels = match nih_labels(row.get(c.findings)) {
            Ok(l) => l,
            Err(e) => return Input::rejected(at, Some(id), split, "bad-metadata", e),
        };
        let Some(image_path) = self.images.get(&name).cloned() else {
            let detail = format!("{name} not found under the dataset root");
            return Input::rejected(at, Some(id), split, "missing-image", detail);
        };
        let num = |i: usize| row.get(i).parse::<f64>().ok();
        let get = |col: Option<usize>| col.map(|i| row.get(i)).filter(|s| !s.is_empty());
        let mut r = blank_record(&id, split);
        r.source_path = Some(image_path.clone());
        r.labels = Some(labels);
        r.patient_id = row
            .get(c.patient)
            .parse::<u64>()
            .ok()
            .map(|p| p.to_string());
        r.view = Some(row.get(c.view).to_string()).filter(|s| !s.is_empty());
        let v = c.view;
        let extra = json!({
            "finding_labels": row.get(c.findings),
            "follow_up": get(c.follow_up).and_then(|s| s.parse::<u32>().ok()),
            "age": get(c.age).and_then(parse_age),
            "sex": get(c.sex),
            "original_width": num(v + 1),
            "original_height": num(v + 2),
            "pixel_spacing": [num(v + 3), num(v + 4)],
            "bboxes": self.boxes.get(&name),
        });
        r.extra = Some(extra.to_string());
        Input::Ready(Box::new(Pending::new(r, image_path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::write_fixture as write;

    #[test]
    fn no_finding_is_all_zero_and_order_does_not_matter() {
        assert_eq!(nih_labels("No Finding").unwrap(), vec![0.0; 14]);
        let a = nih_labels("Nodule|Atelectasis").unwrap();
        assert_eq!(a, nih_labels("Atelectasis|Nodule").unwrap());
        assert_eq!((a[0], a[5], a.iter().sum::<f32>()), (1.0, 1.0, 2.0));
        assert!(nih_labels("Infiltrate").is_err());
    }

    #[test]
    fn old_header_nested_folders_lists_and_boxes() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "Data_Entry_2017.csv", b"Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Sex,View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\r\n\
            00000001_000.png,Cardiomegaly,0,00000001,058Y,M,PA,2682,2749,0.143,0.143,\r\n\
            00000002_000.png,No Finding,0,2,81,M,AP,2500,2048,0.171,0.171,\r\n\
            00000003_000.png,Hernia,0,3,81,F,PA,2582,2991,0.143,0.143,\r\n");
        write(
            d.path(),
            "BBox_List_2017.csv",
            b"Image Index,Finding Label,Bbox [x,y,w,h],,,\n00000001_000.png,Infiltrate,1.5,2,3,4\n",
        );
        write(d.path(), "train_val_list.txt", b"00000001_000.png\n");
        write(d.path(), "test_list.txt", b"images_001/00000002_000.png");
        write(d.path(), "images_001/images/00000001_000.png", b"x");
        write(d.path(), "images_001/images/00000002_000.png", b"x");
        let src = Source::open(d.path().to_str().unwrap()).unwrap();
        let got: Vec<Input> = crate::datasets::all_inputs(&Nih::open(&src).unwrap());
        let Input::Ready(a) = &got[0] else { panic!() };
        assert_eq!(
            (a.record.split.as_str(), a.record.patient_id.as_deref()),
            ("train", Some("1"))
        );
        assert_eq!(a.image_path, "images_001/images/00000001_000.png");
        let e: Value = serde_json::from_str(a.record.extra.as_ref().unwrap()).unwrap();
        assert_eq!(
            (e["age"].as_u64(), e["sex"].as_str()),
            (Some(58), Some("M"))
        );
        assert_eq!(e["bboxes"][0]["label"], "Infiltrate");
        assert_eq!(e["pixel_spacing"][0], 0.143);
        let Input::Ready(b) = &got[1] else { panic!() };
        assert_eq!(
            (b.record.split.as_str(), b.record.view.as_deref()),
            ("test", Some("AP"))
        );
        assert!(
            matches!(&got[2], Input::Rejected(q) if q.reason == "missing-image" && q.split.as_deref() == Some("unlisted"))
        );
    }

    #[test]
    fn real_metadata_parses_when_present() {
        let Some((_, src)) = crate::datasets::real_metadata("nih") else {
            return;
        };
        let got: Vec<Input> = crate::datasets::all_inputs(&Nih::open(&src).unwrap());
        assert!(got.len() > 100);
        // No images here: every row is a missing image, none a metadata error.
        assert!(
            got.iter()
                .all(|i| matches!(i, Input::Rejected(q) if q.reason == "missing-image"))
        );
    }
}
