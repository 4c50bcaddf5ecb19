//! Small datasets written straight to shards, for tests and benchmarks of the reader (no raw
//! layout, no ingest: the rows are given).

use unimlip_shards::{
    ImageFormat, ImageInfo, Manifest, Record, SCHEMA_VERSION, ShardWriter, SourceInfo, Store,
    WriterOptions, now_rfc3339,
};

use crate::Result;

/// Writes a dataset of `rows` rows per split to `store` (row `i` gets id `<split>-<i>`, caption
/// `caption <i>`, labels `[i mod 2, i mod 3]` and the image `image(i)`), with row groups of
/// about `rows_per_group` rows and shards of about `groups_per_shard` row groups; commits the
/// manifest and returns it.
pub fn write_dataset(
    store: &Store,
    splits: &[(&str, usize)],
    rows_per_group: usize,
    groups_per_shard: usize,
    image: &dyn Fn(usize) -> (Vec<u8>, ImageInfo),
) -> Result<Manifest> {
    let spool = tempfile::tempdir().map_err(|e| crate::Error::Cache {
        path: "<tempdir>".into(),
        cause: e,
    })?;
    let mut shards = Vec::new();
    let mut inputs = 0u64;
    for (split, rows) in splits {
        let record = |i: usize| {
            let (bytes, info) = image(i);
            Record {
                id: format!("{split}-{i}"),
                split: split.to_string(),
                image: bytes,
                image_info: info,
                subset: None,
                source_path: None,
                caption: Some(format!("caption {i}")),
                labels: Some(vec![(i % 2) as f32, (i % 3) as f32]),
                patient_id: None,
                study_id: None,
                view: None,
                qa: None,
                license: None,
                extra: None,
                mask: None,
            }
        };
        let per_row = record(0).approx_bytes();
        let opts = WriterOptions {
            row_group_bytes: per_row * rows_per_group as u64,
            shard_bytes: per_row * (rows_per_group * groups_per_shard) as u64,
            zstd_level: 1,
        };
        let mut w = ShardWriter::new(split, 0, spool.path(), opts);
        let mut done = Vec::new();
        for i in 0..*rows {
            done.extend(w.push(record(i))?);
        }
        done.extend(w.finish()?);
        for f in done {
            store.put_file(&f.entry.path, &f.file)?;
            shards.push(f.entry);
        }
        inputs += *rows as u64;
    }
    let manifest = Manifest {
        dataset: "testkit".into(),
        schema_version: SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        created_at: now_rfc3339(),
        ingest_options: serde_json::Value::Null,
        source: SourceInfo::default(),
        label_names: vec!["a".into(), "b".into()],
        inputs,
        splits: Manifest::split_stats(&shards),
        shards,
        quarantine: Default::default(),
    };
    manifest.commit(store)?;
    Ok(manifest)
}

/// The [`ImageInfo`] of an 8-bit image.
pub fn info(format: ImageFormat, width: u32, height: u32, channels: u8) -> ImageInfo {
    ImageInfo {
        format,
        width,
        height,
        channels,
        bit_depth: 8,
    }
}
