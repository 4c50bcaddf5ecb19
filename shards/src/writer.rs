//! Writes [`Record`]s of one split into Parquet shards of bounded size.
//!
//! Shards are written to a local spool file while their SHA-256 is computed on the fly; the
//! caller uploads the finished file ([`crate::Store::put_file`]) and records its
//! [`ShardEntry`] in the manifest. The `image` column is stored uncompressed, without
//! dictionary or statistics (JPEG and PNG do not shrink, and min/max of image bytes are
//! useless); every other column is zstd-compressed. Output bytes depend only on the records and
//! the options, so re-running an ingest reproduces each shard exactly.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};

use crate::batch::records_to_batch;
use crate::manifest::ShardEntry;
use crate::record::Record;
use crate::schema::{col, schema};
use crate::segments::Segments;
use crate::{Error, Result};

/// Size limits of the shards a [`ShardWriter`] produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriterOptions {
    /// A row group is closed once its records add up to this many bytes.
    pub row_group_bytes: u64,
    /// A shard is closed once its file reaches this many bytes.
    pub shard_bytes: u64,
    /// zstd level of the non-image columns.
    pub zstd_level: i32,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            row_group_bytes: 48 << 20,
            shard_bytes: 384 << 20,
            zstd_level: 3,
        }
    }
}

/// Records are handed to the Parquet encoder in batches of at most this many rows.
const BATCH_ROWS: usize = 256;

/// The path of shard `index` of a split (or part stem), relative to the dataset root.
pub fn shard_path(stem: &str, index: u32) -> String {
    format!("shards/{stem}-{index:05}.parquet")
}

/// A shard that is complete on local disk and ready to upload.
#[derive(Debug)]
pub struct FinishedShard {
    /// What the manifest will say of it.
    pub entry: ShardEntry,
    /// The local file; deleted when dropped.
    pub file: tempfile::TempPath,
}

/// Passes bytes to the spool file while hashing the segment between consecutive cut points
/// (the leading magic, each row group, the footer); the file's own hash is taken over those
/// segments' hashes ([`crate::ShardHash::Segments`]), so each byte is hashed once.
struct HashingWriter {
    inner: BufWriter<File>,
    segments: Segments,
    /// A flush to disk of what is written so far, running beside the writer: the commit's
    /// fsync then waits only for the bytes written since (see [`HashingWriter::sync_early`]).
    syncing: Option<std::thread::JoinHandle<()>>,
}

impl HashingWriter {
    fn new(file: File) -> Self {
        HashingWriter {
            inner: BufWriter::with_capacity(1 << 20, file),
            // The leading magic is a segment of its own, hashed by no row group.
            segments: Segments::new([4]),
            syncing: None,
        }
    }

    /// Starts writing the file's pages to disk on another thread (unless one such flush is
    /// still running), after a row group has been written: durability costs the commit only
    /// the last row group's flush, not the whole shard's.
    fn sync_early(&mut self) {
        if self.syncing.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        if let Some(h) = self.syncing.take() {
            let _ = h.join();
        }
        let Ok(file) = self.inner.get_ref().try_clone() else {
            return;
        };
        self.syncing = std::thread::Builder::new()
            .name("unimlip-sync".into())
            .spawn(move || {
                let _ = file.sync_data();
            })
            .ok();
    }

    /// Ends the current segment at `offset` (not before the bytes seen so far).
    fn cut_at(&mut self, offset: u64) {
        self.segments.cut_at(offset);
    }

    /// Closes the last segment at the end of the file; returns the file's hash.
    fn finish(&mut self) -> [u8; 32] {
        if let Some(h) = self.syncing.take() {
            let _ = h.join();
        }
        self.segments.finish();
        crate::segments::tree_sha256(&self.segments.done)
    }
}

/// Writes at least this long are hashed on another thread while they are written.
const PARALLEL_HASH_BYTES: usize = 1 << 20;

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() < PARALLEL_HASH_BYTES {
            let n = self.inner.write(buf)?;
            self.segments.update(&buf[..n]);
            return Ok(n);
        }
        // A row group's pages arrive in large writes, all at once when the group is closed:
        // hashing them beside the copy into the file keeps the close (and, for the last row
        // group, the whole ingest) from waiting for the two one after the other.
        let (inner, segments) = (&mut self.inner, &mut self.segments);
        std::thread::scope(|scope| {
            let hashing = scope.spawn(|| segments.update(buf));
            let written = inner.write_all(buf);
            hashing.join().expect("hashing cannot panic");
            written
        })?;
        self.sync_early();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct OpenShard {
    writer: ArrowWriter<HashingWriter>,
    file: tempfile::TempPath,
    pending: Vec<Record>,
    rg_bytes: u64,
    rg_rows: u64,
    row_groups: Vec<u64>,
}

