//! Scale-out ingest: `--partition I/N` processes one of N disjoint parts of the source (one
//! Slurm array task or Kubernetes indexed-Job pod each) and leaves `_parts/part-IIII-of-NNNN.json`;
//! `ingest --commit` merges the parts into one manifest.
//!
//! A record belongs to part `fnv1a(id) mod N`, so duplicates of an id meet in the same part and
//! are caught there; records rejected before an id was read use their position in the stream.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use unimlip_shards::{
    Manifest, QUARANTINE_PATH, QuarantineEntry, QuarantineSummary, Store, encode_quarantine,
    now_rfc3339,
};

use crate::input::Input;
use crate::{Error, Result};

/// Folder of the part files under the dataset root.
pub const PARTS_DIR: &str = "_parts";

/// One of N parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// 0-based part index.
    pub index: u32,
    /// Number of parts.
    pub count: u32,
}

impl std::str::FromStr for Partition {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::InvalidOption {
            option: "--partition",
            reason: format!("`{s}`: expected I/N with 0 <= I < N"),
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Partition { index, count })
    }
}

impl Partition {
    /// The part tag in shard names: `p0001of0003`.
    pub fn tag(&self) -> String {
        format!("p{:04}of{:04}", self.index, self.count)
    }

    /// Whether the `seq`-th input belongs to this part.
    pub fn owns(&self, seq: u64, input: &Input) -> bool {
        let id = match input {
            Input::Ready(p) => Some(p.record.id.as_str()),
            Input::Rejected(q) => q.id.as_deref(),
        };
        let h = id.map_or(seq, |id| fnv1a(id.as_bytes()));
        h % self.count as u64 == self.index as u64
    }

    /// This part's file.
    pub fn path(&self) -> String {
        format!(
            "{PARTS_DIR}/part-{:04}-of-{:04}.json",
            self.index, self.count
        )
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What a finished part leaves for the commit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartFile {
    /// Key of the whole run (dataset, options, source listing): equal in every part.
    pub run_key: String,
    /// Which part.
    pub partition: Partition,
    /// This part's manifest (not committed).
    pub manifest: Manifest,
    /// This part's rejected inputs.
    pub quarantine: Vec<QuarantineEntry>,
}

/// Merges every part's shards into one committed manifest.
pub fn commit_parts(store: &Store) -> Result<Manifest> {
    let lease = super::lease::Lease::acquire(
        store,
        &format!("{}/lease.json", super::journal::JOURNAL_DIR),
        "commit",
        false,
    )?;
    let parts = load_parts(store)?;
    let first = &parts[0];
    let mut shards = Vec::new();
    let mut quarantine = Vec::new();
    for p in &parts {
        shards.extend(p.manifest.shards.iter().cloned());
        quarantine.extend(p.quarantine.iter().cloned());
    }
    shards.sort_by(|a, b| a.path.cmp(&b.path));
    for s in &shards {
        if store.size(&s.path)? != Some(s.bytes) {
            return Err(unimlip_shards::Error::CorruptShard {
                path: s.path.clone(),
                reason: "missing or of the wrong size".into(),
            }
            .into());
        }
    }
    let live: std::collections::HashSet<&str> = shards.iter().map(|s| s.path.as_str()).collect();
    for l in store.list("shards")? {
        if !live.contains(l.path.as_str()) {
            store.delete(&l.path)?;
        }
    }
    let mut by_reason = BTreeMap::new();
    for q in &quarantine {
        *by_reason.entry(q.reason.clone()).or_insert(0) += 1;
    }
    store.put(QUARANTINE_PATH, encode_quarantine(&quarantine)?)?;
    let m = Manifest {
        created_at: now_rfc3339(),
        inputs: shards.iter().map(|s| s.rows).sum::<u64>() + quarantine.len() as u64,
        splits: Manifest::split_stats(&shards),
        shards,
        quarantine: QuarantineSummary {
            path: Some(QUARANTINE_PATH.into()),
            rows: quarantine.len() as u64,
            by_reason,
        },
        ..first.manifest.clone()
    };
    lease.check_held()?;
    m.commit(store)?;
    Ok(m)
}

/// Loads the one complete set of parts. Part files of other runs (another N or other options)
/// may lie beside it; they are ignored, and removed once the commit is made.
fn load_parts(store: &Store) -> Result<Vec<PartFile>> {
    let bad = |reason: String| Error::Layout {
        dataset: "parts",
        src: store.url().to_string(),
        reason,
    };
    let mut groups: BTreeMap<(String, u32), Vec<(String, PartFile)>> = BTreeMap::new();
    for l in store.list(PARTS_DIR)? {
        let bytes = store.get(&l.path)?;
        let p: PartFile =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("{}: {e}", l.path)))?;
        groups
            .entry((p.run_key.clone(), p.partition.count))
            .or_default()
            .push((l.path, p));
    }
    if groups.is_empty() {
        return Err(bad(format!(
            "no {PARTS_DIR}/ files: run the parts with --partition I/N first"
        )));
    }
    let complete: Vec<&(String, u32)> = groups
        .iter()
        .filter(|((_, n), parts)| {
            (0..*n).all(|i| parts.iter().any(|(_, p)| p.partition.index == i))
        })
        .map(|(k, _)| k)
        .collect();
    let key = match complete.as_slice() {
        [one] => (*one).clone(),
        [] => {
            let missing: Vec<String> = groups
                .iter()
                .flat_map(|((_, n), parts)| (0..*n).filter(|i| !parts.iter().any(|(_, p)| p.partition.index == *i)).map(move |i| format!("{i}/{n}")))
                .collect();
            return Err(bad(format!("parts not finished: {}", missing.join(", "))));
        }
        _ => return Err(bad("several complete sets of parts (different options or N); remove the stale ones under _parts/".into())),
    };
    for (k, parts) in &groups {
        if *k != key {
            for (path, _) in parts {
                store.delete(path)?;
            }
        }
    }
    let mut parts: Vec<PartFile> = groups
        .remove(&key)
        .expect("chosen")
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    parts.sort_by_key(|p| p.partition.index);
    parts.dedup_by_key(|p| p.partition.index);
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_ownership_are_disjoint_and_complete() {
        assert!("3/3".parse::<Partition>().is_err());
        assert!("x".parse::<Partition>().is_err());
        let parts: Vec<Partition> = (0..3).map(|i| format!("{i}/3").parse().unwrap()).collect();
        for k in 0..200u64 {
            let input = Input::rejected(
                String::new(),
                Some(format!("id{k}")),
                "train",
                "x",
                String::new(),
            );
            assert_eq!(parts.iter().filter(|p| p.owns(k, &input)).count(), 1);
        }
        assert_eq!(parts[1].tag(), "p0001of0003");
    }
}
