//! Checkpoints: weights (safetensors, PMC-CLIP names), optimiser state, and a JSON state with the
//! step, the reader's cursor and whatever the loop needs to continue exactly. Written to any
//! store URL or folder as `step-NNNNNNNN/{weights,optimizer}.safetensors` + `state.json`, then
//! `latest.json` names it (the commit point: a checkpoint is never seen half written). The last
//! `keep` checkpoints are kept.

use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::{Tensor, nn};
use unimlip_shards::Store;

use crate::Error;
use crate::optim::AdamW;

/// What a checkpoint holds besides tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Optimiser steps taken.
    pub step: i64,
    /// Free-form loop state (epoch, reader cursor, seeds), kept as JSON.
    pub extra: serde_json::Value,
}

fn step_dir(step: i64) -> String {
    format!("step-{step:08}")
}

fn tensors_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Tensors {
        path: path.display().to_string(),
        cause: crate::torch_message(&e),
    }
}

/// Writes a checkpoint under `url` and drops all but the newest `keep`.
pub fn save(
    url: &str,
    vs: &nn::VarStore,
    opt: &AdamW,
    state: &State,
    keep: usize,
) -> Result<(), Error> {
    let store = Store::open(url)?;
    let tmp = unimlip_shards::scratch::scratch_dir("ckpt")
        .map_err(|e| tensors_err(Path::new("<tempdir>"), e))?;
    let dir = step_dir(state.step);
    let weights = tmp.path().join("weights.safetensors");
    vs.save(&weights).map_err(|e| tensors_err(&weights, e))?;
    let optim = tmp.path().join("optimizer.safetensors");
    let (named, _) = opt.state();
    Tensor::write_safetensors(&named, &optim).map_err(|e| tensors_err(&optim, e))?;
    store.put_file_moving(&format!("{dir}/weights.safetensors"), &weights)?;
    store.put_file_moving(&format!("{dir}/optimizer.safetensors"), &optim)?;
    let json = serde_json::to_vec_pretty(state).expect("state serialises");
    store.put(&format!("{dir}/state.json"), json)?;
    store.put(
        "latest.json",
        serde_json::to_vec(&serde_json::json!({ "dir": dir })).expect("json"),
    )?;
    let mut dirs: Vec<String> = store
        .list("")?
        .into_iter()
        .filter_map(|l| l.path.split('/').next().map(str::to_string))
        .filter(|d| d.starts_with("step-"))
        .collect();
    dirs.sort();
    dirs.dedup();
    let stale = dirs.len().saturating_sub(keep.max(1));
    for d in &dirs[..stale] {
        for f in store.list(d)? {
            store.delete(&f.path)?;
        }
    }
    Ok(())
}

/// The folder `latest.json` names under a checkpoints store; `None` before the first checkpoint.
pub fn latest_dir(store: &Store) -> Result<Option<String>, Error> {
    let Some(latest) = store.get_opt("latest.json")? else {
        return Ok(None);
    };
    let url = store.url();
    let v: serde_json::Value = serde_json::from_slice(&latest)
        .map_err(|e| Error::Mismatch(format!("{url}/latest.json: {e}")))?;
    let dir = v["dir"]
        .as_str()
        .ok_or_else(|| Error::Mismatch(format!("{url}/latest.json names no checkpoint")))?;
    Ok(Some(dir.to_string()))
}

/// Loads the newest checkpoint under `url` into `vs` and `opt`; `None` when there is none.
pub fn load_latest(
    url: &str,
    vs: &mut nn::VarStore,
    opt: &mut AdamW,
) -> Result<Option<State>, Error> {
    let store = Store::open_existing(url)?;
    let Some(dir) = latest_dir(&store)? else {
        return Ok(None);
    };
    let tmp = unimlip_shards::scratch::scratch_dir("ckpt")
        .map_err(|e| tensors_err(Path::new("<tempdir>"), e))?;
    let fetch = |name: &str| -> Result<std::path::PathBuf, Error> {
        let p = tmp.path().join(name);
        let bytes = store.get(&format!("{dir}/{name}"))?;
        std::fs::write(&p, &bytes).map_err(|e| tensors_err(&p, e))?;
        Ok(p)
    };
    let weights = fetch("weights.safetensors")?;
    vs.load(&weights).map_err(|e| tensors_err(&weights, e))?;
    let optim = fetch("optimizer.safetensors")?;
    let named = Tensor::read_safetensors(&optim).map_err(|e| tensors_err(&optim, e))?;
    let state: State = serde_json::from_slice(&store.get(&format!("{dir}/state.json"))?)
        .map_err(|e| Error::Mismatch(format!("{url}/{dir}/state.json: {e}")))?;
    opt.load_state(&named, state.step)
        .map_err(|e| Error::Mismatch(format!("{url}/{dir}: {e}")))?;
    Ok(Some(state))
}

