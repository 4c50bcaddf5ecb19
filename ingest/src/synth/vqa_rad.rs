//! Synthetic VQA-RAD (specs/datasets.md Part 1 §3): the OSF `VQA_RAD Dataset Public.json`
//! (14 fields, 3-space indent, no final newline), `VQA_RAD Image Folder/synpicNNNNN.jpg`, and the
//! MEVF `data_RAD/{trainset,testset}.json` (8 fields, qids renumbered, `frame` questions in
//! train). Questions ask about the generated scene. Quirks planted: `qid` `"0"` as a string,
//! integer answers, `"CLOSED "`, a U+FFFD question, a missing `question_rephrase`, an answer with
//! a leading space, and one image in the folder that no question uses.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{Value, json};

use super::picture::{POSITIONS, SHAPES, Scene, TONES, jpeg, render};
use super::{SynthReport, write_file};
use crate::Result;

const FOLDER: &str = "VQA_RAD Image Folder";

struct Q {
    question: String,
    answer: Value,
    answer_type: &'static str,
    question_type: &'static str,
}

/// The questions about one image. The presence question is asked twice, of the image's own
/// shape ("Yes") and of another ("No"), in random order: the answer then depends on the
/// question as much as on the picture, as in real VQA-RAD, which asks about 6 closed questions
/// per image. Asked once, at random, a model can reach the training majority without matching
/// the question's shape to the image's, and the demo's fine-tuning did not learn that match in
/// 30 epochs.
fn questions(scene: &Scene, rng: &mut ChaCha8Rng) -> Vec<Q> {
    let other = (scene.shape + 1 + rng.random_range(0..2)) % SHAPES.len();
    let presence = |ask: usize, yes: &str| Q {
        question: format!("Is there a {} {}?", TONES[scene.tone], SHAPES[ask]),
        answer: json!(yes),
        answer_type: "CLOSED",
        question_type: "PRES",
    };
    let mut pair = [presence(scene.shape, "Yes"), presence(other, "No")];
    if rng.random_bool(0.5) {
        pair.reverse();
    }
    let mut qs: Vec<Q> = pair.into_iter().collect();
    qs.extend([
        Q {
            question: format!("What shape is in the {}?", POSITIONS[scene.position]),
            answer: json!(SHAPES[scene.shape]),
            answer_type: "OPEN",
            question_type: "ATTRIB",
        },
        Q {
            question: format!("Where is the {}?", SHAPES[scene.shape]),
            answer: json!(POSITIONS[scene.position]),
            answer_type: "OPEN",
            question_type: "POS",
        },
        Q {
            question: "How many shapes are there?".into(),
            answer: json!(1),
            answer_type: "OPEN",
            question_type: "COUNT",
        },
    ]);
    qs
}

/// How many of an image's questions (the first) go to the test set when the image is a test
/// image: both presence questions and the shape.
const TEST_QUESTIONS: usize = 3;

pub(super) fn write(out: &Path, n: usize, seed: u64) -> Result<SynthReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5641_5241);
    let mut report = SynthReport {
        dataset: "vqa-rad".into(),
        ..Default::default()
    };
    let (mut osf, mut train, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let name = format!("synpic{}.jpg", 10_000 + i * 37);
        let scene = Scene::random(&mut rng);
        let (w, h) = (rng.random_range(200..=512), rng.random_range(200..=512));
        write_file(
            out,
            &format!("{FOLDER}/{name}"),
            &jpeg(&render(&scene, w, h, rng.random_bool(0.7), &mut rng)),
        )?;
        report.images += 1;
        if i == n - 1 {
            continue; // in the folder, used by no question
        }
        let is_test = i % 4 == 1;
        let qs = questions(&scene, &mut rng);
        for (k, q) in qs.into_iter().enumerate() {
            let to_test = is_test && k < TEST_QUESTIONS;
            let rec = osf_record(osf.len(), &name, &q, to_test, &mut rng);
            let mevf = mevf_record(&rec);
            osf.push(rec);
            if to_test {
                test.push(mevf)
            } else {
                train.push(mevf)
            }
        }
        train.push(json!({"image_name": name, "image_organ": "CHEST", "answer": "Yes", "answer_type": "CLOSED", "question_type": "PRES", "question": "Is/Are the shape normal size?", "phrase_type": "frame"}));
        report.row("train");
        if is_test {
            report.row("test");
        }
    }
    plant_quirks(&mut osf, &mut train);
    let mut qid = 0;
    for r in train.iter_mut().chain(test.iter_mut()) {
        qid += 1;
        r["qid"] = json!(qid);
    }
    write_file(
        out,
        "VQA_RAD Dataset Public.json",
        &to_json(&osf, b"   ", false),
    )?;
    write_file(out, "data_RAD/trainset.json", &to_json(&train, b"  ", true))?;
    write_file(out, "data_RAD/testset.json", &to_json(&test, b"  ", true))?;
    Ok(report)
}

