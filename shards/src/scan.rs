//! Reading the metadata columns of a whole dataset without its image bytes (a Parquet
//! projection), for split recipes and checks.

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{Array, RecordBatch};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::manifest::Manifest;
use crate::schema::col;
use crate::store::Store;
use crate::verify::fetch_verified;
use crate::{Error, Result};

/// The metadata of one row.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaRow {
    /// Row id.
    pub id: String,
    /// Split.
    pub split: String,
    /// Subset.
    pub subset: Option<String>,
    /// Caption.
    pub caption: Option<String>,
    /// Labels.
    pub labels: Option<Vec<f32>>,
    /// Patient id.
    pub patient_id: Option<String>,
    /// View.
    pub view: Option<String>,
}

const COLUMNS: [&str; 7] = [
    col::ID,
    col::SPLIT,
    col::SUBSET,
    col::CAPTION,
    col::LABELS,
    col::PATIENT_ID,
    col::VIEW,
];

/// Reads the metadata of every row, shard by shard in manifest order (each shard verified).
pub fn scan_meta(store: &Store, manifest: &Manifest) -> Result<Vec<MetaRow>> {
    let mut out = Vec::with_capacity(manifest.rows() as usize);
    for shard in &manifest.shards {
        let bytes = fetch_verified(store, shard)?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .map_err(|e| Error::parquet(&shard.path, e))?;
        let schema = builder.parquet_schema();
        let idx: Vec<usize> = COLUMNS
            .iter()
            .map(|c| {
                builder
                    .schema()
                    .index_of(c)
                    .map_err(|e| Error::parquet(&shard.path, e))
            })
            .collect::<Result<_>>()?;
        let mask = ProjectionMask::roots(schema, idx);
        let reader = builder
            .with_projection(mask)
            .build()
            .map_err(|e| Error::parquet(&shard.path, e))?;
        for batch in reader {
            let batch = batch.map_err(|e| Error::parquet(&shard.path, e))?;
            rows(&batch, &mut out);
        }
    }
    Ok(out)
}

fn rows(b: &RecordBatch, out: &mut Vec<MetaRow>) {
    let s = |name: &str| {
        b.column_by_name(name)
            .expect("projected")
            .as_string::<i32>()
            .clone()
    };
    let (id, split, subset, caption, patient, view) = (
        s(col::ID),
        s(col::SPLIT),
        s(col::SUBSET),
        s(col::CAPTION),
        s(col::PATIENT_ID),
        s(col::VIEW),
    );
    let labels = b
        .column_by_name(col::LABELS)
        .expect("projected")
        .as_list::<i32>()
        .clone();
    let opt =
        |a: &arrow_array::StringArray, i: usize| a.is_valid(i).then(|| a.value(i).to_string());
    for i in 0..b.num_rows() {
        out.push(MetaRow {
            id: id.value(i).to_string(),
            split: split.value(i).to_string(),
            subset: opt(&subset, i),
            caption: opt(&caption, i),
            labels: labels.is_valid(i).then(|| {
                labels
                    .value(i)
                    .as_primitive::<Float32Type>()
                    .values()
                    .to_vec()
            }),
            patient_id: opt(&patient, i),
            view: opt(&view, i),
        });
    }
}
