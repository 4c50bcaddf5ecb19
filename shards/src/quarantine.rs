//! `quarantine.parquet`: every rejected input with the reason it was rejected.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One rejected input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantineEntry {
    /// Where it came from: a path relative to the dataset root, with `:line` for text records.
    pub source: String,
    /// The record id, when one could be read.
    pub id: Option<String>,
    /// The split it would have gone to, when known.
    pub split: Option<String>,
    /// A stable reason code (`missing-image`, `corrupt-image`, ...).
    pub reason: String,
    /// A human-readable explanation.
    pub detail: String,
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("id", DataType::Utf8, true),
        Field::new("split", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, false),
    ]))
}

/// Encodes quarantine entries as a Parquet file.
pub fn encode_quarantine(entries: &[QuarantineEntry]) -> Result<Vec<u8>> {
    let col = |f: &dyn Fn(&QuarantineEntry) -> Option<&str>| -> ArrayRef {
        Arc::new(entries.iter().map(f).collect::<StringArray>())
    };
    let batch = RecordBatch::try_new(
        schema(),
        vec![
            col(&|e| Some(&e.source)),
            col(&|e| e.id.as_deref()),
            col(&|e| e.split.as_deref()),
            col(&|e| Some(&e.reason)),
            col(&|e| Some(&e.detail)),
        ],
    )
    .map_err(|e| Error::parquet("quarantine", e))?;
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, schema(), None)
        .map_err(|e| Error::parquet("quarantine", e))?;
    w.write(&batch)
        .map_err(|e| Error::parquet("quarantine", e))?;
    w.close().map_err(|e| Error::parquet("quarantine", e))?;
    Ok(out)
}

/// Decodes a quarantine Parquet file.
pub fn decode_quarantine(bytes: Bytes) -> Result<Vec<QuarantineEntry>> {
    let err = |e: &dyn std::fmt::Display| Error::parquet("quarantine", e);
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| err(&e))?
        .build()
        .map_err(|e| err(&e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| err(&e))?;
        let s = |i: usize| batch.column(i).as_string::<i32>().clone();
        let (src, id, split, reason, detail) = (s(0), s(1), s(2), s(3), s(4));
        let opt = |a: &StringArray, i: usize| a.is_valid(i).then(|| a.value(i).to_string());
        for i in 0..batch.num_rows() {
            out.push(QuarantineEntry {
                source: src.value(i).to_string(),
                id: opt(&id, i),
                split: opt(&split, i),
                reason: reason.value(i).to_string(),
                detail: detail.value(i).to_string(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let e = vec![QuarantineEntry {
            source: "data/test/radiology/images/ROCO_1.jpg".into(),
            id: Some("ROCO_1".into()),
            split: None,
            reason: "missing-image".into(),
            detail: "no such file".into(),
        }];
        let bytes = encode_quarantine(&e).unwrap();
        assert_eq!(decode_quarantine(bytes.into()).unwrap(), e);
    }
}
