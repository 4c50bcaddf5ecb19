//! The split recipes: pure functions from the dataset's metadata rows to (id, part) lists.

use std::collections::{BTreeMap, HashMap};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::policy::Policy;
use super::{Rounding, SplitRow};
use crate::scan::MetaRow;

/// Frontal views: CheXpert `Frontal`, MIMIC / NIH `PA` and `AP`.
pub fn is_frontal(view: Option<&str>) -> bool {
    matches!(
        view.map(str::to_ascii_lowercase).as_deref(),
        Some("frontal" | "pa" | "ap")
    )
}

/// A seeded permutation of `pool` (sorted by id first, so the input order does not matter).
pub fn shuffled(mut pool: Vec<&MetaRow>, seed: u64) -> Vec<&MetaRow> {
    pool.sort_by(|a, b| a.id.cmp(&b.id));
    pool.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    pool
}

/// The official splits as stored.
pub fn official(rows: &[MetaRow]) -> Vec<SplitRow> {
    rows.iter()
        .map(|r| SplitRow::new(&r.id, &r.split))
        .collect()
}

/// Parameters of the low-data recipe.
pub struct LowData {
    /// Share of the training pool kept.
    pub fraction: f64,
    /// Seed of the subset draw.
    pub seed: u64,
    /// Only frontal views (every part).
    pub frontal_only: bool,
    /// How the subset size is rounded.
    pub rounding: Rounding,
    /// Label policy and the dataset's label names.
    pub policy: Policy,
    /// The dataset's label names.
    pub label_names: Vec<String>,
    /// The official split that is the training pool.
    pub pool_split: String,
}

/// The subset of the training pool plus the official validation and test parts, with targets.
pub fn lowdata(rows: &[MetaRow], p: &LowData) -> Vec<SplitRow> {
    let keep =
        |r: &&MetaRow| (!p.frontal_only || is_frontal(r.view.as_deref())) && r.labels.is_some();
    let pool: Vec<&MetaRow> = rows
        .iter()
        .filter(|r| r.split == p.pool_split)
        .filter(keep)
        .collect();
    let k = p
        .rounding
        .apply(pool.len() as f64 * p.fraction)
        .min(pool.len());
    let mut chosen: Vec<&MetaRow> = shuffled(pool, p.seed).into_iter().take(k).collect();
    chosen.sort_by(|a, b| a.id.cmp(&b.id));
    let target = |r: &MetaRow| {
        p.policy.map(
            &p.label_names,
            r.labels.as_deref().expect("kept rows have labels"),
        )
    };
    let mut out: Vec<SplitRow> = chosen
        .iter()
        .map(|r| SplitRow::new(&r.id, "train").with_labels(target(r)))
        .collect();
    let mut rest: Vec<&MetaRow> = rows
        .iter()
        .filter(|r| r.split != p.pool_split && matches!(r.split.as_str(), "validation" | "test"))
        .filter(keep)
        .collect();
    rest.sort_by(|a, b| (&a.split, &a.id).cmp(&(&b.split, &b.id)));
    out.extend(
        rest.iter()
            .map(|r| SplitRow::new(&r.id, &r.split).with_labels(target(r))),
    );
    out
}

/// Normalises a listed name for matching: no CR, no extension, `\` as `/`.
fn normalise(name: &str) -> String {
    let n = name.trim().replace('\\', "/");
    match n.rsplit_once('.') {
        Some((stem, ext)) if !ext.contains('/') && ext.len() <= 4 => stem.to_string(),
        _ => n,
    }
}

/// Adopts published id lists (`part` → file text). A line's first token (up to whitespace or a
/// comma) is matched to an id exactly, or by dropping leading folders one at a time (CheXNet, MRM and
/// REFERS lists differ in prefixes and line endings). Returns the rows and the unmatched names.
pub fn from_file(rows: &[MetaRow], files: &[(String, String)]) -> (Vec<SplitRow>, Vec<String>) {
    let ids: HashMap<&str, &str> = rows
        .iter()
        .map(|r| (r.id.as_str(), r.id.as_str()))
        .collect();
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for (part, text) in files {
        for line in text.lines() {
            let Some(token) = line
                .split(|c: char| c.is_whitespace() || c == ',')
                .find(|t| !t.is_empty())
            else {
                continue;
            };
            let name = normalise(token);
            let found = std::iter::once(name.as_str())
                .chain(name.match_indices('/').map(|(i, _)| &name[i + 1..]))
                .find_map(|cand| ids.get(cand));
            match found {
                Some(id) => out.push(SplitRow::new(id, part)),
                None => missing.push(token.to_string()),
            }
        }
    }
    (out, missing)
}

