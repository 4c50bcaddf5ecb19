//! `manifest.json`: the commit point of a dataset. Written last; names only complete shards.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::store::Store;
use crate::{Error, Result};

/// The manifest's path relative to the dataset root.
pub const MANIFEST_PATH: &str = "manifest.json";
/// The quarantine table's path relative to the dataset root.
pub const QUARANTINE_PATH: &str = "quarantine.parquet";

/// One shard as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardEntry {
    /// Path relative to the dataset root.
    pub path: String,
    /// The split all its rows belong to.
    pub split: String,
    /// Number of rows.
    pub rows: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// Hex SHA-256 of the file, or of its segments' hashes (see [`ShardEntry::sha256_of`]).
    pub sha256: String,
    /// What `sha256` hashes. Absent (the whole file) in manifests written before segment
    /// hashing; `segments` since, which needs one pass over the bytes instead of two.
    #[serde(default, skip_serializing_if = "ShardHash::is_file")]
    pub sha256_of: ShardHash,
    /// Rows of each row group, in order.
    pub row_groups: Vec<u64>,
    /// Hex SHA-256 of each row group's bytes (see [`crate::row_group_range`]), in order, so a
    /// reader can check one row group without reading the whole shard. Empty in manifests
    /// written before it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub row_group_sha256: Vec<String>,
    /// Hex SHA-256 of the footer (everything after the last row group). Empty when absent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub footer_sha256: String,
}

/// What a shard's `sha256` is the hash of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShardHash {
    /// The file's bytes, in one piece.
    #[default]
    File,
    /// The concatenated 32-byte SHA-256 digests of the file's segments, in file order: the
    /// leading magic (4 bytes), each row group, and the footer (everything after the last
    /// row group). The segments tile the file, so this covers every byte exactly once, and it
    /// is computed from the same pass that yields `row_group_sha256` and `footer_sha256`.
    Segments,
}

impl ShardHash {
    /// Whether this is [`ShardHash::File`] (left out of the JSON).
    pub fn is_file(&self) -> bool {
        *self == ShardHash::File
    }
}

impl ShardEntry {
    /// Whether the entry carries per-row-group and footer hashes.
    pub fn has_block_hashes(&self) -> bool {
        self.row_group_sha256.len() == self.row_groups.len() && !self.footer_sha256.is_empty()
    }

    /// Whether verifying the shard hashes its segments (row groups and footer): it has block
    /// hashes, or its `sha256` is over them.
    pub fn hashes_segments(&self) -> bool {
        self.has_block_hashes() || self.sha256_of == ShardHash::Segments
    }
}

/// Totals of one split.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitStats {
    /// Rows in the split.
    pub rows: u64,
    /// Shards of the split.
    pub shards: u64,
    /// Bytes of those shards.
    pub bytes: u64,
}

/// Where the data came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceInfo {
    /// The source root as given (credentials removed).
    pub root: String,
    /// Hex SHA-256 over the metadata files read (path, size and content hash of each).
    pub listing_sha256: String,
    /// The metadata files that hash covers, relative to the root.
    pub files: Vec<String>,
}

/// Rejected inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantineSummary {
    /// Path of the quarantine table, when there is one.
    pub path: Option<String>,
    /// Number of rejected inputs.
    pub rows: u64,
    /// Count per reason code.
    pub by_reason: BTreeMap<String, u64>,
}

/// The description of a complete dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Dataset name (`roco`, `pmc-oa`, ...).
    pub dataset: String,
    /// Shard schema version.
    pub schema_version: u32,
    /// Version of the tool that wrote it.
    pub tool_version: String,
    /// RFC 3339 time of the commit.
    pub created_at: String,
    /// The options the ingest ran with.
    pub ingest_options: serde_json::Value,
    /// Where the data came from.
    pub source: SourceInfo,
    /// Names of the entries of the `labels` column.
    pub label_names: Vec<String>,
    /// Input records read: rows plus quarantined.
    pub inputs: u64,
    /// Totals per split.
    pub splits: BTreeMap<String, SplitStats>,
    /// Every shard, in split then index order.
    pub shards: Vec<ShardEntry>,
    /// Rejected inputs.
    pub quarantine: QuarantineSummary,
}

impl Manifest {
    /// Total rows over all splits.
    pub fn rows(&self) -> u64 {
        self.splits.values().map(|s| s.rows).sum()
    }

    /// Recomputes the per-split totals from the shard list.
    pub fn split_stats(shards: &[ShardEntry]) -> BTreeMap<String, SplitStats> {
        let mut out: BTreeMap<String, SplitStats> = BTreeMap::new();
        for s in shards {
            let e = out.entry(s.split.clone()).or_default();
            e.rows += s.rows;
            e.shards += 1;
            e.bytes += s.bytes;
        }
        out
    }

