//! ROCO (Pelka et al. 2018), as cloned from razorx89/roco-dataset after `scripts/fetch.py`:
//! `data/{train,validation,test}/{radiology,non-radiology}/` each with `captions.txt`,
//! `keywords.txt`, `cuis.txt`, `semtypes.txt`, `dlinks.txt`, `licences.txt` and `images/<id>.jpg`.
//!
//! Quirks handled (specs/datasets.md §2.4): the caption's leading space (sometimes two, sometimes
//! trailing ones, kept in `extra.caption_raw` when more than the one format space); the empty
//! second field and variable tail of keywords/cuis/semtypes; id-only lines; `licences.txt` as
//! the only real CSV (with header); ids that are not contiguous; images that fetch.py could not
//! download. The six files are merge-joined on their ascending ids, so a line missing from one
//! file leaves that field empty instead of shifting every later row.

use serde_json::{Map, Value, json};

use crate::datasets::DatasetReader;
use crate::input::{Input, Inputs, Lines, Pending, blank_record, clean_text};
use crate::source::Source;
use crate::{Error, Result};

/// Split folders and the split names stored (M3AE's `val` rename is accepted too).
const SPLITS: [(&str, &str); 4] = [
    ("train", "train"),
    ("validation", "validation"),
    ("val", "validation"),
    ("test", "test"),
];
const SUBSETS: [&str; 2] = ["radiology", "non-radiology"];
const AUX: [&str; 4] = ["keywords.txt", "cuis.txt", "semtypes.txt", "dlinks.txt"];

pub(crate) struct Roco {
    src: Source,
    /// `(folder, split, subset)` of every folder holding a captions.txt.
    folders: Vec<(String, &'static str, &'static str)>,
}

impl Roco {
    pub(crate) fn open(src: &Source) -> Result<Roco> {
        let prefix = if src.is_dir("data") { "data/" } else { "" };
        let mut folders = Vec::new();
        for (dir, split) in SPLITS {
            for subset in SUBSETS {
                let folder = format!("{prefix}{dir}/{subset}");
                if src.is_file(&format!("{folder}/captions.txt")) {
                    folders.push((folder, split, subset));
                }
            }
        }
        if folders.is_empty() {
            return Err(Error::Layout {
                dataset: "roco",
                src: src.describe(),
                reason: "no data/{train,validation,test}/{radiology,non-radiology}/captions.txt"
                    .into(),
            });
        }
        Ok(Roco {
            src: src.clone(),
            folders,
        })
    }
}

impl DatasetReader for Roco {
    fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (folder, _, _) in &self.folders {
            for f in ["captions.txt", "licences.txt"].iter().chain(AUX.iter()) {
                let p = format!("{folder}/{f}");
                if self.src.is_file(&p) {
                    out.push(p);
                }
            }
        }
        out
    }

    fn inputs(&self) -> Result<Inputs> {
        let src = self.src.clone();
        let folders = self.folders.clone();
        let iter = folders
            .into_iter()
            .map(move |(folder, split, subset)| Folder::open(&src, folder, split, subset))
            .flat_map(|f| -> Box<dyn Iterator<Item = Result<Input>> + Send> {
                match f {
                    Ok(f) => Box::new(f),
                    Err(e) => Box::new(std::iter::once(Err(e))),
                }
            });
        Ok(Box::new(iter))
    }
}

/// One side file, merge-joined on ascending ids.
struct Aux {
    lines: Option<Lines>,
    peeked: Option<(String, Vec<String>)>,
    csv: bool,
}

impl Aux {
    fn open(src: &Source, path: &str, csv: bool) -> Result<Aux> {
        let lines = if src.is_file(path) {
            Some(Lines::new(src.lines(path)?, path))
        } else {
            None
        };
        let mut aux = Aux {
            lines,
            peeked: None,
            csv,
        };
        if csv {
            aux.advance()?; // the header line
            aux.peeked = None;
        }
        aux.advance()?;
        Ok(aux)
    }

    fn advance(&mut self) -> Result<()> {
        self.peeked = None;
        let Some(lines) = self.lines.as_mut() else {
            return Ok(());
        };
        for line in lines {
            let (_, bytes) = line?;
            if bytes.is_empty() {
                continue;
            }
            let text = String::from_utf8_lossy(&bytes);
            let mut parts: Vec<String> = if self.csv {
                text.splitn(3, ',').map(str::to_string).collect()
            } else {
                text.split('\t').map(str::to_string).collect()
            };
            let id = parts.remove(0);
            self.peeked = Some((id, parts));
            break;
        }
        Ok(())
    }

    /// The fields of `id`, skipping lines of ids that sort before it.
    fn take(&mut self, id: &str) -> Result<Option<Vec<String>>> {
        while let Some((pid, _)) = &self.peeked {
            match pid.as_str().cmp(id) {
                std::cmp::Ordering::Less => self.advance()?,
                std::cmp::Ordering::Equal => {
                    let fields = self.peeked.take().map(|(_, f)| f);
                    self.advance()?;
                    return Ok(fields);
                }
                std::cmp::Ordering::Greater => return Ok(None),
            }
        }
        Ok(None)
    }
}

