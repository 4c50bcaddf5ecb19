//! The benchmark scripts that CI can run without their hardware: `bench/gpu.sh --dry-run`
//! (everything up to the first CUDA call) and one CPU step of `bench step` replayed by the
//! PyTorch reference's `bench_step.py`.

use std::path::Path;
use std::process::Command;

use super::train::torch_python;
use super::util::{bin, json, ok};

#[test]
fn the_gpu_check_dry_runs_on_the_cpu() {
    let Some(py) = torch_python() else { return };
    let venv = Path::new(&py).parent().unwrap().parent().unwrap();
    let work = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/gpu.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("--dry-run")
        .env("GPU_BIN", bin().parent().unwrap())
        .env("GPU_TORCH", venv)
        .env("GPU_WORK", work.path().join("w"))
        .output()
        .expect("run bench/gpu.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "gpu.sh --dry-run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("dry run"), "{stdout}");
    // The data, the configs and the dumped CPU step it prepared are really there.
    let w = work.path().join("w");
    assert!(w.join("data/manifest.json").exists());
    for c in ["tiny-ws1", "tiny-nproc1", "rn50-wait"] {
        assert!(w.join(format!("{c}.toml")).exists(), "{c}.toml");
    }
    assert!(w.join("dump-cpu/step-00000-0.safetensors").exists());
    for line in ["--backend nccl", "--nproc 1", "--batch 128", "--bf16"] {
        assert!(stdout.contains(line), "no `{line}` in:\n{stdout}");
    }
}

#[test]
fn the_step_bench_and_the_reference_time_the_same_batch() {
    let Some(py) = torch_python() else { return };
    let d = tempfile::tempdir().unwrap();
    let dump = d.path().join("dump");
    let dump_s = dump.to_str().unwrap();
    let ours = json(&ok(&[
        "bench", "step", "--model", "tiny", "--batch", "4", "--steps", "2", "--warmup", "1",
        "--dump", dump_s, "--json",
    ]));
    assert_eq!(ours["times"].as_array().unwrap().len(), 2, "{ours}");
    assert!(ours["median"].as_f64().unwrap() > 0.0);
    assert!(ours["loss"].as_f64().unwrap().is_finite());
    let file = dump.join("step-00000-0.safetensors");
    let r = Command::new(&py)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("python"))
        .args([
            "bench_step.py",
            "tiny",
            file.to_str().unwrap(),
            "--steps",
            "2",
            "--warmup",
            "1",
        ])
        .output()
        .expect("run bench_step.py");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let theirs = json(&String::from_utf8_lossy(&r.stdout));
    assert_eq!(theirs["times"].as_array().unwrap().len(), 2, "{theirs}");
    assert!(theirs["loss"].as_f64().unwrap().is_finite());
    // Both sides compute the same five losses on the same batch from a random start: the same
    // order of magnitude (the initialisations differ, so not the same value).
    let (a, b) = (
        ours["loss"].as_f64().unwrap(),
        theirs["loss"].as_f64().unwrap(),
    );
    assert!(a / b > 0.5 && a / b < 2.0, "losses {a} and {b}");
}
