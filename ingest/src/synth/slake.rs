//! Synthetic SLAKE 1.0 (specs/datasets.md Part 1 §4): `Slake1.0/{train,validate,test}.json`
//! (one line each, Python's `", "` / `": "` separators, raw UTF-8, no final newline; English
//! records first, then Chinese) and `imgs/xmlab<N>/{source.jpg,mask.png,detection.json}`.
//! Quirks planted: key order that varies between records, the empty English answer typed OPEN,
//! and one image whose Chinese questions sit in another split than its English ones.

use std::io::Write as _;
use std::path::Path;

use image::{DynamicImage, GrayImage, Luma};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::picture::{POSITIONS, SHAPES, Scene, jpeg, png, render};
use super::{SynthReport, write_file};
use crate::Result;

const FILES: [(&str, &str); 3] = [
    ("train.json", "train"),
    ("validate.json", "validation"),
    ("test.json", "test"),
];
const ZH_SHAPES: [&str; 3] = ["圆形", "正方形", "三角形"];

pub(super) fn write(out: &Path, n: usize, seed: u64) -> Result<SynthReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x534C_414B);
    let mut report = SynthReport {
        dataset: "slake".into(),
        ..Default::default()
    };
    let mut en: [Vec<Map<String, Value>>; 3] = Default::default();
    let mut zh: [Vec<Map<String, Value>>; 3] = Default::default();
    for id in 0..n {
        let scene = Scene::random(&mut rng);
        let folder = format!("xmlab{id}");
        let (w, h) = (rng.random_range(256..=480), rng.random_range(256..=480));
        write_file(
            out,
            &format!("Slake1.0/imgs/{folder}/source.jpg"),
            &jpeg(&render(&scene, w, h, true, &mut rng)),
        )?;
        write_file(
            out,
            &format!("Slake1.0/imgs/{folder}/mask.png"),
            &png(&DynamicImage::ImageLuma8(mask(&scene, w, h))),
        )?;
        let det = format!(
            "[{{\"{}\": [{:.1}, {:.1}, {:.1}, {:.1}]}}]",
            SHAPES[scene.shape],
            w as f32 * 0.2,
            h as f32 * 0.2,
            w as f32 * 0.3,
            h as f32 * 0.3
        );
        write_file(
            out,
            &format!("Slake1.0/imgs/{folder}/detection.json"),
            det.as_bytes(),
        )?;
        report.images += 1;
        let split = match id % 7 {
            5 => 1,
            6 => 2,
            _ => 0,
        };
        let zh_split = if id == 3 { 2 } else { split };
        // The closed questions ask about the drawn shape or another one, half the time each.
        let asked = match rng.random_bool(0.5) {
            true => scene.shape,
            false => (scene.shape + rng.random_range(1..SHAPES.len())) % SHAPES.len(),
        };
        en[split].extend(english(id, &folder, &scene, asked));
        zh[zh_split].extend(chinese(id, &folder, &scene, asked));
        report.row(FILES[split].1);
        if zh_split != split {
            report.row(FILES[zh_split].1);
        }
    }
    if let Some(r) = en[0].get_mut(3) {
        r.insert("answer".into(), json!(""));
        r.insert("answer_type".into(), json!("OPEN"));
    }
    let mut qid = 0;
    for (k, (file, _)) in FILES.iter().enumerate() {
        let mut all: Vec<Map<String, Value>> = en[k].drain(..).chain(zh[k].drain(..)).collect();
        for (i, r) in all.iter_mut().enumerate() {
            if i % 5 == 2 {
                let ct = r.shift_remove("content_type").expect("content_type");
                r.insert("qid".into(), json!(qid));
                r.insert("content_type".into(), ct);
            } else {
                r.insert("qid".into(), json!(qid));
            }
            qid += 1;
        }
        write_file(out, &format!("Slake1.0/{file}"), &python_json(&all))?;
    }
    Ok(report)
}

fn mask(scene: &Scene, w: u32, h: u32) -> GrayImage {
    let probe = Scene { tone: 0, ..*scene };
    let img = render(&probe, w, h, true, &mut ChaCha8Rng::seed_from_u64(0)).to_luma8();
    GrayImage::from_fn(w, h, |x, y| {
        Luma([if img.get_pixel(x, y).0[0] > 200 {
            1 + scene.shape as u8
        } else {
            0
        }])
    })
}

fn record(
    id: usize,
    folder: &str,
    q: &str,
    a: &str,
    lang: &str,
    at: &str,
    content: &str,
) -> Map<String, Value> {
    let v = json!({
        "img_id": id, "img_name": format!("{folder}/source.jpg"), "question": q, "answer": a, "q_lang": lang,
        "location": "Chest_lung", "modality": "X-Ray", "answer_type": at, "base_type": "vqa", "content_type": content,
        "triple": ["vhead", "_", "_"],
    });
    v.as_object().expect("object").clone()
}

fn english(id: usize, folder: &str, s: &Scene, asked: usize) -> Vec<Map<String, Value>> {
    let shape = SHAPES[s.shape];
    let title = |t: &str| t[..1].to_uppercase() + &t[1..];
    vec![
        record(
            id,
            folder,
            &format!("What shape is in the {}?", POSITIONS[s.position]),
            &title(shape),
            "en",
            "OPEN",
            "Shape",
        ),
        record(
            id,
            folder,
            &format!("Does the picture contain a {}?", SHAPES[asked]),
            if asked == s.shape { "Yes" } else { "No" },
            "en",
            "CLOSED",
            "Abnormality",
        ),
        record(
            id,
            folder,
            &format!("Where is the {shape}?"),
            &title(POSITIONS[s.position]),
            "en",
            "OPEN",
            "Position",
        ),
    ]
}

fn chinese(id: usize, folder: &str, s: &Scene, asked: usize) -> Vec<Map<String, Value>> {
    vec![
        record(
            id,
            folder,
            "图中是什么形状?",
            ZH_SHAPES[s.shape],
            "zh",
            "OPEN",
            "Shape",
        ),
        record(
            id,
            folder,
            &format!("图中包含{}吗?", ZH_SHAPES[asked]),
            if asked == s.shape {
                "包含"
            } else {
                "不包含"
            },
            "zh",
            "CLOSED",
            "Abnormality",
        ),
    ]
}

/// Python `json.dumps(..., ensure_ascii=False)` layout: one line, `", "` and `": "`.
fn python_json(v: &[Map<String, Value>]) -> Vec<u8> {
    struct Py;
    impl serde_json::ser::Formatter for Py {
        fn begin_array_value<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            if first { Ok(()) } else { w.write_all(b", ") }
        }
        fn begin_object_key<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            if first { Ok(()) } else { w.write_all(b", ") }
        }
        fn begin_object_value<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
        ) -> std::io::Result<()> {
            w.write_all(b": ")
        }
    }
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Py);
    v.serialize(&mut ser).expect("in-memory JSON");
    let _ = out.flush();
    out
}