struct Folder {
    folder: String,
    split: &'static str,
    subset: &'static str,
    captions: Lines,
    aux: Vec<Aux>,
    licences: Aux,
}

impl Folder {
    fn open(
        src: &Source,
        folder: String,
        split: &'static str,
        subset: &'static str,
    ) -> Result<Folder> {
        let cap = format!("{folder}/captions.txt");
        let aux = AUX
            .iter()
            .map(|f| Aux::open(src, &format!("{folder}/{f}"), false))
            .collect::<Result<_>>()?;
        Ok(Folder {
            captions: Lines::new(src.lines(&cap)?, &cap),
            licences: Aux::open(src, &format!("{folder}/licences.txt"), true)?,
            aux,
            folder,
            split,
            subset,
        })
    }

    fn parse(&mut self, line: u64, bytes: Vec<u8>) -> Result<Input> {
        let at = format!("{}/captions.txt:{line}", self.folder);
        let Ok(text) = String::from_utf8(bytes) else {
            return Ok(Input::rejected(
                at,
                None,
                self.split,
                "invalid-text",
                "not UTF-8".into(),
            ));
        };
        let (id, raw) = match text.split_once('\t') {
            Some((id, raw)) => (id.to_string(), raw),
            None => (text.clone(), ""),
        };
        let side = self.side_fields(&id)?;
        let (caption, caption_raw) = clean_text(raw, " ");
        if caption.is_empty() {
            let detail = "id-only line: no caption".to_string();
            return Ok(Input::rejected(
                at,
                Some(id),
                self.split,
                "no-caption",
                detail,
            ));
        }
        let image_path = format!("{}/images/{id}.jpg", self.folder);
        let mut record = blank_record(&id, self.split);
        record.subset = Some(self.subset.to_string());
        record.source_path = Some(image_path.clone());
        record.caption = Some(caption);
        let (extra, license) = extra(side, caption_raw);
        record.license = license;
        record.extra = Some(Value::Object(extra).to_string());
        Ok(Input::Ready(Box::new(Pending::new(record, image_path))))
    }

    fn side_fields(&mut self, id: &str) -> Result<Side> {
        let mut f = Vec::with_capacity(4);
        for a in &mut self.aux {
            f.push(a.take(id)?);
        }
        let licence = self.licences.take(id)?;
        let mut it = f.into_iter();
        Ok(Side {
            keywords: it.next().flatten(),
            cuis: it.next().flatten(),
            semtypes: it.next().flatten(),
            dlinks: it.next().flatten(),
            licence,
        })
    }
}

struct Side {
    keywords: Option<Vec<String>>,
    cuis: Option<Vec<String>>,
    semtypes: Option<Vec<String>>,
    dlinks: Option<Vec<String>>,
    licence: Option<Vec<String>>,
}

