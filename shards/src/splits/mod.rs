//! Reproducible evaluation splits: `splits/<name>.parquet` (the ids, in order, with their part)
//! and `splits/<name>.json` (recipe, parameters, seed, input manifest hash, id-list hash). The
//! same dataset and parameters give byte-identical files: no timestamps, sorted inputs, a seeded
//! ChaCha8 generator.

mod policy;
mod recipe;
mod recipes;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::builder::{Float32Builder, ListBuilder, StringBuilder, UInt32Builder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use policy::{COMPETITION5, Policy};
pub use recipe::{BuiltSplit, Recipe, RecipeOptions};
pub use recipes::{
    LowData, collapse, from_file, is_frontal, lowdata, official, patient_overlap, pmc_clip_compat,
    roco_2000,
};

use crate::store::Store;
use crate::{Error, Result};

/// How a subset size `N × fraction` becomes an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rounding {
    /// `int()`: Huang et al. (784 of 78,468 at 1%).
    Floor,
    /// Python's `round()` (half to even): MRM's files and pandas `sample(frac=…)` (785).
    RoundHalfEven,
}

impl Rounding {
    /// Parses `floor` or `round`.
    pub fn parse(s: &str) -> Option<Rounding> {
        match s {
            "floor" => Some(Rounding::Floor),
            "round" | "round-half-even" => Some(Rounding::RoundHalfEven),
            _ => None,
        }
    }

    /// Applies the rule.
    pub fn apply(self, x: f64) -> usize {
        match self {
            Rounding::Floor => x.floor() as usize,
            Rounding::RoundHalfEven => {
                let f = x.floor();
                let d = x - f;
                let r = if d > 0.5 || (d == 0.5 && f % 2.0 != 0.0) {
                    f + 1.0
                } else {
                    f
                };
                r as usize
            }
        }
    }
}

/// One entry of a split.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitRow {
    /// Row id in the dataset.
    pub id: String,
    /// `train`, `validation`, `test`, ...
    pub part: String,
    /// The caption as the recipe uses it (retrieval recipes).
    pub caption: Option<String>,
    /// Targets after the label policy (classification recipes).
    pub labels: Option<Vec<f32>>,
}

impl SplitRow {
    /// An entry with no caption or targets.
    pub fn new(id: &str, part: &str) -> SplitRow {
        SplitRow {
            id: id.to_string(),
            part: part.to_string(),
            caption: None,
            labels: None,
        }
    }

    /// With targets.
    pub fn with_labels(mut self, l: Vec<f32>) -> SplitRow {
        self.labels = Some(l);
        self
    }

    /// With a caption.
    pub fn with_caption(mut self, c: String) -> SplitRow {
        self.caption = Some(c);
        self
    }
}

/// The `.json` beside a split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitInfo {
    /// Split name (file stem).
    pub name: String,
    /// Recipe name.
    pub recipe: String,
    /// Dataset name.
    pub dataset: String,
    /// Recipe parameters.
    pub params: serde_json::Value,
    /// Hex SHA-256 of the dataset's manifest.json.
    pub input_manifest_sha256: String,
    /// Hex SHA-256 of the `part\tid\n` lines in order.
    pub ids_sha256: String,
    /// Entries per part.
    pub counts: BTreeMap<String, u64>,
    /// Names of the target vector, when the split has targets.
    pub label_names: Option<Vec<String>>,
    /// Anything a user should know (unmatched names, short pools).
    pub notes: Vec<String>,
}

/// Hex SHA-256 of the id list.
pub fn ids_hash(rows: &[SplitRow]) -> String {
    let mut h = Sha256::new();
    for r in rows {
        h.update(format!("{}\t{}\n", r.part, r.id));
    }
    hex::encode(h.finalize())
}

/// Entries per part.
pub fn counts(rows: &[SplitRow]) -> BTreeMap<String, u64> {
    let mut c = BTreeMap::new();
    for r in rows {
        *c.entry(r.part.clone()).or_default() += 1;
    }
    c
}

