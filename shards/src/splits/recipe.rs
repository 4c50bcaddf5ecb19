//! A split recipe as a value: what `unimlip splits` asks for, checked, built against a committed
//! dataset into rows plus the provenance JSON that goes beside them, and written.

use serde_json::json;

use super::{
    LowData, Policy, Rounding, SplitInfo, SplitRow, counts, from_file, ids_hash, lowdata, official,
    patient_overlap, pmc_clip_compat, roco_2000, write_split,
};
use crate::manifest::{MANIFEST_PATH, Manifest};
use crate::scan::{MetaRow, scan_meta};
use crate::store::Store;
use crate::verify::sha256_hex;
use crate::{Error, Result};

/// The datasets the low-data recipe applies to.
const CXR: [&str; 3] = ["mimic-cxr", "chexpert", "nih-cxr14"];

/// What a recipe is asked with, as given on the command line (checked by [`Recipe::build`]).
#[derive(Debug, Clone, Default)]
pub struct RecipeOptions {
    /// Share of the training pool kept (lowdata).
    pub fraction: Option<f64>,
    /// Random seed (each recipe has a default).
    pub seed: Option<u64>,
    /// Uncertainty policy (lowdata): `u-ones`, `u-zeros` or `chexpert-mixed5`.
    pub policy: String,
    /// Views kept (lowdata): `frontal` or `all`.
    pub views: String,
    /// Subset size rounding (lowdata): `floor` or `round`.
    pub rounding: String,
    /// Published id lists as `PART=PATH` (from-file).
    pub files: Vec<String>,
    /// Number of pairs (roco-2000, pmc-clip-compat).
    pub n: Option<usize>,
    /// Split name; each recipe has a default.
    pub name: Option<String>,
    /// Allow a patient in both train and another part.
    pub allow_patient_overlap: bool,
}

/// A split recipe by name with its options.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// `official`, `lowdata`, `from-file`, `roco-2000` or `pmc-clip-compat`.
    pub recipe: String,
    /// Its options.
    pub options: RecipeOptions,
}

/// A recipe's output before it is written: the rows and what goes into the `.json`.
#[derive(Debug)]
pub struct BuiltSplit {
    /// Split name (file stem).
    pub name: String,
    /// The rows, in order.
    pub rows: Vec<SplitRow>,
    /// Recipe parameters (provenance).
    pub params: serde_json::Value,
    /// Names of the target vector, when the split has targets.
    pub label_names: Option<Vec<String>>,
    /// Anything a user should know.
    pub notes: Vec<String>,
}

fn bad(reason: impl Into<String>) -> Error {
    Error::Recipe(reason.into())
}

fn ensure(ok: bool, reason: impl FnOnce() -> String) -> Result<()> {
    if ok { Ok(()) } else { Err(bad(reason())) }
}

