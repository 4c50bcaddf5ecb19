//! MIMIC-CXR-JPG v2.0.0 / v2.1.0 (specs/datasets.md Part 2 §3): the four gzip CSVs and
//! `files/pNN/pNNNNNNNN/sNNNNNNNN/<dicom_id>.jpg`; with `mimic-cxr-reports/files/...` (one
//! `.txt` per study) present, FINDINGS and IMPRESSION become the caption.
//!
//! Labels (CheXpert labeller, `-chexpert.csv.gz`, alphabetical columns) are per study and are
//! joined to every image of the study; images of studies without a label row keep null labels
//! (MGCA's inner join would drop them; a split recipe can). NegBio labels go to `extra`.
//! `validate` is stored as `validation`.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::mimic_report::sections;
use super::table::{Row, Table, label_value};
use crate::datasets::DatasetReader;
use crate::input::{Input, Inputs, Pending, blank_record};
use crate::source::Source;
use crate::{Error, Result};

/// Label names and the labels of each study.
type StudyLabels = (Vec<String>, HashMap<String, Vec<f32>>);

const PREFIX: &str = "mimic-cxr-2.0.0-";
const REPORT_DIRS: [&str; 1] = ["mimic-cxr-reports/"];

pub(crate) struct Mimic {
    src: Source,
    /// `metadata`, `chexpert`, `negbio`, `split` → the file found for each.
    files: HashMap<&'static str, String>,
}

fn find(src: &Source, kind: &str) -> Option<String> {
    [".csv.gz", ".csv"]
        .iter()
        .map(|ext| format!("{PREFIX}{kind}{ext}"))
        .find(|f| src.is_file(f))
}

impl Mimic {
    pub(crate) fn open(src: &Source) -> Result<Mimic> {
        let mut files = HashMap::new();
        for kind in ["metadata", "chexpert", "negbio", "split"] {
            if let Some(f) = find(src, kind) {
                files.insert(kind, f);
            }
        }
        for kind in ["metadata", "split"] {
            if !files.contains_key(kind) {
                return Err(Error::Layout {
                    dataset: "mimic-cxr",
                    src: src.describe(),
                    reason: format!("no {PREFIX}{kind}.csv.gz"),
                });
            }
        }
        Ok(Mimic {
            src: src.clone(),
            files,
        })
    }

    fn study_labels(&self, kind: &str) -> Result<StudyLabels> {
        let Some(file) = self.files.get(kind) else {
            return Ok((Vec::new(), HashMap::new()));
        };
        let t = Table::open(&self.src, file)?;
        let study = t.require("mimic-cxr", &self.src, &["study_id"])?;
        let subject = t.col(&["subject_id"]);
        let cols: Vec<usize> = (0..t.headers.len())
            .filter(|i| *i != study && Some(*i) != subject)
            .collect();
        let names = cols.iter().map(|i| t.headers[*i].clone()).collect();
        let mut out = HashMap::new();
        for row in t {
            let row = row?;
            let labels = cols
                .iter()
                .map(|i| label_value(row.get(*i)).unwrap_or(f32::NAN))
                .collect();
            out.insert(row.get(study).to_string(), labels);
        }
        Ok((names, out))
    }

    fn splits(&self) -> Result<HashMap<String, String>> {
        let t = Table::open(&self.src, &self.files["split"])?;
        let dicom = t.require("mimic-cxr", &self.src, &["dicom_id"])?;
        let split = t.require("mimic-cxr", &self.src, &["split"])?;
        let mut out = HashMap::new();
        for row in t {
            let row = row?;
            let s = match row.get(split) {
                "validate" => "validation",
                other => other,
            };
            out.insert(row.get(dicom).to_string(), s.to_string());
        }
        Ok(out)
    }

    fn report_dir(&self) -> Option<&'static str> {
        REPORT_DIRS
            .into_iter()
            .find(|d| self.src.is_dir(&format!("{d}files")))
    }
}

impl DatasetReader for Mimic {
    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = self.files.values().cloned().collect();
        v.sort();
        v
    }

    fn label_names(&self) -> Vec<String> {
        self.study_labels("chexpert")
            .map(|(n, _)| n)
            .unwrap_or_default()
    }

    fn options(&self) -> Value {
        json!({ "reports": self.report_dir().is_some() })
    }

    fn inputs(&self) -> Result<Inputs> {
        let (_, chexpert) = self.study_labels("chexpert")?;
        let (negbio_names, negbio) = self.study_labels("negbio")?;
        let ctx = Ctx {
            src: self.src.clone(),
            chexpert,
            negbio,
            negbio_names,
            splits: self.splits()?,
            reports: self.report_dir(),
            file: self.files["metadata"].clone(),
        };
        let t = Table::open(&self.src, &self.files["metadata"])?;
        let cols = [
            t.require("mimic-cxr", &self.src, &["dicom_id"])?,
            t.require("mimic-cxr", &self.src, &["subject_id"])?,
            t.require("mimic-cxr", &self.src, &["study_id"])?,
            t.require("mimic-cxr", &self.src, &["ViewPosition"])?,
        ];
        let headers = t.headers.clone();
        Ok(Box::new(
            t.map(move |row| Ok(ctx.parse(&cols, &headers, &row?))),
        ))
    }
}

struct Ctx {
    src: Source,
    chexpert: HashMap<String, Vec<f32>>,
    negbio: HashMap<String, Vec<f32>>,
    negbio_names: Vec<String>,
    splits: HashMap<String, String>,
    reports: Option<&'static str>,
    file: String,
}