/// Whitespace collapsed to single spaces.
pub fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// ROCO retrieval pairs (M3AE-style): radiology test rows whose collapsed caption has at least
/// three words, seeded permutation, the first `n` distinct rows.
pub fn roco_2000(rows: &[MetaRow], n: usize, seed: u64) -> Vec<SplitRow> {
    let pool: Vec<&MetaRow> = rows
        .iter()
        .filter(|r| r.split == "test" && r.subset.as_deref() == Some("radiology"))
        .filter(|r| {
            r.caption
                .as_deref()
                .is_some_and(|c| c.split_whitespace().count() >= 3)
        })
        .collect();
    shuffled(pool, seed)
        .into_iter()
        .take(n)
        .map(|r| {
            SplitRow::new(&r.id, "test").with_caption(collapse(r.caption.as_deref().unwrap_or("")))
        })
        .collect()
}

/// PMC-CLIP's `--test-2000`: `n` draws *with replacement* from the radiology test rows
/// (NumPy's `np.random.choice(range(N), 2000)` semantics; duplicates expected).
pub fn pmc_clip_compat(rows: &[MetaRow], n: usize, seed: u64) -> Vec<SplitRow> {
    let mut pool: Vec<&MetaRow> = rows
        .iter()
        .filter(|r| r.split == "test" && r.subset.as_deref() == Some("radiology"))
        .collect();
    pool.sort_by(|a, b| a.id.cmp(&b.id));
    if pool.is_empty() {
        return Vec::new();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let r = pool[rng.random_range(0..pool.len())];
            SplitRow::new(&r.id, "test").with_caption(r.caption.clone().unwrap_or_default())
        })
        .collect()
}

/// Patients that appear both in `train` and in another part.
pub fn patient_overlap(meta: &[MetaRow], split: &[SplitRow]) -> Vec<String> {
    let patient: HashMap<&str, &str> = meta
        .iter()
        .filter_map(|r| Some((r.id.as_str(), r.patient_id.as_deref()?)))
        .collect();
    let mut parts: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for s in split {
        if let Some(p) = patient.get(s.id.as_str()) {
            parts
                .entry(if s.part == "train" { "train" } else { "other" })
                .or_default()
                .insert(p);
        }
    }
    match (parts.get("train"), parts.get("other")) {
        (Some(a), Some(b)) => a.intersection(b).map(|s| s.to_string()).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, split: &str, patient: &str, view: &str) -> MetaRow {
        MetaRow {
            id: id.into(),
            split: split.into(),
            subset: Some("radiology".into()),
            caption: Some(format!("caption  of {id}")),
            labels: Some(vec![1.0, -1.0, f32::NAN]),
            patient_id: Some(patient.into()),
            view: Some(view.into()),
        }
    }

    #[test]
    fn from_file_matches_across_prefixes_extensions_and_crlf() {
        let rows = vec![
            row("00028178_000", "all", "1", "PA"),
            row(
                "train/patient00001/study1/view1_frontal",
                "train",
                "p",
                "Frontal",
            ),
        ];
        let files = vec![(
            "train".to_string(),
            "images_012/00028178_000.png 0 0 1\r\nCheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,1\r\nnope.png 1\n".to_string(),
        )];
        let (got, missing) = from_file(&rows, &files);
        assert_eq!(
            got.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["00028178_000", "train/patient00001/study1/view1_frontal"]
        );
        assert_eq!(missing, ["nope.png"]);
    }

    #[test]
    fn lowdata_is_seeded_sorted_frontal_and_sized_by_rounding() {
        let mut rows: Vec<MetaRow> = (0..200)
            .map(|i| {
                row(
                    &format!("t{i:03}"),
                    "train",
                    &format!("p{i}"),
                    if i % 4 == 0 { "Lateral" } else { "Frontal" },
                )
            })
            .collect();
        rows.push(row("v1", "validation", "q", "Frontal"));
        let p = LowData {
            fraction: 0.1,
            seed: 7,
            frontal_only: true,
            rounding: Rounding::Floor,
            policy: Policy::UOnes,
            label_names: vec!["a".into(), "b".into(), "c".into()],
            pool_split: "train".into(),
        };
        let a = lowdata(&rows, &p);
        let train: Vec<_> = a.iter().filter(|r| r.part == "train").collect();
        assert_eq!(train.len(), 15, "floor(150 * 0.1)");
        assert!(train.windows(2).all(|w| w[0].id < w[1].id));
        assert_eq!(train[0].labels.as_deref(), Some(&[1.0, 1.0, 0.0][..]));
        assert_eq!(a.last().unwrap().part, "validation");
        let b = lowdata(&rows, &LowData { seed: 8, ..p });
        assert_ne!(a, b);
        assert!(patient_overlap(&rows, &a).is_empty());
    }

    #[test]
    fn roco_pairs_filter_and_collapse() {
        let mut rows = vec![row("a", "test", "", ""), row("b", "train", "", "")];
        rows.push(MetaRow {
            caption: Some("two words".into()),
            ..row("c", "test", "", "")
        });
        let got = roco_2000(&rows, 10, 0);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].caption.as_deref(), Some("caption of a"));
        assert_eq!(pmc_clip_compat(&rows, 5, 0).len(), 5);
    }
}
