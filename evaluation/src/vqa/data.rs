//! The questions, their images and the validation part of a VQA job.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use unimlip_loader::{Loader, Pipeline, SourceSpec};
use unimlip_shards::{Manifest, Store, fetch_verified, read_shard};

use crate::Result;
use crate::answers::normalize_answer;
use crate::metrics::{VqaAccuracy, vqa_accuracy};

/// One English question with its normalised answer.
#[derive(Debug, Clone)]
pub(super) struct Question {
    pub image: String,
    pub question: String,
    pub answer: String,
    pub closed: bool,
}

/// Every split's English questions, and the encoded image of every row, by split then id.
pub(super) struct Questions {
    pub by_split: BTreeMap<String, Vec<Question>>,
    pub encoded: HashMap<String, Vec<u8>>,
}

/// Reads every split's English questions once (the answer set is their union, as M3AE's) and
/// keeps the encoded images of `keep_images`' rows (for training-time augmentation).
pub(super) fn read(
    store: &Store,
    manifest: &Manifest,
    keep_images: Option<&str>,
) -> Result<Questions> {
    let mut by_split: BTreeMap<String, Vec<Question>> = BTreeMap::new();
    let mut encoded = HashMap::new();
    for shard in &manifest.shards {
        let out = by_split.entry(shard.split.clone()).or_default();
        for r in read_shard(&shard.path, fetch_verified(store, shard)?)? {
            for q in r.qa.iter().flatten() {
                if q.lang.as_deref().is_some_and(|l| l != "en") {
                    continue;
                }
                let (Some(question), Some(answer)) = (&q.question, &q.answer) else {
                    continue;
                };
                let answer = normalize_answer(answer);
                if answer.is_empty() {
                    continue;
                }
                let closed = q
                    .answer_type
                    .as_deref()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("closed"));
                out.push(Question {
                    image: r.id.clone(),
                    question: question.trim().to_string(),
                    answer,
                    closed,
                });
            }
            if keep_images == Some(shard.split.as_str()) {
                encoded.insert(r.id, r.image);
            }
        }
    }
    Ok(Questions { by_split, encoded })
}

/// A seeded tenth (at least one) of `train`'s images, with all their questions, held out for
/// validation: (train, validation).
pub(super) fn hold_out(train: &[Question], seed: u64) -> (Vec<Question>, Vec<Question>) {
    let mut images: Vec<&str> = train
        .iter()
        .map(|q| q.image.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    images.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x5641_4c49));
    let n = images
        .len()
        .div_ceil(10)
        .min(images.len().saturating_sub(1));
    let held: BTreeSet<&str> = images[..n].iter().copied().collect();
    train
        .iter()
        .cloned()
        .partition(|q| !held.contains(q.image.as_str()))
}

/// Decoded images of `split` (the evaluation transform at `side`), by id.
pub(super) fn decoded(
    data: &str,
    split: &str,
    side: u32,
    threads: usize,
) -> Result<HashMap<String, Vec<u8>>> {
    let mut s = SourceSpec::new(data);
    s.splits = vec![split.to_string()];
    let l = Loader::once(vec![s], Pipeline::eval(side), threads)?;
    let mut out = HashMap::new();
    l.each_once(None, |batch, keep| -> Result<()> {
        for &i in keep {
            out.insert(
                batch.samples()[i].id().to_string(),
                batch.image(i, 0).to_vec(),
            );
        }
        Ok(())
    })?;
    Ok(out)
}

/// Accuracy of answering each test question with the most frequent training answer of its type.
pub(super) fn majority(train: &[Question], test: &[Question]) -> VqaAccuracy {
    let top = |closed: bool| {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for q in train.iter().filter(|q| q.closed == closed) {
            *counts.entry(&q.answer).or_default() += 1;
        }
        counts
            .into_iter()
            .max_by_key(|&(a, n)| (n, std::cmp::Reverse(a)))
            .map(|(a, _)| a.to_string())
    };
    let (closed, open) = (top(true), top(false));
    let results: Vec<(bool, bool)> = test
        .iter()
        .map(|q| {
            let guess = if q.closed { &closed } else { &open };
            (guess.as_deref() == Some(q.answer.as_str()), q.closed)
        })
        .collect();
    vqa_accuracy(&results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(image: &str, answer: &str, closed: bool) -> Question {
        Question {
            image: image.into(),
            question: "?".into(),
            answer: answer.into(),
            closed,
        }
    }

    #[test]
    fn the_held_out_tenth_takes_whole_images_and_is_seeded() {
        let train: Vec<Question> = (0..40)
            .flat_map(|i| {
                [
                    q(&format!("im{i}"), "yes", true),
                    q(&format!("im{i}"), "a", false),
                ]
            })
            .collect();
        let (rest, held) = hold_out(&train, 7);
        assert_eq!((rest.len(), held.len()), (72, 8));
        let held_images: BTreeSet<&str> = held.iter().map(|q| q.image.as_str()).collect();
        assert!(rest.iter().all(|q| !held_images.contains(q.image.as_str())));
        let again = hold_out(&train, 7).1;
        assert!(again.iter().zip(&held).all(|(a, b)| a.image == b.image));
        assert_eq!(
            hold_out(&train[..2], 7).1.len(),
            0,
            "one image stays for training"
        );
    }

    #[test]
    fn the_majority_answer_is_chosen_per_type() {
        let train = [
            q("a", "yes", true),
            q("b", "yes", true),
            q("c", "no", true),
            q("d", "lung", false),
        ];
        let test = [
            q("e", "yes", true),
            q("f", "no", true),
            q("g", "lung", false),
        ];
        let m = majority(&train, &test);
        assert_eq!((m.closed, m.open), (Some(0.5), Some(1.0)));
    }
}
