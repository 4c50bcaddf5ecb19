//! `unimlip splits`: reproducible evaluation splits from a committed dataset.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail, ensure};
use serde_json::json;
use unimlip_shards::splits::{self, LowData, Policy, Rounding, SplitInfo, SplitRow};
use unimlip_shards::{MANIFEST_PATH, Manifest, MetaRow, Store, scan_meta, sha256_hex};

use crate::cli::SplitsArgs;

const CXR: [&str; 3] = ["mimic-cxr", "chexpert", "nih-cxr14"];

pub fn run(a: SplitsArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let store = Store::open_existing(&a.data)?;
    let manifest =
        Manifest::load(&store).with_context(|| format!("cannot read {}", store.url()))?;
    let manifest_hash = sha256_hex(&store.get(MANIFEST_PATH)?);
    let meta = scan_meta(&store, &manifest)?;
    let (name, rows, params, label_names, notes) = build(&a, &manifest, &meta)?;
    ensure!(
        !rows.is_empty(),
        "split `{name}` is empty: no row of {} fits recipe `{}`",
        manifest.dataset,
        a.recipe
    );
    let overlap = splits::patient_overlap(&meta, &rows);
    if !overlap.is_empty() && !a.allow_patient_overlap {
        bail!(
            "split `{name}`: {} patients are in both train and another part (e.g. {}); pass --allow-patient-overlap if the recipe allows it",
            overlap.len(),
            overlap
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let info = SplitInfo {
        name: name.clone(),
        recipe: a.recipe.clone(),
        dataset: manifest.dataset.clone(),
        params,
        input_manifest_sha256: manifest_hash,
        ids_sha256: splits::ids_hash(&rows),
        counts: splits::counts(&rows),
        label_names,
        notes,
    };
    splits::write_split(&store, &rows, &info)?;
    if a.json {
        writeln!(out, "{}", serde_json::to_string(&info)?)?;
    } else {
        let c: Vec<String> = info
            .counts
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        writeln!(
            out,
            "wrote splits/{name}.parquet and splits/{name}.json ({}; ids sha256 {:.12})",
            c.join(", "),
            info.ids_sha256
        )?;
        for n in &info.notes {
            writeln!(out, "  note: {n}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

type Built = (
    String,
    Vec<SplitRow>,
    serde_json::Value,
    Option<Vec<String>>,
    Vec<String>,
);

fn build(a: &SplitsArgs, m: &Manifest, meta: &[MetaRow]) -> anyhow::Result<Built> {
    let name = |default: String| a.name.clone().unwrap_or(default);
    match a.recipe.as_str() {
        "official" => Ok((
            name("official".into()),
            splits::official(meta),
            json!({}),
            None,
            vec![],
        )),
        "lowdata" => lowdata(a, m, meta, name),
        "from-file" => from_file(a, meta),
        "roco-2000" | "pmc-clip-compat" => {
            ensure!(
                m.dataset == "roco",
                "recipe `{}` needs a roco dataset, not {}",
                a.recipe,
                m.dataset
            );
            let n = a.n.unwrap_or(2000);
            let seed = a
                .seed
                .unwrap_or(if a.recipe == "roco-2000" { 42 } else { 0 });
            let rows = if a.recipe == "roco-2000" {
                splits::roco_2000(meta, n, seed)
            } else {
                splits::pmc_clip_compat(meta, n, seed)
            };
            let mut notes = vec![];
            if rows.len() < n {
                notes.push(format!(
                    "only {} eligible pairs, fewer than {n}",
                    rows.len()
                ));
            }
            let params = json!({"n": n, "seed": seed, "replacement": a.recipe != "roco-2000", "min_words": 3, "subset": "radiology", "source_split": "test"});
            Ok((name(a.recipe.clone()), rows, params, None, notes))
        }
        other => bail!(
            "unknown recipe `{other}` (known: official, lowdata, from-file, roco-2000, pmc-clip-compat)"
        ),
    }
}

fn lowdata(
    a: &SplitsArgs,
    m: &Manifest,
    meta: &[MetaRow],
    name: impl Fn(String) -> String,
) -> anyhow::Result<Built> {
    ensure!(
        CXR.contains(&m.dataset.as_str()),
        "recipe `lowdata` is for {}, not {}",
        CXR.join(", "),
        m.dataset
    );
    let fraction = a
        .fraction
        .context("recipe `lowdata` needs --fraction (for example 0.01, 0.1 or 1.0)")?;
    ensure!(
        fraction > 0.0 && fraction <= 1.0,
        "--fraction must be in (0, 1], not {fraction}"
    );
    let policy = Policy::parse(&a.policy).with_context(|| {
        format!(
            "unknown --policy `{}` (u-ones, u-zeros, chexpert-mixed5)",
            a.policy
        )
    })?;
    let rounding = Rounding::parse(&a.rounding)
        .with_context(|| format!("unknown --rounding `{}` (floor, round)", a.rounding))?;
    ensure!(
        m.splits.contains_key("train"),
        "{} has no `train` split to sample from (NIH without train_val_list.txt: adopt the CheXNet lists with --recipe from-file)",
        m.dataset
    );
    let frontal_only = match a.views.as_str() {
        "frontal" => true,
        "all" => false,
        v => bail!("unknown --views `{v}` (frontal, all)"),
    };
    let label_names = policy.names(&m.label_names).map_err(anyhow::Error::msg)?;
    let seed = a.seed.unwrap_or(0);
    let p = LowData {
        fraction,
        seed,
        frontal_only,
        rounding,
        policy,
        label_names: m.label_names.clone(),
        pool_split: "train".into(),
    };
    let rows = splits::lowdata(meta, &p);
    let params = json!({
        "fraction": fraction, "seed": seed, "views": a.views, "rounding": rounding, "policy": policy.name(),
        "sampling": "image-level; ids sorted, ChaCha8 shuffle, first k, re-sorted", "pool": "official train split, rows with labels",
    });
    Ok((
        name(format!("lowdata-{fraction}")),
        rows,
        params,
        Some(label_names),
        vec![],
    ))
}

fn from_file(a: &SplitsArgs, meta: &[MetaRow]) -> anyhow::Result<Built> {
    let name = a.name.clone().context("recipe `from-file` needs --name")?;
    ensure!(
        !a.file.is_empty(),
        "recipe `from-file` needs at least one --file PART=PATH"
    );
    let mut files = Vec::new();
    let mut sources = Vec::new();
    for spec in &a.file {
        let (part, path) = spec.split_once('=').unwrap_or(("train", spec.as_str()));
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
        sources.push(json!({"part": part, "file": path, "sha256": sha256_hex(text.as_bytes())}));
        files.push((part.to_string(), text));
    }
    let (rows, missing) = splits::from_file(meta, &files);
    let mut notes = Vec::new();
    if !missing.is_empty() {
        let ex: Vec<_> = missing.iter().take(3).cloned().collect();
        notes.push(format!(
            "{} listed names match no row (e.g. {})",
            missing.len(),
            ex.join(", ")
        ));
    }
    Ok((
        name,
        rows,
        json!({"files": sources, "unmatched": missing.len()}),
        None,
        notes,
    ))
}
