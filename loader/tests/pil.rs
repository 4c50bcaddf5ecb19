//! The PIL arithmetic of the augmentations against Pillow itself: random images and factors,
//! each operation applied here and by Pillow (as torchvision's `_functional_pil` and SLIP's
//! `GaussianBlur` call it), compared byte for byte. Needs `UNIMLIP_TORCH_PYTHON` (a Python with
//! Pillow, made by `scripts/setup.sh`); skipped without it outside CI.

use std::path::Path;
use std::process::Command;

use unimlip_loader::augment::pil;

/// Each operation as torchvision and SLIP call it on a PIL image.
const PILLOW_OPS: &str = include_str!("../../bench/pillow_ops.py");

/// Applies every case of `cases.json` in the folder given with [`PILLOW_OPS`].
const DRIVER: &str = r#"
import json, sys
d = sys.argv[1]
for case in json.load(open(d + "/cases.json")):
    raw = np.frombuffer(open(d + "/" + case["input"], "rb").read(), dtype=np.uint8)
    img = raw.reshape(case["h"], case["w"], 3)
    out = pillow_op(case["op"], img, case["factor"])
    open(d + "/" + case["output"], "wb").write(out.tobytes())
"#;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
    fn unit(&mut self) -> f32 {
        (self.next() % 1_000_000) as f32 / 1_000_000.0
    }
}

/// A random RGB image whose left half is smooth (real colours for hue and saturation) and right
/// half noise.
fn image(w: usize, h: usize, rng: &mut Rng) -> Vec<u8> {
    let base = [rng.byte(), rng.byte(), rng.byte()];
    let mut img = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                img[(y * w + x) * 3 + c] = if x < w / 2 {
                    base[c].wrapping_add((x * (c + 1) + y * 2) as u8)
                } else {
                    rng.byte()
                };
            }
        }
    }
    img
}

fn ours(op: &str, f: f32, img: &mut [u8], dims: (usize, usize, usize)) {
    let c = dims.2;
    match op {
        "brightness" => pil::brightness(img, f),
        "contrast" => pil::contrast(img, c, f),
        "saturation" if c == 3 => pil::saturation(img, f),
        "hue" if c == 3 => pil::hue(img, f),
        "greyscale" => pil::greyscale(img, c),
        "blur" => pil::blur(img, dims, f, &mut pil::PilBlurScratch::default()),
        _ => {}
    }
}

struct Case {
    op: &'static str,
    factor: f32,
    w: usize,
    h: usize,
    input: Vec<u8>,
}

fn cases() -> Vec<Case> {
    let mut rng = Rng(2024);
    let mut cases = Vec::new();
    let sizes = [(97, 61), (224, 224), (1, 1), (2, 5), (5, 2), (3, 40)];
    for i in 0..72 {
        // Every operation meets every size.
        let (w, h) = sizes[(i / 6) % sizes.len()];
        let u = rng.unit();
        let (op, factor) = match i % 6 {
            0 => ("brightness", 0.6 + 0.8 * u),
            1 => ("contrast", 0.6 + 0.8 * u),
            2 => ("saturation", 0.6 + 0.8 * u),
            3 => ("hue", -0.1 + 0.2 * u),
            4 => ("greyscale", 0.0),
            _ => ("blur", 0.1 + 1.9 * u),
        };
        cases.push(Case {
            op,
            factor,
            w,
            h,
            input: image(w, h, &mut rng),
        });
    }
    // The ends of every range, and blend's shortcuts at 0 and 1.
    for (op, factor) in [
        ("brightness", 0.0),
        ("brightness", 1.0),
        ("brightness", 1.4),
        ("contrast", 0.0),
        ("saturation", 0.0),
        ("hue", -0.1),
        ("hue", 0.1),
        ("hue", -0.5),
        ("blur", 0.1),
        ("blur", 2.0),
    ] {
        cases.push(Case {
            op,
            factor,
            w: 64,
            h: 48,
            input: image(64, 48, &mut rng),
        });
    }
    cases
}

fn run_pillow(python: &str, dir: &Path, cases: &[Case]) {
    let mut spec = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        std::fs::write(dir.join(format!("{i}.in")), &c.input).unwrap();
        spec.push(serde_json::json!({
            "op": c.op, "factor": c.factor as f64, "w": c.w, "h": c.h,
            "input": format!("{i}.in"), "output": format!("{i}.out"),
        }));
    }
    std::fs::write(dir.join("cases.json"), serde_json::to_vec(&spec).unwrap()).unwrap();
    let out = Command::new(python)
        .args([
            "-c",
            &format!("{PILLOW_OPS}\n{DRIVER}"),
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn colour_greyscale_and_blur_match_pillow_byte_for_byte() {
    let Some(python) = std::env::var("UNIMLIP_TORCH_PYTHON").ok() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "UNIMLIP_TORCH_PYTHON (Pillow) is required in CI: run scripts/setup.sh"
        );
        #[allow(clippy::print_stderr)]
        {
            eprintln!("skipped: UNIMLIP_TORCH_PYTHON not set (run scripts/setup.sh)");
        }
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cases = cases();
    run_pillow(&python, dir.path(), &cases);
    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let want = std::fs::read(dir.path().join(format!("{i}.out"))).unwrap();
        let mut got = c.input.clone();
        ours(c.op, c.factor, &mut got, (c.w, c.h, 3));
        let differ = got.iter().zip(&want).filter(|(a, b)| a != b).count();
        if differ > 0 || got.len() != want.len() {
            failures.push(format!(
                "{} {} on {}×{}: {differ} of {} values differ",
                c.op,
                c.factor,
                c.w,
                c.h,
                want.len()
            ));
        }
        // A grey image kept as one channel gives what Pillow gives for its RGB copy.
        let grey: Vec<u8> = c.input.chunks_exact(3).map(|p| p[0]).collect();
        let mut grey_rgb: Vec<u8> = grey.iter().flat_map(|&v| [v, v, v]).collect();
        ours(c.op, c.factor, &mut grey_rgb, (c.w, c.h, 3));
        let mut one = grey.clone();
        ours(c.op, c.factor, &mut one, (c.w, c.h, 1));
        let expanded: Vec<u8> = one.iter().flat_map(|&v| [v, v, v]).collect();
        if expanded != grey_rgb {
            failures.push(format!("{} {} on one channel differs", c.op, c.factor));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