/// `files/p10/p10000032/s50414267/<dicom>.jpg` from the ids.
pub fn image_path(subject: &str, study: &str, dicom: &str) -> String {
    let group = subject.get(..2).unwrap_or(subject);
    format!("files/p{group}/p{subject}/s{study}/{dicom}.jpg")
}

impl Ctx {
    fn parse(
        &self,
        [dicom, subject, study, view]: &[usize; 4],
        headers: &[String],
        row: &Row,
    ) -> Input {
        let at = format!("{}:{}", self.file, row.line);
        let (dicom, subject, study) = (row.get(*dicom), row.get(*subject), row.get(*study));
        let split = self.splits.get(dicom).map_or("unlisted", String::as_str);
        if dicom.is_empty() || subject.is_empty() || study.is_empty() {
            return Input::rejected(
                at,
                None,
                split,
                "bad-metadata",
                "empty dicom_id, subject_id or study_id".into(),
            );
        }
        let path = image_path(subject, study, dicom);
        let mut r = blank_record(dicom, split);
        r.source_path = Some(path.clone());
        r.patient_id = Some(subject.to_string());
        r.study_id = Some(study.to_string());
        r.view = Some(row.get(*view).to_string()).filter(|s| !s.is_empty());
        r.labels = self.chexpert.get(study).cloned();
        let mut extra = serde_json::Map::new();
        for (i, h) in headers.iter().enumerate() {
            if !matches!(
                h.as_str(),
                "dicom_id" | "subject_id" | "study_id" | "ViewPosition"
            ) && !h.is_empty()
            {
                extra.insert(h.clone(), json!(row.get(i)));
            }
        }
        if let Some(nb) = self.negbio.get(study) {
            let m: serde_json::Map<String, Value> = self
                .negbio_names
                .iter()
                .cloned()
                .zip(nb.iter().map(|v| json!(v)))
                .collect();
            extra.insert("negbio".into(), Value::Object(m));
        }
        if let Some(dir) = self.reports {
            self.add_report(dir, subject, study, &mut r, &mut extra);
        }
        r.extra = Some(Value::Object(extra).to_string());
        Input::Ready(Box::new(Pending::new(r, path)))
    }

    fn add_report(
        &self,
        dir: &str,
        subject: &str,
        study: &str,
        r: &mut unimlip_shards::Record,
        extra: &mut serde_json::Map<String, Value>,
    ) {
        let group = subject.get(..2).unwrap_or(subject);
        let rel = format!("{dir}files/p{group}/p{subject}/s{study}.txt");
        let crate::source::Fetch::Bytes(bytes) = self.src.fetch(&rel) else {
            extra.insert("report".into(), json!(null));
            return;
        };
        let text = String::from_utf8_lossy(crate::source::strip_bom(&bytes));
        let s = sections(&text);
        r.caption = s.caption();
        extra.insert("report".into(), json!({"path": rel, "findings": s.findings, "impression": s.impression, "last_paragraph": s.last_paragraph}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::write_fixture as write;

    #[test]
    fn plain_csvs_validate_split_study_labels_and_reports() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "mimic-cxr-2.0.0-metadata.csv",
            "dicom_id,subject_id,study_id,ViewPosition,StudyTime\naa-1,10000032,50414267,PA,213014.531\nbb-2,10000032,50414267,,1.0\ncc-3,11000001,53000000,AP,2.0\n",
        );
        write(
            d.path(),
            "mimic-cxr-2.0.0-split.csv",
            "dicom_id,study_id,subject_id,split\naa-1,50414267,10000032,validate\nbb-2,50414267,10000032,validate\ncc-3,53000000,11000001,test\n",
        );
        write(
            d.path(),
            "mimic-cxr-2.0.0-chexpert.csv",
            "subject_id,study_id,Atelectasis,Edema\n10000032,50414267,1.0,-1.0\n",
        );
        write(
            d.path(),
            "mimic-cxr-reports/files/p10/p10000032/s50414267.txt",
            " FINAL REPORT\n FINDINGS: Lungs clear.\n \n IMPRESSION: Normal.\n",
        );
        let src = Source::open(d.path().to_str().unwrap()).unwrap();
        let m = Mimic::open(&src).unwrap();
        assert_eq!(m.label_names(), ["Atelectasis", "Edema"]);
        let rows: Vec<Input> = m.inputs().unwrap().map(|i| i.unwrap()).collect();
        let ready: Vec<_> = rows
            .iter()
            .map(|i| match i {
                Input::Ready(p) => p,
                _ => panic!(),
            })
            .collect();
        assert_eq!(ready[0].record.split, "validation");
        assert_eq!(
            ready[0].image_path,
            "files/p10/p10000032/s50414267/aa-1.jpg"
        );
        assert_eq!(
            ready[0].record.labels, ready[1].record.labels,
            "study labels on every image"
        );
        assert_eq!(ready[0].record.labels.as_deref(), Some(&[1.0, -1.0][..]));
        assert_eq!(
            ready[0].record.caption.as_deref(),
            Some("Lungs clear.\nNormal.")
        );
        assert_eq!(ready[1].record.view, None);
        assert!(
            ready[0]
                .record
                .extra
                .as_deref()
                .unwrap()
                .contains("213014.531"),
            "StudyTime kept as written"
        );
        assert_eq!(
            (
                ready[2].record.split.as_str(),
                ready[2].record.labels.as_ref()
            ),
            ("test", None)
        );
    }
}