fn osf_record(i: usize, name: &str, q: &Q, test: bool, rng: &mut ChaCha8Rng) -> Value {
    let para = rng.random_bool(0.3);
    let phrase = match (test, para) {
        (true, true) => "test_para",
        (true, false) => "test_freeform",
        (false, true) => "para",
        _ => "freeform",
    };
    json!({
        "qid": i,
        "phrase_type": phrase,
        "qid_linked_id": format!("{:08x}-0000-4000-8000-{:012x}", rng.random::<u32>(), i),
        "image_case_url": format!("https://medpix.nlm.nih.gov/case?id={:08x}", rng.random::<u32>()),
        "image_name": name,
        "image_organ": "CHEST",
        "evaluation": "not evaluated",
        "question": q.question,
        "question_rephrase": "NULL",
        "question_relation": "NULL",
        "question_frame": "NULL",
        "question_type": q.question_type,
        "answer": q.answer,
        "answer_type": q.answer_type,
    })
}

fn mevf_record(osf: &Value) -> Value {
    let phrase = osf["phrase_type"]
        .as_str()
        .unwrap_or("freeform")
        .trim_start_matches("test_");
    json!({
        "qid": osf["qid"], "image_name": osf["image_name"], "image_organ": osf["image_organ"], "answer": osf["answer"],
        "answer_type": osf["answer_type"], "question_type": osf["question_type"], "question": osf["question"], "phrase_type": phrase,
    })
}

fn plant_quirks(osf: &mut [Value], train: &mut [Value]) {
    if let Some(first) = osf.first_mut() {
        first["qid"] = json!("0");
    }
    let closed: Vec<usize> = (0..osf.len())
        .filter(|i| osf[*i]["answer_type"] == "CLOSED")
        .collect();
    if let Some(&i) = closed.first() {
        osf[i]["answer_type"] = json!("CLOSED ");
    }
    if let Some(r) = osf.get_mut(2) {
        r["question"] = json!("Is it\u{FFFD}s the same shape as before? ");
        r.as_object_mut()
            .expect("object")
            .remove("question_rephrase");
    }
    if let Some(r) = osf.get_mut(6) {
        r["answer"] = json!(format!(" {}", r["answer"].as_str().unwrap_or("x")));
    }
    for r in train.iter_mut().take(3) {
        if r["answer_type"] == "CLOSED" {
            r["answer_type"] = json!("CLOSED ");
        }
    }
}

fn to_json(v: &[Value], indent: &[u8], final_newline: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(indent);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser).expect("in-memory JSON");
    if final_newline {
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn presence(file: &Path) -> BTreeMap<String, Vec<String>> {
        let rows: Vec<Value> = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        let mut by_image: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in rows.iter().filter(|r| {
            r["question_type"] == "PRES"
                && r["phrase_type"] != "frame"
                && r["answer_type"] != "OPEN"
        }) {
            by_image
                .entry(r["image_name"].as_str().unwrap().to_string())
                .or_default()
                .push(r["answer"].as_str().unwrap().to_string());
        }
        by_image
    }

    #[test]
    fn every_image_is_asked_of_its_own_shape_and_of_another() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 41, 7).unwrap();
        let train = presence(&dir.path().join("data_RAD/trainset.json"));
        let test = presence(&dir.path().join("data_RAD/testset.json"));
        assert_eq!(
            train.len() + test.len(),
            40,
            "every image but the unused one"
        );
        for answers in train.values().chain(test.values()) {
            let mut a = answers.clone();
            a.sort();
            assert_eq!(a, ["No", "Yes"], "one presence question of each answer");
        }
        assert!(train.keys().all(|k| !test.contains_key(k)));
    }
}