/// Writes the records of one split into a sequence of shards.
pub struct ShardWriter {
    split: String,
    stem: String,
    next_index: u32,
    spool: PathBuf,
    opts: WriterOptions,
    open: Option<OpenShard>,
}

fn properties(opts: &WriterOptions) -> Result<WriterProperties> {
    let level = ZstdLevel::try_new(opts.zstd_level).map_err(|e| Error::parquet("<options>", e))?;
    let image = ColumnPath::from(col::IMAGE);
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_column_compression(image.clone(), Compression::UNCOMPRESSED)
        .set_column_dictionary_enabled(image.clone(), false)
        .set_column_statistics_enabled(image, EnabledStatistics::None)
        .set_max_row_group_row_count(None)
        .set_max_row_group_bytes(None)
        .set_created_by(format!("unimlip {}", env!("CARGO_PKG_VERSION")))
        .build())
}

impl ShardWriter {
    /// A writer whose first shard gets `first_index`; spool files go under `spool`.
    pub fn new(split: &str, first_index: u32, spool: &Path, opts: WriterOptions) -> Self {
        ShardWriter {
            split: split.to_string(),
            stem: split.to_string(),
            next_index: first_index,
            spool: spool.to_path_buf(),
            opts,
            open: None,
        }
    }

    /// Names shards `shards/<stem>-NNNNN.parquet` instead of by the split alone (the parts of a
    /// partitioned ingest use `<split>-pIIIIofNNNN`).
    pub fn with_stem(mut self, stem: &str) -> Self {
        self.stem = stem.to_string();
        self
    }

    /// The index the next shard will get.
    pub fn next_index(&self) -> u32 {
        self.next_index
    }

    /// Adds a record; returns a shard when this record completed one.
    pub fn push(&mut self, record: Record) -> Result<Option<FinishedShard>> {
        if record.split != self.split {
            return Err(Error::InvalidRecord {
                id: record.id,
                reason: format!(
                    "split `{}` given to the `{}` writer",
                    record.split, self.split
                ),
            });
        }
        if self.open.is_none() {
            self.open = Some(self.open_shard()?);
        }
        let path = shard_path(&self.stem, self.next_index);
        let open = self.open.as_mut().expect("opened above");
        open.rg_bytes += record.approx_bytes();
        open.rg_rows += 1;
        open.pending.push(record);
        if open.pending.len() >= BATCH_ROWS {
            write_pending(open, &path)?;
        }
        if open.rg_bytes < self.opts.row_group_bytes {
            return Ok(None);
        }
        close_row_group(open, &path)?;
        if (open.writer.bytes_written() as u64) < self.opts.shard_bytes {
            return Ok(None);
        }
        self.finish_open().map(Some)
    }

    /// Closes the last shard, if it holds any record.
    pub fn finish(mut self) -> Result<Option<FinishedShard>> {
        match self.open {
            Some(_) => self.finish_open().map(Some),
            None => Ok(None),
        }
    }

