//! Building a WordPiece vocabulary from captions (`unimlip tokenizer train`), for when no
//! published `vocab.txt` is at hand: the uncased BERT normaliser and pre-tokeniser, the five
//! special tokens first (`[PAD]` 0, `[UNK]` 1, `[CLS]` 2, `[SEP]` 3, `[MASK]` 4, PubMedBERT's
//! ids), then the learned pieces.
//!
//! The pieces are learned as Hugging Face's `WordPieceTrainer` learns them (byte-pair merges
//! over the words' characters, `##` before every piece that continues a word, merges weighted
//! by word counts, stopping at the size or below `min_frequency`), but deterministically: the
//! counts live in ordered maps and a tie between pairs is broken by their bytes, so the same
//! captions and options give the same file on every run and with any thread count. (The
//! `tokenizers` trainer keeps its counts in hash maps, and its ties depended on their order.)

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{
    NormalizedString, Normalizer, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer,
};

/// The special tokens, in id order.
pub const SPECIALS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// The prefix of a piece that continues a word.
const CONTINUE: &str = "##";

/// Learns a vocabulary of at most `size` entries (specials included) from `texts`; merged
/// pieces seen fewer than `min_frequency` times are left out, single characters never are.
/// `threads` counts the words (0: all cores); the result does not depend on it. Returns the
/// entries in id order, the content of a `vocab.txt`.
pub fn train_vocab<I, S>(
    texts: I,
    size: usize,
    min_frequency: u64,
    threads: usize,
) -> Result<Vec<String>, String>
where
    I: Iterator<Item = S>,
    S: AsRef<str> + Send + Sync,
{
    if size <= SPECIALS.len() {
        return Err(format!(
            "a vocabulary of {size} cannot hold more than the {} special tokens",
            SPECIALS.len()
        ));
    }
    let texts: Vec<S> = texts.collect();
    let words = count_words(&texts, threads)?;
    if words.is_empty() {
        return Err("no text to learn a vocabulary from (no captions?)".into());
    }
    let mut vocab = Pieces::new(&words);
    if vocab.tokens.len() > size {
        return Err(format!(
            "a vocabulary of {size} cannot hold the {} special tokens and the {} characters \
             of the text",
            SPECIALS.len(),
            vocab.tokens.len() - SPECIALS.len()
        ));
    }
    vocab.merge_until(size, min_frequency.max(1));
    Ok(vocab.tokens)
}

/// Every pre-tokenised word of `texts` with its count, in byte order.
fn count_words<S: AsRef<str> + Sync>(
    texts: &[S],
    threads: usize,
) -> Result<BTreeMap<String, u64>, String> {
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let chunk = texts.len().div_ceil(threads).max(1);
    let counted: Vec<Result<HashMap<String, u64>, String>> = std::thread::scope(|scope| {
        let jobs: Vec<_> = texts
            .chunks(chunk)
            .map(|part| scope.spawn(move || count_part(part)))
            .collect();
        jobs.into_iter()
            .map(|j| {
                j.join()
                    .unwrap_or_else(|_| Err("a counting thread panicked".into()))
            })
            .collect()
    });
    let mut words = BTreeMap::new();
    for part in counted {
        for (word, n) in part? {
            *words.entry(word).or_insert(0) += n;
        }
    }
    Ok(words)
}

fn count_part<S: AsRef<str>>(texts: &[S]) -> Result<HashMap<String, u64>, String> {
    let normalizer = BertNormalizer::new(true, true, None, true);
    let mut counts = HashMap::new();
    for text in texts {
        let mut normalized = NormalizedString::from(text.as_ref());
        normalizer
            .normalize(&mut normalized)
            .map_err(|e| format!("normalising a caption: {e}"))?;
        let mut split = PreTokenizedString::from(normalized);
        BertPreTokenizer
            .pre_tokenize(&mut split)
            .map_err(|e| format!("splitting a caption into words: {e}"))?;
        for (word, _, _) in split.get_splits(OffsetReferential::Original, OffsetType::Byte) {
            if !word.is_empty() {
                *counts.entry(word.to_owned()).or_insert(0) += 1;
            }
        }
    }
    Ok(counts)
}