    /// Checks that the totals agree with the shard list and the input count.
    pub fn check(&self) -> Result<()> {
        let bad = |reason: String| Error::BadManifest {
            path: MANIFEST_PATH.into(),
            reason,
        };
        if self.schema_version == 0 || self.schema_version > crate::SCHEMA_VERSION {
            return Err(bad(format!(
                "schema version {} is not one this unimlip reads (it reads up to {}): written by a newer unimlip ({})",
                self.schema_version,
                crate::SCHEMA_VERSION,
                self.tool_version
            )));
        }
        let derived = Self::split_stats(&self.shards);
        for (name, s) in &self.splits {
            if s.rows > 0 && derived.get(name) != Some(s) {
                return Err(bad(format!("split `{name}` totals differ from its shards")));
            }
        }
        for s in &self.shards {
            if !s.row_group_sha256.is_empty() && s.row_group_sha256.len() != s.row_groups.len() {
                return Err(bad(format!(
                    "`{}`: {} row-group hashes for {} row groups",
                    s.path,
                    s.row_group_sha256.len(),
                    s.row_groups.len()
                )));
            }
            if s.sha256_of == ShardHash::Segments && !s.has_block_hashes() {
                return Err(bad(format!(
                    "`{}`: its sha256 is over segment hashes, but the segment hashes are missing",
                    s.path
                )));
            }
            if s.row_groups.iter().sum::<u64>() != s.rows {
                return Err(bad(format!(
                    "`{}`: row groups do not add up to rows",
                    s.path
                )));
            }
        }
        if self.rows() + self.quarantine.rows != self.inputs {
            return Err(bad(format!(
                "{} rows + {} quarantined != {} inputs",
                self.rows(),
                self.quarantine.rows,
                self.inputs
            )));
        }
        Ok(())
    }

    /// Reads and checks the manifest of a dataset root.
    pub fn load(store: &Store) -> Result<Manifest> {
        let bytes = store.get(MANIFEST_PATH)?;
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::BadManifest {
            path: format!("{}/{MANIFEST_PATH}", store.url()),
            reason: e.to_string(),
        })?;
        m.check()?;
        Ok(m)
    }

    /// Reads the manifest if the root has one.
    pub fn load_opt(store: &Store) -> Result<Option<Manifest>> {
        match store.get_opt(MANIFEST_PATH)? {
            None => Ok(None),
            Some(_) => Self::load(store).map(Some),
        }
    }

    /// Writes the manifest in one atomic PUT: the commit.
    pub fn commit(&self, store: &Store) -> Result<()> {
        self.check()?;
        let mut text = serde_json::to_vec_pretty(self).expect("manifest serialises");
        text.push(b'\n');
        store.put(MANIFEST_PATH, text)
    }
}

/// The current time as RFC 3339, seconds precision.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(split: &str, rows: u64) -> ShardEntry {
        ShardEntry {
            path: format!("shards/{split}-00000.parquet"),
            split: split.into(),
            rows,
            bytes: 10,
            sha256: "00".into(),
            sha256_of: ShardHash::File,
            row_groups: vec![rows],
            row_group_sha256: vec![],
            footer_sha256: String::new(),
        }
    }

    fn manifest() -> Manifest {
        let shards = vec![entry("train", 3), entry("test", 2)];
        Manifest {
            dataset: "roco".into(),
            schema_version: 1,
            tool_version: "0".into(),
            created_at: now_rfc3339(),
            ingest_options: serde_json::json!({}),
            source: SourceInfo::default(),
            label_names: vec![],
            inputs: 6,
            splits: Manifest::split_stats(&shards),
            shards,
            quarantine: QuarantineSummary {
                path: None,
                rows: 1,
                by_reason: [("missing-image".to_string(), 1)].into(),
            },
        }
    }

    #[test]
    fn counts_must_add_up() {
        let mut m = manifest();
        m.check().unwrap();
        m.inputs = 7;
        assert!(m.check().unwrap_err().to_string().contains("!= 7 inputs"));
    }

    #[test]
    fn round_trip_through_store_and_unknown_fields_rejected() {
        let s = Store::open("memory://manifest-test/ds").unwrap();
        let m = manifest();
        m.commit(&s).unwrap();
        assert_eq!(Manifest::load(&s).unwrap(), m);
        let mut v: serde_json::Value = serde_json::to_value(&m).unwrap();
        v["surprise"] = 1.into();
        s.put(MANIFEST_PATH, serde_json::to_vec(&v).unwrap())
            .unwrap();
        assert!(Manifest::load(&s).is_err());
    }
}
