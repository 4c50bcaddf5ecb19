//! The resume journal: one small JSON file per uploaded shard under `_ingest/`, written right
//! after the shard. A re-run keeps, per split, the longest run of shards `0..k` whose journal
//! entry matches the current inputs and options and whose bytes still verify, and skips the
//! input records they cover without reading their images again.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use unimlip_shards::{QuarantineEntry, ShardEntry, Store, fetch_verified, read_shard};

use crate::Result;

/// Folder of the journal under the dataset root.
pub const JOURNAL_DIR: &str = "_ingest";

/// What the journal knows of one shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalEntry {
    /// Hash of the inputs and options the shard was made from.
    pub key: String,
    /// The shard.
    pub entry: ShardEntry,
    /// Input records of this split consumed up to and including this shard.
    pub inputs_through: u64,
    /// Records of this split rejected since the previous shard.
    pub quarantine: Vec<QuarantineEntry>,
}

/// The journal path of a shard: `<dir>/<shard file stem>.json`.
pub fn journal_path(dir: &str, shard: &str) -> String {
    let name = shard.rsplit('/').next().unwrap_or(shard);
    format!(
        "{dir}/{}.json",
        name.strip_suffix(".parquet").unwrap_or(name)
    )
}

/// Writes the journal entry of a shard that has just been uploaded.
pub fn record(store: &Store, dir: &str, j: &JournalEntry) -> Result<()> {
    let text = serde_json::to_vec(j).expect("journal serialises");
    store.put(&journal_path(dir, &j.entry.path), text)?;
    Ok(())
}

/// Shards kept from an earlier run of one split.
#[derive(Debug, Default)]
pub struct Kept {
    /// Their journal entries, in index order.
    pub entries: Vec<JournalEntry>,
    /// The ids they hold.
    pub ids: HashSet<String>,
}

impl Kept {
    /// Input records of the split these shards cover.
    pub fn inputs_through(&self) -> u64 {
        self.entries.last().map_or(0, |e| e.inputs_through)
    }
}

/// Loads the reusable shards of every split; journal entries that cannot be reused are removed
/// with their shards.
pub fn load(store: &Store, dir: &str, key: &str) -> Result<BTreeMap<String, Kept>> {
    let mut by_split: BTreeMap<String, Vec<(u32, JournalEntry)>> = BTreeMap::new();
    for listed in store.list(dir)? {
        if is_lease(&listed.path) {
            continue;
        }
        let parsed = store
            .get(&listed.path)
            .ok()
            .and_then(|b| serde_json::from_slice::<JournalEntry>(&b).ok())
            .and_then(|j| index_of(&j.entry.path).map(|i| (i, j)));
        match parsed {
            Some((i, j)) if j.key == key && journal_path(dir, &j.entry.path) == listed.path => {
                by_split
                    .entry(j.entry.split.clone())
                    .or_default()
                    .push((i, j));
            }
            _ => store.delete(&listed.path)?,
        }
    }
    let mut out = BTreeMap::new();
    for (split, mut entries) in by_split {
        entries.sort_by_key(|(i, _)| *i);
        out.insert(split, keep_prefix(store, dir, entries)?);
    }
    Ok(out)
}

fn keep_prefix(store: &Store, dir: &str, entries: Vec<(u32, JournalEntry)>) -> Result<Kept> {
    let mut kept = Kept::default();
    let mut broken = false;
    for (i, j) in entries {
        if !broken
            && i as usize == kept.entries.len()
            && let Ok(bytes) = fetch_verified(store, &j.entry)
        {
            let records = read_shard(&j.entry.path, bytes)?;
            kept.ids.extend(records.into_iter().map(|r| r.id));
            kept.entries.push(j);
            continue;
        }
        broken = true;
        store.delete(&journal_path(dir, &j.entry.path))?;
        store.delete(&j.entry.path)?;
    }
    Ok(kept)
}

/// Whether a path under the journal folder is a writer's lease (not a journal entry).
pub fn is_lease(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|n| n.starts_with("lease") && n.ends_with(".json"))
}

/// The index in a shard path: `shards/train-00012.parquet` → 12.
pub fn index_of(path: &str) -> Option<u32> {
    let stem = path.strip_suffix(".parquet")?;
    stem.rsplit_once('-')?.1.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_from_path() {
        assert_eq!(index_of("shards/train-00012.parquet"), Some(12));
        assert_eq!(index_of("shards/non-radiology-00001.parquet"), Some(1));
        assert_eq!(index_of("shards/x.json"), None);
    }

    #[test]
    fn mismatched_key_is_dropped() {
        let s = Store::open("memory://journal-test/ds").unwrap();
        let entry = ShardEntry {
            path: "shards/train-00000.parquet".into(),
            split: "train".into(),
            rows: 1,
            bytes: 3,
            sha256: unimlip_shards::sha256_hex(b"abc"),
            sha256_of: unimlip_shards::ShardHash::File,
            row_groups: vec![1],
            row_group_sha256: vec![],
            footer_sha256: String::new(),
        };
        s.put(&entry.path, b"abc".to_vec()).unwrap();
        let j = JournalEntry {
            key: "old".into(),
            entry: entry.clone(),
            inputs_through: 1,
            quarantine: vec![],
        };
        record(&s, JOURNAL_DIR, &j).unwrap();
        let kept = load(&s, JOURNAL_DIR, "new").unwrap();
        assert!(kept.is_empty());
        assert!(
            s.get_opt(&journal_path(JOURNAL_DIR, &entry.path))
                .unwrap()
                .is_none()
        );
    }
}