/// Removes what a killed run left of checkpoints it never committed: step folders newer than
/// the one `latest.json` names (or all, before the first commit), and temporary files of dead
/// processes. Returns how many objects went.
pub fn remove_uncommitted(url: &str) -> Result<usize, Error> {
    let store = Store::open(url)?;
    if let Some(root) = store.local_root() {
        unimlip_shards::durable::remove_stale_tmp(root);
    }
    let latest = latest_dir(&store)?;
    let mut removed = 0;
    for f in store.list("")? {
        let dir = f.path.split('/').next().unwrap_or("");
        if dir.starts_with("step-") && latest.as_deref().is_none_or(|l| dir > l) {
            store.delete(&f.path)?;
            removed += 1;
        }
    }
    if let Some(root) = store.local_root() {
        // Empty step folders left by the deletes above.
        if let Ok(entries) = std::fs::read_dir(root) {
            for e in entries.flatten() {
                let _ = std::fs::remove_dir(e.path());
            }
        }
    }
    Ok(removed)
}

/// `<out>/checkpoints`.
pub fn checkpoints_url(out: &str) -> String {
    format!("{}/checkpoints", out.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::losses::Weights;
    use crate::model::{ModelConfig, UniMlip};
    use crate::optim::{AdamWConfig, cosine_lr};
    use crate::step::{RandomBatch, Switches, losses_single};
    use tch::Device;

    fn train(m: &UniMlip, opt: &mut AdamW, from: i64, to: i64) {
        for step in from..to {
            // Every random draw of a step comes from a seed that is a function of the step, so
            // a resumed run draws exactly what an uninterrupted one does.
            tch::manual_seed(1000 + step);
            let data = RandomBatch::new(4);
            let l = losses_single(m, &data.input(), Switches::all(), Weights::default(), true);
            opt.zero_grad();
            l.total.backward();
            opt.step(cosine_lr(1e-3, step, 2, 8)).unwrap();
        }
    }

    fn fresh(seed: i64) -> (nn::VarStore, UniMlip, AdamW) {
        tch::manual_seed(seed);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = UniMlip::new(&vs, &ModelConfig::tiny());
        let opt = AdamW::new(&vs, AdamWConfig::default());
        (vs, m, opt)
    }

    #[test]
    fn a_resumed_run_reaches_bit_identical_weights() {
        let _rng = crate::rng_lock();
        let (vs, m, mut opt) = fresh(7);
        train(&m, &mut opt, 0, 6);

        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("ckpt").display().to_string();
        let (vs1, m1, mut opt1) = fresh(7);
        train(&m1, &mut opt1, 0, 3);
        for step in [1i64, 2, 3] {
            let st = State {
                step,
                extra: serde_json::json!({ "cursor": step * 4 }),
            };
            save(&url, &vs1, &opt1, &st, 2).unwrap();
        }
        drop((vs1, m1, opt1));

        // Another initialisation: everything must come from the checkpoint.
        let (mut vs2, m2, mut opt2) = fresh(99);
        let st = load_latest(&url, &mut vs2, &mut opt2).unwrap().unwrap();
        assert_eq!(st.step, 3);
        assert_eq!(st.extra["cursor"], 12);
        assert_eq!(opt2.steps(), 3);
        train(&m2, &mut opt2, 3, 6);

        let (a, b) = (vs.variables(), vs2.variables());
        assert_eq!(a.len(), b.len());
        for (name, t) in &a {
            assert!(t.equal(&b[name]), "{name} differs after resume");
        }
        // Only the newest two checkpoints are kept.
        let kept: Vec<_> = std::fs::read_dir(dir.path().join("ckpt"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with("step-"))
            .collect();
        assert_eq!(kept.len(), 2, "{kept:?}");
    }
}