fn non_empty(v: Option<Vec<String>>) -> Vec<String> {
    v.unwrap_or_default()
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn extra(side: Side, caption_raw: Option<String>) -> (Map<String, Value>, Option<String>) {
    let mut m = Map::new();
    let mut license = None;
    if let Some(l) = side.licence {
        m.insert("pmc_image".into(), json!(l.first().map(|s| s.trim())));
        license = l.get(1).map(|s| s.trim().to_string());
    }
    if let Some(d) = side.dlinks {
        let url = d
            .first()
            .and_then(|cmd| cmd.split(' ').nth(2))
            .map(str::to_string);
        let pmc = url.as_deref().and_then(pmc_id_from_url);
        m.insert("archive_url".into(), json!(url));
        m.insert("pmc_id".into(), json!(pmc));
        m.insert("archive_image".into(), json!(d.last().map(|s| s.trim())));
    }
    m.insert("keywords".into(), json!(non_empty(side.keywords)));
    m.insert("cuis".into(), json!(non_empty(side.cuis)));
    let sem = non_empty(side.semtypes);
    let pairs: Vec<Value> = sem
        .chunks(2)
        .map(|p| json!({"tui": p[0], "name": p.get(1)}))
        .collect();
    m.insert("semtypes".into(), Value::Array(pairs));
    if let Some(raw) = caption_raw {
        m.insert("caption_raw".into(), json!(raw));
    }
    (m, license)
}

/// `.../PMC4608653.tar.gz` → `PMC4608653`, as fetch.py derives it.
fn pmc_id_from_url(url: &str) -> Option<String> {
    url.rsplit('/')
        .next()?
        .strip_suffix(".tar.gz")
        .map(str::to_string)
}

impl Iterator for Folder {
    type Item = Result<Input>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (line, bytes) = match self.captions.next()? {
                Ok(l) => l,
                Err(e) => return Some(Err(e)),
            };
            if bytes.is_empty() {
                continue;
            }
            return Some(self.parse(line, bytes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::write_fixture as write;

    fn read_all(dir: &std::path::Path) -> Vec<Input> {
        let src = Source::open(dir.to_str().unwrap()).unwrap();
        let r = Roco::open(&src).unwrap();
        r.inputs().unwrap().map(|i| i.unwrap()).collect()
    }

    #[test]
    fn merge_join_with_gaps_and_quirks() {
        let d = tempfile::tempdir().unwrap();
        let f = "data/test/radiology";
        write(
            d.path(),
            &format!("{f}/captions.txt"),
            "ROCO_00001\t Axial MRI (coronal view).\nROCO_00006\t  Two spaces and trailing \nROCO_00009\n",
        );
        write(
            d.path(),
            &format!("{f}/keywords.txt"),
            "ROCO_00001\t\taxial\tmri\nROCO_00006\t\n",
        );
        write(
            d.path(),
            &format!("{f}/cuis.txt"),
            "ROCO_00006\t\tC0001\tC0002\n",
        );
        write(
            d.path(),
            &format!("{f}/semtypes.txt"),
            "ROCO_00001\t\nROCO_00006\t\tT109\tOrganic Chemical\n",
        );
        write(
            d.path(),
            &format!("{f}/dlinks.txt"),
            "ROCO_00001\twget -r ftp://x/8d/34/PMC4608653.tar.gz -P /path/to/Dir\tcro-0008-0385-g01.jpg\n",
        );
        write(
            d.path(),
            &format!("{f}/licences.txt"),
            "ROCO_ID,PMC_ID,CC\nROCO_00001,PMC4608653_cro-0008-0385-g01.jpg,CC BY-NC\nROCO_00006,PMC1_x.jpg,NO-CC CODE\n",
        );
        let got = read_all(d.path());
        assert_eq!(got.len(), 3);
        let Input::Ready(a) = &got[0] else { panic!() };
        assert_eq!(
            a.record.caption.as_deref(),
            Some("Axial MRI (coronal view).")
        );
        assert_eq!(a.record.license.as_deref(), Some("CC BY-NC"));
        assert_eq!(a.record.subset.as_deref(), Some("radiology"));
        assert_eq!(a.image_path, "data/test/radiology/images/ROCO_00001.jpg");
        let e: Value = serde_json::from_str(a.record.extra.as_ref().unwrap()).unwrap();
        assert_eq!(e["keywords"], json!(["axial", "mri"]));
        assert_eq!(e["cuis"], json!([]));
        assert_eq!(e["pmc_id"], json!("PMC4608653"));
        assert_eq!(e["archive_image"], json!("cro-0008-0385-g01.jpg"));
        assert!(e.get("caption_raw").is_none());
        let Input::Ready(b) = &got[1] else { panic!() };
        let e: Value = serde_json::from_str(b.record.extra.as_ref().unwrap()).unwrap();
        assert_eq!(b.record.caption.as_deref(), Some("Two spaces and trailing"));
        assert_eq!(e["caption_raw"], json!("  Two spaces and trailing "));
        assert_eq!(e["cuis"], json!(["C0001", "C0002"]));
        assert_eq!(
            e["semtypes"],
            json!([{"tui": "T109", "name": "Organic Chemical"}])
        );
        assert_eq!(b.record.license.as_deref(), Some("NO-CC CODE"));
        let Input::Rejected(q) = &got[2] else {
            panic!()
        };
        assert_eq!(
            (q.reason.as_str(), q.id.as_deref()),
            ("no-caption", Some("ROCO_00009"))
        );
        assert_eq!(q.source, "data/test/radiology/captions.txt:3");
    }

    #[test]
    fn no_layout_is_one_clear_error() {
        let d = tempfile::tempdir().unwrap();
        let src = Source::open(d.path().to_str().unwrap()).unwrap();
        let e = Roco::open(&src).err().unwrap().to_string();
        assert!(e.contains("not a roco layout"), "{e}");
    }

    /// The real published test/radiology slice: every line parses and line 948's extra
    /// whitespace is recorded.
    #[test]
    fn real_metadata_parses_when_present() {
        let Some((root, _)) = crate::datasets::real_metadata("roco") else {
            return;
        };
        let got = read_all(&root);
        let test_rad: Vec<_> = got
            .iter()
            .filter_map(|i| match i {
                Input::Ready(p)
                    if p.record.split == "test"
                        && p.record.subset.as_deref() == Some("radiology") =>
                {
                    Some(p)
                }
                _ => None,
            })
            .collect();
        assert_eq!(test_rad.len(), 1200);
        let l948 = test_rad
            .iter()
            .find(|p| p.record.id == "ROCO_09593")
            .unwrap();
        let e: Value = serde_json::from_str(l948.record.extra.as_ref().unwrap()).unwrap();
        assert!(e["caption_raw"].as_str().unwrap().starts_with("  Magnetic"));
        assert!(test_rad.iter().all(|p| p.record.license.is_some()));
        let non_rad = got.iter().filter(|i| matches!(i, Input::Ready(p) if p.record.subset.as_deref() == Some("non-radiology"))).count();
        assert_eq!(non_rad, 612);
    }
}