/// Encodes a split as Parquet: `position`, `id`, `part`, `caption`, `labels`.
pub fn encode_split(rows: &[SplitRow]) -> Result<Vec<u8>> {
    let err = |e: &dyn std::fmt::Display| Error::parquet("split", e);
    let schema = Arc::new(Schema::new(vec![
        Field::new("position", DataType::UInt32, false),
        Field::new("id", DataType::Utf8, false),
        Field::new("part", DataType::Utf8, false),
        Field::new("caption", DataType::Utf8, true),
        Field::new(
            "labels",
            DataType::List(Arc::new(Field::new("item", DataType::Float32, true))),
            true,
        ),
    ]));
    let (mut pos, mut id, mut part, mut cap) = (
        UInt32Builder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let mut labels = ListBuilder::new(Float32Builder::new()).with_field(Arc::new(Field::new(
        "item",
        DataType::Float32,
        true,
    )));
    for (i, r) in rows.iter().enumerate() {
        pos.append_value(i as u32);
        id.append_value(&r.id);
        part.append_value(&r.part);
        cap.append_option(r.caption.as_deref());
        match &r.labels {
            Some(l) => {
                labels.values().append_slice(l);
                labels.append(true);
            }
            None => labels.append(false),
        }
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(pos.finish()),
        Arc::new(id.finish()),
        Arc::new(part.finish()),
        Arc::new(cap.finish()),
        Arc::new(labels.finish()),
    ];
    let batch = RecordBatch::try_new(schema.clone(), cols).map_err(|e| err(&e))?;
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, schema, None).map_err(|e| err(&e))?;
    w.write(&batch).map_err(|e| err(&e))?;
    w.close().map_err(|e| err(&e))?;
    Ok(out)
}

/// Reads `splits/<name>.parquet`: each entry's id and part, in split order.
pub fn read_split(store: &Store, name: &str) -> Result<Vec<(String, String)>> {
    Ok(read_split_rows(store, name)?
        .into_iter()
        .map(|r| (r.id, r.part))
        .collect())
}

/// Reads `splits/<name>.parquet` whole: id, part, caption and labels of each entry, in split
/// order (duplicates kept, as `pmc-clip-compat` has them).
pub fn read_split_rows(store: &Store, name: &str) -> Result<Vec<SplitRow>> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float32Type;
    let rel = format!("splits/{name}.parquet");
    let bytes = store.get(&rel)?;
    let err = |e: &dyn std::fmt::Display| Error::parquet(&rel, e);
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| err(&e))?
        .build()
        .map_err(|e| err(&e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| err(&e))?;
        let col = |n: &str| {
            batch
                .column_by_name(n)
                .and_then(|c| c.as_string_opt::<i32>().cloned())
                .ok_or_else(|| err(&format!("no string column `{n}`")))
        };
        let (ids, parts, captions) = (col("id")?, col("part")?, col("caption")?);
        let labels = batch
            .column_by_name("labels")
            .and_then(|c| c.as_list_opt::<i32>().cloned());
        for i in 0..batch.num_rows() {
            let mut row = SplitRow::new(ids.value(i), parts.value(i));
            if captions.is_valid(i) {
                row.caption = Some(captions.value(i).to_string());
            }
            if let Some(l) = labels.as_ref().filter(|l| l.is_valid(i)) {
                let v = l.value(i);
                let v = v.as_primitive::<Float32Type>();
                row.labels = Some(
                    (0..v.len())
                        .map(|k| if v.is_valid(k) { v.value(k) } else { f32::NAN })
                        .collect(),
                );
            }
            out.push(row);
        }
    }
    Ok(out)
}

/// Writes `splits/<name>.parquet` then `splits/<name>.json`.
pub fn write_split(store: &Store, rows: &[SplitRow], info: &SplitInfo) -> Result<()> {
    store.put(
        &format!("splits/{}.parquet", info.name),
        encode_split(rows)?,
    )?;
    let mut text = serde_json::to_vec_pretty(info).expect("split info serialises");
    text.push(b'\n');
    store.put(&format!("splits/{}.json", info.name), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_rules_match_python() {
        assert_eq!(Rounding::Floor.apply(784.68), 784);
        assert_eq!(Rounding::RoundHalfEven.apply(784.68), 785);
        assert_eq!(Rounding::RoundHalfEven.apply(2.5), 2);
        assert_eq!(Rounding::RoundHalfEven.apply(3.5), 4);
    }

    #[test]
    fn encoding_is_deterministic() {
        let rows = vec![
            SplitRow::new("a", "train").with_labels(vec![1.0]),
            SplitRow::new("b", "test").with_caption("x y z".into()),
        ];
        assert_eq!(encode_split(&rows).unwrap(), encode_split(&rows).unwrap());
        assert_eq!(counts(&rows)["train"], 1);
        assert_ne!(ids_hash(&rows), ids_hash(&rows[..1]));
    }
}