/// A candidate merge: its weighted count, then the two pieces' bytes (smaller first on ties).
#[derive(PartialEq, Eq)]
struct Candidate {
    count: u64,
    pair: Reverse<(String, String)>,
    ids: (u32, u32),
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.count, &self.pair).cmp(&(other.count, &other.pair))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The learning state: the vocabulary so far and every distinct word as pieces.
struct Pieces {
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
    words: Vec<(Vec<u32>, u64)>,
    pairs: HashMap<(u32, u32), u64>,
    /// Which words hold each pair, in word order.
    holders: HashMap<(u32, u32), BTreeSet<usize>>,
}

impl Pieces {
    /// The specials, then every character (by code point), then every continuing character
    /// (by code point), as the Hugging Face trainer lays out its alphabet.
    fn new(words: &BTreeMap<String, u64>) -> Self {
        let chars: BTreeSet<char> = words.keys().flat_map(|w| w.chars()).collect();
        let continuing: BTreeSet<char> = words.keys().flat_map(|w| w.chars().skip(1)).collect();
        let mut pieces = Pieces {
            tokens: Vec::new(),
            ids: HashMap::new(),
            words: Vec::with_capacity(words.len()),
            pairs: HashMap::new(),
            holders: HashMap::new(),
        };
        for token in SPECIALS.iter().map(|s| s.to_string()) {
            pieces.add(token);
        }
        for c in &chars {
            pieces.add(c.to_string());
        }
        for c in &continuing {
            pieces.add(format!("{CONTINUE}{c}"));
        }
        for (word, &count) in words {
            let symbols = word
                .chars()
                .enumerate()
                .map(|(i, c)| match i {
                    0 => pieces.ids[&c.to_string()],
                    _ => pieces.ids[&format!("{CONTINUE}{c}")],
                })
                .collect();
            pieces.words.push((symbols, count));
        }
        for w in 0..pieces.words.len() {
            pieces.count_pairs(w, true);
        }
        pieces
    }

    /// The id of `token`, added at the end when new.
    fn add(&mut self, token: String) -> u32 {
        if let Some(&id) = self.ids.get(&token) {
            return id;
        }
        let id = self.tokens.len() as u32;
        self.ids.insert(token.clone(), id);
        self.tokens.push(token);
        id
    }

    /// Adds (or with `add` false removes) word `w`'s pairs from the counts.
    fn count_pairs(&mut self, w: usize, add: bool) {
        let (symbols, count) = &self.words[w];
        for pair in symbols.windows(2).map(|p| (p[0], p[1])) {
            let n = self.pairs.entry(pair).or_insert(0);
            if add {
                *n += count;
                self.holders.entry(pair).or_default().insert(w);
            } else {
                *n -= count;
            }
        }
    }

    fn candidate(&self, pair: (u32, u32)) -> Candidate {
        let names = (
            self.tokens[pair.0 as usize].clone(),
            self.tokens[pair.1 as usize].clone(),
        );
        Candidate {
            count: self.pairs.get(&pair).copied().unwrap_or(0),
            pair: Reverse(names),
            ids: pair,
        }
    }

    /// Merges the most frequent pair, again and again, until the vocabulary holds `size`
    /// entries or no pair is seen `min_frequency` times.
    fn merge_until(&mut self, size: usize, min_frequency: u64) {
        let mut pairs: Vec<(u32, u32)> = self.pairs.keys().copied().collect();
        pairs.sort_unstable();
        let mut queue: BinaryHeap<Candidate> =
            pairs.into_iter().map(|p| self.candidate(p)).collect();
        while self.tokens.len() < size {
            let Some(top) = queue.pop() else { break };
            let now = self.pairs.get(&top.ids).copied().unwrap_or(0);
            if now != top.count {
                if now > 0 {
                    queue.push(self.candidate(top.ids));
                }
                continue;
            }
            if top.count < min_frequency {
                break;
            }
            let Reverse((left, right)) = &top.pair;
            let merged = format!("{left}{}", right.strip_prefix(CONTINUE).unwrap_or(right));
            let id = self.add(merged);
            for pair in self.merge(top.ids, id) {
                queue.push(self.candidate(pair));
            }
        }
    }