    fn open_shard(&self) -> Result<OpenShard> {
        // 0666 before the umask, as any file the user creates: a shard renamed into a shared
        // dataset folder must be readable by whoever the umask lets read it.
        let file = tempfile::Builder::new()
            .prefix(".shard-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(&self.spool)
            .map_err(|e| Error::io(&self.spool, e))?;
        let (f, path) = file.into_parts();
        let sink = HashingWriter::new(f);
        let writer = ArrowWriter::try_new(sink, schema(), Some(properties(&self.opts)?))
            .map_err(|e| Error::parquet(path.display().to_string(), e))?;
        Ok(OpenShard {
            writer,
            file: path,
            pending: Vec::new(),
            rg_bytes: 0,
            rg_rows: 0,
            row_groups: Vec::new(),
        })
    }

    fn finish_open(&mut self) -> Result<FinishedShard> {
        let mut open = self.open.take().expect("an open shard");
        let path = shard_path(&self.stem, self.next_index);
        close_row_group(&mut open, &path)?;
        let meta = open.writer.finish().map_err(|e| Error::parquet(&path, e))?;
        let sink = open.writer.inner_mut();
        sink.flush().map_err(|e| Error::io(&*open.file, e))?;
        let sha256 = hex::encode(sink.finish());
        let bytes = sink.segments.bytes();
        let (row_group_sha256, footer_sha256) = block_hashes(&sink.segments.done, &meta, &path)?;
        let entry = ShardEntry {
            path,
            split: self.split.clone(),
            rows: open.row_groups.iter().sum(),
            bytes,
            sha256,
            sha256_of: crate::ShardHash::Segments,
            row_groups: open.row_groups,
            row_group_sha256,
            footer_sha256,
        };
        self.next_index += 1;
        Ok(FinishedShard {
            entry,
            file: open.file,
        })
    }
}

fn write_pending(open: &mut OpenShard, path: &str) -> Result<()> {
    if open.pending.is_empty() {
        return Ok(());
    }
    let batch = records_to_batch(&open.pending)?;
    open.pending.clear();
    open.writer
        .write(&batch)
        .map_err(|e| Error::parquet(path, e))
}

/// The byte range of row group `i`: from its first column chunk's first page to its last
/// column chunk's end.
pub fn row_group_range(meta: &ParquetMetaData, i: usize) -> std::ops::Range<u64> {
    let mut lo = u64::MAX;
    let mut hi = 0;
    for c in meta.row_group(i).columns() {
        let (start, len) = c.byte_range();
        lo = lo.min(start);
        hi = hi.max(start + len);
    }
    if lo > hi { 0..0 } else { lo..hi }
}

/// Where the footer starts: right after the last row group (or the leading magic).
pub fn footer_start(meta: &ParquetMetaData) -> u64 {
    (0..meta.num_row_groups())
        .map(|i| row_group_range(meta, i).end)
        .max()
        .unwrap_or(4)
}

/// SHA-256 of each row group's bytes and of the footer, taken from the segments hashed while
/// the file was written: after the leading magic, one segment per row group and the footer.
/// The ranges are checked against the Parquet metadata, so a writer that laid the file out
/// differently fails here instead of recording wrong hashes.
pub(crate) fn block_hashes(
    segments: &[(u64, u64, [u8; 32])],
    meta: &ParquetMetaData,
    path: &str,
) -> Result<(Vec<String>, String)> {
    let n = meta.num_row_groups();
    let mismatch = |what: String| Error::Parquet {
        path: path.to_string(),
        reason: format!("row-group hashing out of step with the file layout: {what}"),
    };
    if segments.len() != n + 2 {
        return Err(mismatch(format!(
            "{} segments for {n} row groups",
            segments.len()
        )));
    }
    let mut groups = Vec::with_capacity(n);
    for (i, &(start, end, digest)) in segments[1..=n].iter().enumerate() {
        let want = row_group_range(meta, i);
        if want != (start..end) {
            return Err(mismatch(format!(
                "row group {i} is {want:?}, hashed {start}..{end}"
            )));
        }
        groups.push(hex::encode(digest));
    }
    let (start, _, digest) = segments[n + 1];
    if start != footer_start(meta) {
        return Err(mismatch(format!("footer starts at {start}")));
    }
    Ok((groups, hex::encode(digest)))
}

fn close_row_group(open: &mut OpenShard, path: &str) -> Result<()> {
    write_pending(open, path)?;
    if open.rg_rows == 0 {
        return Ok(());
    }
    open.writer.flush().map_err(|e| Error::parquet(path, e))?;
    let end = open.writer.bytes_written() as u64;
    open.writer.inner_mut().cut_at(end);
    open.row_groups.push(open.rg_rows);
    open.rg_rows = 0;
    open.rg_bytes = 0;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::tests::sample;
    use crate::verify::{read_shard, verify_shard_bytes};

    #[test]
    fn row_group_and_footer_hashes_cover_the_file_between_the_magics() {
        let opts = WriterOptions {
            row_group_bytes: 4_000,
            shard_bytes: 1 << 30,
            zstd_level: 1,
        };
        let (_d, shards) = write_all(40, opts);
        let e = &shards[0].entry;
        assert!(e.has_block_hashes() && e.row_groups.len() > 3, "{e:?}");
        let bytes = std::fs::read(&shards[0].file).unwrap();
        let meta = parquet::file::metadata::ParquetMetaDataReader::new()
            .parse_and_finish(&bytes::Bytes::from(bytes.clone()))
            .unwrap();
        // The row groups are contiguous from the leading magic to the footer.
        let mut at = 4;
        for (i, want) in e.row_group_sha256.iter().enumerate() {
            let r = row_group_range(&meta, i);
            assert_eq!(r.start, at, "row group {i} starts where the last ended");
            assert_eq!(
                &crate::sha256_hex(&bytes[r.start as usize..r.end as usize]),
                want
            );
            at = r.end;
        }
        assert_eq!(footer_start(&meta), at);
        assert_eq!(crate::sha256_hex(&bytes[at as usize..]), e.footer_sha256);
        assert_eq!(e.sha256_of, crate::ShardHash::Segments);
        assert_eq!(e.sha256, segments_tree(&bytes, &meta));
        // One flipped byte inside row group 1 is caught by its hash.
        let mut bad = bytes.clone();
        bad[row_group_range(&meta, 1).start as usize + 10] ^= 1;
        let err = verify_shard_bytes(e, &bytes::Bytes::from(bad)).unwrap_err();
        assert!(err.to_string().contains("row group 1"), "{err}");
        // A manifest whose file hash was altered is caught too, though every segment matches.
        let mut e2 = e.clone();
        e2.sha256 = crate::sha256_hex(b"other");
        let err = verify_shard_bytes(&e2, &bytes::Bytes::from(bytes)).unwrap_err();
        assert!(err.to_string().contains("of its segments"), "{err}");
    }

    /// The shard hash of schema 2, computed from the file as the manifest documents it: the
    /// SHA-256 of the digests of the magic, each row group and the footer, concatenated.
    fn segments_tree(bytes: &[u8], meta: &ParquetMetaData) -> String {
        let mut digests = Vec::new();
        let mut at = 0usize;
        let ends = std::iter::once(4)
            .chain((0..meta.num_row_groups()).map(|i| row_group_range(meta, i).end as usize))
            .chain(std::iter::once(bytes.len()));
        for end in ends {
            digests.extend_from_slice(&hex::decode(crate::sha256_hex(&bytes[at..end])).unwrap());
            at = end;
        }
        crate::sha256_hex(&digests)
    }

    #[test]
    fn pages_of_a_megabyte_and_more_hash_the_same_as_a_read_back() {
        let opts = WriterOptions {
            row_group_bytes: 3 << 20,
            shard_bytes: 1 << 30,
            zstd_level: 1,
        };
        let dir = tempfile::tempdir().unwrap();
        let mut w = ShardWriter::new("train", 0, dir.path(), opts);
        for i in 0..5usize {
            let mut r = sample(&format!("big{i}"), 0);
            r.image = (0..1_500_000).map(|j: usize| (j * 31 + i) as u8).collect();
            assert!(w.push(r).unwrap().is_none());
        }
        let s = w.finish().unwrap().unwrap();
        let bytes = bytes::Bytes::from(std::fs::read(&s.file).unwrap());
        assert_eq!(s.entry.row_groups, vec![3, 2]);
        let meta = parquet::file::metadata::ParquetMetaDataReader::new()
            .parse_and_finish(&bytes)
            .unwrap();
        assert_eq!(segments_tree(&bytes, &meta), s.entry.sha256);
        verify_shard_bytes(&s.entry, &bytes).unwrap();
    }

    fn write_all(n: usize, opts: WriterOptions) -> (tempfile::TempDir, Vec<FinishedShard>) {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ShardWriter::new("train", 0, dir.path(), opts);
        let mut out = Vec::new();
        for i in 0..n {
            out.extend(w.push(sample(&format!("r{i:04}"), 1000)).unwrap());
        }
        out.extend(w.finish().unwrap());
        (dir, out)
    }

    #[test]
    fn limits_split_rows_into_row_groups_and_shards() {
        let opts = WriterOptions {
            row_group_bytes: 10_000,
            shard_bytes: 30_000,
            zstd_level: 3,
        };
        let (_d, shards) = write_all(100, opts);
        assert!(shards.len() > 1, "{} shards", shards.len());
        let total: u64 = shards.iter().map(|s| s.entry.rows).sum();
        assert_eq!(total, 100);
        for (i, s) in shards.iter().enumerate() {
            assert_eq!(s.entry.path, shard_path("train", i as u32));
            assert!(s.entry.row_groups.len() > 1 || i == shards.len() - 1);
            let bytes = bytes::Bytes::from(std::fs::read(&s.file).unwrap());
            assert_eq!(bytes.len() as u64, s.entry.bytes);
            verify_shard_bytes(&s.entry, &bytes).unwrap();
            assert_eq!(
                read_shard(&s.entry.path, bytes).unwrap().len() as u64,
                s.entry.rows
            );
        }
    }

    #[test]
    fn same_records_same_bytes() {
        let opts = WriterOptions::default();
        let (_a, x) = write_all(20, opts);
        let (_b, y) = write_all(20, opts);
        assert_eq!(x[0].entry.sha256, y[0].entry.sha256);
    }

    #[test]
    fn image_column_is_uncompressed_and_text_is_zstd() {
        let (_d, shards) = write_all(5, WriterOptions::default());
        let bytes = bytes::Bytes::from(std::fs::read(&shards[0].file).unwrap());
        let reader = parquet::file::reader::SerializedFileReader::new(bytes).unwrap();
        use parquet::file::reader::FileReader;
        let rg = reader.metadata().row_group(0);
        for c in rg.columns() {
            let name = c.column_path().string();
            let want = if name == col::IMAGE {
                "UNCOMPRESSED"
            } else {
                "ZSTD"
            };
            assert!(
                c.compression().to_string().starts_with(want),
                "{name}: {}",
                c.compression()
            );
        }
    }
}
