//! `unimlip tokenizer train`: a WordPiece vocabulary from a dataset's captions.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, ensure};
use unimlip_shards::{Manifest, Store, scan_meta};
use unimlip_trainer::train_vocab;

use unimlip::cli::TokenizerTrainArgs;

pub fn train(a: TokenizerTrainArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let store = Store::open_existing(&a.data)?;
    let manifest =
        Manifest::load(&store).with_context(|| format!("cannot read {}", store.url()))?;
    let captions: Vec<String> = scan_meta(&store, &manifest)?
        .into_iter()
        .filter(|r| a.split.contains(&r.split))
        .filter_map(|r| r.caption)
        .filter(|c| !c.trim().is_empty())
        .collect();
    ensure!(
        !captions.is_empty(),
        "{}: no captions in split(s) {}",
        store.url(),
        a.split.join(", ")
    );
    let vocab = train_vocab(captions.iter(), a.vocab_size, a.min_frequency, a.threads)
        .map_err(anyhow::Error::msg)?;
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&a.out, vocab.join("\n") + "\n")
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    writeln!(
        out,
        "{}: {} tokens from {} captions",
        a.out.display(),
        vocab.len(),
        captions.len()
    )?;
    Ok(ExitCode::SUCCESS)
}