    /// Replaces `pair` by `id` in every word holding it; returns the pairs whose counts grew.
    fn merge(&mut self, pair: (u32, u32), id: u32) -> BTreeSet<(u32, u32)> {
        let holders = self.holders.remove(&pair).unwrap_or_default();
        let mut grown = BTreeSet::new();
        for w in holders {
            self.count_pairs(w, false);
            let symbols = &mut self.words[w].0;
            let mut out = Vec::with_capacity(symbols.len());
            let mut i = 0;
            while i < symbols.len() {
                if i + 1 < symbols.len() && (symbols[i], symbols[i + 1]) == pair {
                    out.push(id);
                    i += 2;
                } else {
                    out.push(symbols[i]);
                    i += 1;
                }
            }
            grown.extend(
                out.windows(2)
                    .map(|p| (p[0], p[1]))
                    .filter(|p| p.0 == id || p.1 == id),
            );
            *symbols = out;
            self.count_pairs(w, true);
        }
        self.pairs.remove(&pair);
        grown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::TextTokenizer;

    const CAPTIONS: [&str; 4] = [
        "Chest radiograph shows a left lower lobe consolidation.",
        "CT of the abdomen shows a hepatic lesion.",
        "Axial CT shows consolidation in the right lung.",
        "MRI of the brain shows a lesion.",
    ];

    #[test]
    fn a_learned_vocabulary_loads_with_pubmedbert_special_ids() {
        let vocab = train_vocab(CAPTIONS.iter().cycle().take(200), 120, 2, 1).unwrap();
        assert_eq!(&vocab[..5], SPECIALS);
        assert!(vocab.len() <= 120, "{}", vocab.len());
        assert!(vocab.iter().any(|t| t == "shows"), "{vocab:?}");
        assert!(vocab.iter().any(|t| t.starts_with("##")), "{vocab:?}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocab.txt");
        std::fs::write(&path, vocab.join("\n") + "\n").unwrap();
        let t = TextTokenizer::from_file(path.to_str().unwrap(), 16).unwrap();
        assert_eq!((t.specials.pad, t.specials.cls, t.specials.mask), (0, 2, 4));
        let ids = t.encode("chest CT shows a lesion");
        assert!(!ids.contains(&t.specials.unk), "{ids:?}");
        assert!(train_vocab(std::iter::empty::<&str>(), 100, 1, 1).is_err());
        assert!(train_vocab(CAPTIONS.iter(), 5, 1, 1).is_err());
        assert!(
            train_vocab(CAPTIONS.iter(), 20, 1, 1).is_err(),
            "the alphabet alone is larger"
        );
    }

    #[test]
    fn the_same_text_gives_the_same_vocabulary_at_any_thread_count() {
        let text: Vec<String> = (0..600)
            .map(|i| {
                format!(
                    "{} {} case {}",
                    CAPTIONS[i % 4],
                    CAPTIONS[(i * 7) % 4],
                    i % 13
                )
            })
            .collect();
        let first = train_vocab(text.iter(), 150, 2, 1).unwrap();
        for threads in [1, 2, 3, 8] {
            assert_eq!(train_vocab(text.iter(), 150, 2, threads).unwrap(), first);
        }
    }

    #[test]
    fn ties_go_to_the_smaller_bytes_and_merges_stop_below_min_frequency() {
        // "ab" and "cd" are each seen twice: "a"+"##b" sorts first, so it is merged first.
        let vocab = train_vocab(["cd ab", "ab cd"].iter(), 100, 2, 1).unwrap();
        let learned: Vec<&str> = vocab[5..].iter().map(String::as_str).collect();
        assert_eq!(learned, ["a", "b", "c", "d", "##b", "##d", "ab", "cd"]);
        // Seen once each: below a min_frequency of 2, nothing merges.
        let vocab = train_vocab(["ab cd"].iter(), 100, 2, 1).unwrap();
        assert_eq!(vocab.len(), 5 + 6);
    }
}
