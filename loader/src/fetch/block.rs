//! One fetched row group, decoded to the Arrow columns the loader needs.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{Array, BinaryViewArray, Float32Array, ListArray, RecordBatch, StringArray};
use bytes::{Buf, Bytes};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use parquet::errors::ParquetError;
use parquet::file::reader::{ChunkReader, Length};

use crate::{Error, Result};

/// Columns the loader reads; everything else (QA, extra metadata, masks) stays on storage.
pub const COLUMNS: [&str; 4] = ["id", "image", "caption", "labels"];

/// The rows of one row group: ids, encoded images, captions and labels.
#[derive(Debug)]
pub struct BlockData {
    ids: StringArray,
    images: BinaryViewArray,
    captions: StringArray,
    labels: Option<ListArray>,
    /// Bytes fetched for this block.
    pub bytes: u64,
}

impl BlockData {
    /// Rows in the block.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the block has no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The id of a row.
    pub fn id(&self, row: usize) -> &str {
        self.ids.value(row)
    }

    /// The encoded image of a row.
    pub fn image(&self, row: usize) -> &[u8] {
        self.images.value(row)
    }

    /// The caption of a row, when it has one.
    pub fn caption(&self, row: usize) -> Option<&str> {
        (!self.captions.is_null(row)).then(|| self.captions.value(row))
    }

    /// The label vector of a row, when it has one.
    pub fn labels(&self, row: usize) -> Option<&[f32]> {
        let l = self.labels.as_ref()?;
        if l.is_null(row) {
            return None;
        }
        let values: &Float32Array = l.values().as_primitive::<Float32Type>();
        let (start, end) = (
            l.value_offsets()[row] as usize,
            l.value_offsets()[row + 1] as usize,
        );
        Some(&values.values()[start..end])
    }

    /// Decodes row group `row_group` from `bytes`, which hold the file's bytes from `base` on.
    pub fn decode(
        path: &str,
        meta: &ArrowReaderMetadata,
        row_group: usize,
        base: u64,
        bytes: Bytes,
        file_len: u64,
    ) -> Result<BlockData> {
        let bad = |reason: String| Error::BadRowGroup {
            path: path.to_string(),
            row_group,
            reason,
        };
        let fetched = bytes.len() as u64;
        let chunk = RangeChunk {
            base,
            bytes,
            file_len,
        };
        let roots: Vec<usize> = COLUMNS
            .iter()
            .filter_map(|c| meta.schema().index_of(c).ok())
            .collect();
        let mask = ProjectionMask::roots(meta.parquet_schema(), roots);
        let rows = meta.metadata().row_group(row_group).num_rows() as usize;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(chunk, meta.clone())
            .with_row_groups(vec![row_group])
            .with_projection(mask)
            .with_batch_size(rows.max(1))
            .build()
            .map_err(|e| bad(e.to_string()))?;
        let batches: Vec<RecordBatch> = reader
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| bad(e.to_string()))?;
        // The batch size is the row count, so one row group is one batch.
        let [batch]: [RecordBatch; 1] = batches
            .try_into()
            .map_err(|b: Vec<RecordBatch>| bad(format!("decoded to {} batches", b.len())))?;
        let col = |name: &str| {
            batch
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| bad(format!("no `{name}` column")))
        };
        let ids = col("id")?
            .as_string_opt::<i32>()
            .cloned()
            .ok_or_else(|| bad("`id` is not a string column".into()))?;
        let images = col("image")?
            .as_binary_view_opt()
            .cloned()
            .ok_or_else(|| bad("`image` is not a binary column".into()))?;
        let captions = col("caption")?
            .as_string_opt::<i32>()
            .cloned()
            .ok_or_else(|| bad("`caption` is not a string column".into()))?;
        let labels = batch
            .column_by_name("labels")
            .and_then(|c| c.as_list_opt::<i32>().cloned());
        Ok(BlockData {
            ids,
            images,
            captions,
            labels,
            bytes: fetched,
        })
    }

    /// Byte range of the columns the loader reads in row group `row_group`.
    pub fn byte_range(meta: &ArrowReaderMetadata, row_group: usize) -> std::ops::Range<u64> {
        let rg = meta.metadata().row_group(row_group);
        let wanted: Vec<usize> = COLUMNS
            .iter()
            .filter_map(|c| meta.schema().index_of(c).ok())
            .collect();
        let mut lo = u64::MAX;
        let mut hi = 0;
        for (i, col) in rg.columns().iter().enumerate() {
            let root = meta.parquet_schema().get_column_root_idx(i);
            if !wanted.contains(&root) {
                continue;
            }
            let (start, len) = col.byte_range();
            lo = lo.min(start);
            hi = hi.max(start + len);
        }
        if lo > hi { 0..0 } else { lo..hi }
    }
}

/// A [`ChunkReader`] over one fetched byte range of a file.
struct RangeChunk {
    base: u64,
    bytes: Bytes,
    file_len: u64,
}

impl RangeChunk {
    fn slice(&self, start: u64, len: usize) -> parquet::errors::Result<Bytes> {
        let from = start.checked_sub(self.base).map(|s| s as usize);
        match from {
            Some(s) if s + len <= self.bytes.len() => Ok(self.bytes.slice(s..s + len)),
            _ => Err(ParquetError::General(format!(
                "read of {len} bytes at {start} outside the fetched range {}..{}",
                self.base,
                self.base + self.bytes.len() as u64
            ))),
        }
    }
}

impl Length for RangeChunk {
    fn len(&self) -> u64 {
        self.file_len
    }
}

impl ChunkReader for RangeChunk {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let s = start.checked_sub(self.base).map(|s| s as usize);
        match s {
            Some(s) if s <= self.bytes.len() => Ok(self.bytes.slice(s..).reader()),
            _ => Err(ParquetError::General(format!(
                "read at {start} outside the fetched range"
            ))),
        }
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.slice(start, length)
    }
}

/// Shared handle to a block.
pub type BlockRef = Arc<BlockData>;
