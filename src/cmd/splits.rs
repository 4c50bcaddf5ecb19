//! `unimlip splits`: reproducible evaluation splits from a committed dataset.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use unimlip_shards::splits::{Recipe, RecipeOptions};
use unimlip_shards::{Manifest, Store};

use crate::cli::SplitsArgs;

pub fn run(a: SplitsArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let store = Store::open_existing(&a.data)?;
    let manifest =
        Manifest::load(&store).with_context(|| format!("cannot read {}", store.url()))?;
    let recipe = Recipe {
        recipe: a.recipe,
        options: RecipeOptions {
            fraction: a.fraction,
            seed: a.seed,
            policy: a.policy,
            views: a.views,
            rounding: a.rounding,
            files: a.file,
            n: a.n,
            name: a.name,
            allow_patient_overlap: a.allow_patient_overlap,
        },
    };
    let info = recipe.run(&store, &manifest)?;
    if a.json {
        writeln!(out, "{}", serde_json::to_string(&info)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let c: Vec<String> = info
        .counts
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let name = &info.name;
    writeln!(
        out,
        "wrote splits/{name}.parquet and splits/{name}.json ({}; ids sha256 {:.12})",
        c.join(", "),
        info.ids_sha256
    )?;
    for n in &info.notes {
        writeln!(out, "  note: {n}")?;
    }
    Ok(ExitCode::SUCCESS)
}