impl Recipe {
    /// Builds the split on `store`'s committed dataset, checks it (not empty; no patient in
    /// train and another part unless allowed) and writes `splits/<name>.{parquet,json}`.
    pub fn run(&self, store: &Store, manifest: &Manifest) -> Result<SplitInfo> {
        let manifest_hash = sha256_hex(&store.get(MANIFEST_PATH)?);
        let meta = scan_meta(store, manifest)?;
        let built = self.build(manifest, &meta)?;
        let name = &built.name;
        ensure(!built.rows.is_empty(), || {
            format!(
                "split `{name}` is empty: no row of {} fits recipe `{}`",
                manifest.dataset, self.recipe
            )
        })?;
        let overlap = patient_overlap(&meta, &built.rows);
        ensure(
            overlap.is_empty() || self.options.allow_patient_overlap,
            || {
                format!(
                    "split `{name}`: {} patients are in both train and another part (e.g. {}); pass --allow-patient-overlap if the recipe allows it",
                    overlap.len(),
                    overlap
                        .iter()
                        .take(3)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        )?;
        let info = SplitInfo {
            name: built.name.clone(),
            recipe: self.recipe.clone(),
            dataset: manifest.dataset.clone(),
            params: built.params,
            input_manifest_sha256: manifest_hash,
            ids_sha256: ids_hash(&built.rows),
            counts: counts(&built.rows),
            label_names: built.label_names,
            notes: built.notes,
        };
        write_split(store, &built.rows, &info)?;
        Ok(info)
    }

    /// The rows and provenance of this recipe over a dataset's metadata.
    pub fn build(&self, m: &Manifest, meta: &[MetaRow]) -> Result<BuiltSplit> {
        let o = &self.options;
        let named = |default: String| o.name.clone().unwrap_or(default);
        match self.recipe.as_str() {
            "official" => Ok(BuiltSplit {
                name: named("official".into()),
                rows: official(meta),
                params: json!({}),
                label_names: None,
                notes: vec![],
            }),
            "lowdata" => self.low_data(m, meta),
            "from-file" => self.listed(meta),
            "roco-2000" | "pmc-clip-compat" => self.roco(m, meta),
            other => Err(bad(format!(
                "unknown recipe `{other}` (known: official, lowdata, from-file, roco-2000, pmc-clip-compat)"
            ))),
        }
    }

    fn roco(&self, m: &Manifest, meta: &[MetaRow]) -> Result<BuiltSplit> {
        let (o, recipe) = (&self.options, self.recipe.as_str());
        ensure(m.dataset == "roco", || {
            format!("recipe `{recipe}` needs a roco dataset, not {}", m.dataset)
        })?;
        let strict = recipe == "roco-2000";
        let n = o.n.unwrap_or(2000);
        let seed = o.seed.unwrap_or(if strict { 42 } else { 0 });
        let rows = if strict {
            roco_2000(meta, n, seed)
        } else {
            pmc_clip_compat(meta, n, seed)
        };
        let mut notes = vec![];
        if rows.len() < n {
            notes.push(format!(
                "only {} eligible pairs, fewer than {n}",
                rows.len()
            ));
        }
        Ok(BuiltSplit {
            name: o.name.clone().unwrap_or_else(|| recipe.to_string()),
            rows,
            params: json!({"n": n, "seed": seed, "replacement": !strict, "min_words": 3, "subset": "radiology", "source_split": "test"}),
            label_names: None,
            notes,
        })
    }

    fn low_data(&self, m: &Manifest, meta: &[MetaRow]) -> Result<BuiltSplit> {
        let o = &self.options;
        ensure(CXR.contains(&m.dataset.as_str()), || {
            format!(
                "recipe `lowdata` is for {}, not {}",
                CXR.join(", "),
                m.dataset
            )
        })?;
        let fraction = o.fraction.ok_or_else(|| {
            bad("recipe `lowdata` needs --fraction (for example 0.01, 0.1 or 1.0)")
        })?;
        ensure(fraction > 0.0 && fraction <= 1.0, || {
            format!("--fraction must be in (0, 1], not {fraction}")
        })?;
        let policy = Policy::parse(&o.policy).ok_or_else(|| {
            bad(format!(
                "unknown --policy `{}` (u-ones, u-zeros, chexpert-mixed5)",
                o.policy
            ))
        })?;
        let rounding = Rounding::parse(&o.rounding).ok_or_else(|| {
            bad(format!(
                "unknown --rounding `{}` (floor, round)",
                o.rounding
            ))
        })?;
        ensure(m.splits.contains_key("train"), || {
            format!(
                "{} has no `train` split to sample from (NIH without train_val_list.txt: adopt the CheXNet lists with --recipe from-file)",
                m.dataset
            )
        })?;
        let frontal_only = match o.views.as_str() {
            "frontal" => true,
            "all" => false,
            v => return Err(bad(format!("unknown --views `{v}` (frontal, all)"))),
        };
        let label_names = policy.names(&m.label_names).map_err(bad)?;
        let seed = o.seed.unwrap_or(0);
        let p = LowData {
            fraction,
            seed,
            frontal_only,
            rounding,
            policy,
            label_names: m.label_names.clone(),
            pool_split: "train".into(),
        };
        let params = json!({
            "fraction": fraction, "seed": seed, "views": o.views, "rounding": rounding, "policy": policy.name(),
            "sampling": "image-level; ids sorted, ChaCha8 shuffle, first k, re-sorted", "pool": "official train split, rows with labels",
        });
        Ok(BuiltSplit {
            name: o
                .name
                .clone()
                .unwrap_or_else(|| format!("lowdata-{fraction}")),
            rows: lowdata(meta, &p),
            params,
            label_names: Some(label_names),
            notes: vec![],
        })
    }

    fn listed(&self, meta: &[MetaRow]) -> Result<BuiltSplit> {
        let o = &self.options;
        let name = o
            .name
            .clone()
            .ok_or_else(|| bad("recipe `from-file` needs --name"))?;
        ensure(!o.files.is_empty(), || {
            "recipe `from-file` needs at least one --file PART=PATH".into()
        })?;
        let mut files = Vec::new();
        let mut sources = Vec::new();
        for spec in &o.files {
            let (part, path) = spec.split_once('=').unwrap_or(("train", spec.as_str()));
            let text = std::fs::read_to_string(path)
                .map_err(|e| bad(format!("cannot read {path}: {e}")))?;
            sources
                .push(json!({"part": part, "file": path, "sha256": sha256_hex(text.as_bytes())}));
            files.push((part.to_string(), text));
        }
        let (rows, missing) = from_file(meta, &files);
        let mut notes = Vec::new();
        if !missing.is_empty() {
            let ex: Vec<_> = missing.iter().take(3).cloned().collect();
            notes.push(format!(
                "{} listed names match no row (e.g. {})",
                missing.len(),
                ex.join(", ")
            ));
        }
        Ok(BuiltSplit {
            name,
            rows,
            params: json!({"files": sources, "unmatched": missing.len()}),
            label_names: None,
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(name: &str) -> Recipe {
        Recipe {
            recipe: name.into(),
            options: RecipeOptions {
                policy: "u-ones".into(),
                views: "frontal".into(),
                rounding: "floor".into(),
                ..RecipeOptions::default()
            },
        }
    }

    fn manifest(dataset: &str) -> Manifest {
        let mut m: Manifest = serde_json::from_value(serde_json::json!({
            "dataset": dataset, "schema_version": 1, "tool_version": "t", "created_at": "t",
            "inputs": 0, "splits": {}, "shards": [], "label_names": [],
            "quarantine": {"path": null, "rows": 0, "by_reason": {}},
            "source": {"root": "r", "files": [], "listing_sha256": ""}, "ingest_options": {}
        }))
        .expect("a minimal manifest");
        m.dataset = dataset.into();
        m
    }

    #[test]
    fn recipes_check_their_dataset_and_options_in_one_line() {
        let err = |r: &Recipe, d: &str| r.build(&manifest(d), &[]).unwrap_err().to_string();
        assert!(err(&recipe("roco-2000"), "chexpert").contains("needs a roco dataset"));
        assert!(err(&recipe("lowdata"), "roco").contains("is for mimic-cxr"));
        assert!(err(&recipe("lowdata"), "chexpert").contains("needs --fraction"));
        assert!(err(&recipe("from-file"), "nih-cxr14").contains("needs --name"));
        assert!(err(&recipe("nope"), "roco").contains("unknown recipe `nope`"));
        let mut r = recipe("lowdata");
        r.options.fraction = Some(1.5);
        assert!(err(&r, "chexpert").contains("(0, 1]"));
    }

    #[test]
    fn roco_recipes_name_their_defaults_in_the_provenance() {
        let b = recipe("roco-2000").build(&manifest("roco"), &[]).unwrap();
        assert_eq!(b.name, "roco-2000");
        assert_eq!(b.params["seed"], 42);
        assert_eq!(b.params["replacement"], false);
        assert!(b.notes[0].contains("only 0 eligible pairs"));
        let c = recipe("pmc-clip-compat")
            .build(&manifest("roco"), &[])
            .unwrap();
        assert_eq!(
            (c.params["seed"].as_u64(), c.params["replacement"].as_bool()),
            (Some(0), Some(true))
        );
    }
}
