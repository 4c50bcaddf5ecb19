//! Captions to ids: uncased BERT WordPiece (the `tokenizers` crate) padded and truncated to the
//! context length, and PMC-CLIP's whole-word MLM masking (model.md §2.2, §4.4).

use rand::Rng;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{AddedToken, Tokenizer};

/// The special tokens' ids, read from the vocabulary (not hard-coded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Specials {
    /// `[PAD]`.
    pub pad: i64,
    /// `[UNK]`.
    pub unk: i64,
    /// `[CLS]`.
    pub cls: i64,
    /// `[SEP]`.
    pub sep: i64,
    /// `[MASK]`.
    pub mask: i64,
}

/// A BERT tokenizer with a fixed context length.
pub struct TextTokenizer {
    inner: Tokenizer,
    /// Special-token ids.
    pub specials: Specials,
    /// Output length (77 for PMC-CLIP).
    pub context: usize,
    /// Vocabulary minus special tokens, for the MLM's random-word case.
    plain_vocab: Vec<String>,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("specials", &self.specials)
            .field("context", &self.context)
            .finish()
    }
}

impl TextTokenizer {
    /// Loads a `vocab.txt` (uncased BERT pipeline) or a `tokenizer.json`.
    pub fn from_file(path: &str, context: usize) -> Result<TextTokenizer, String> {
        let inner = if path.ends_with(".json") {
            Tokenizer::from_file(path).map_err(|e| format!("{path}: {e}"))?
        } else {
            let wp = WordPiece::from_file(path)
                .unk_token("[UNK]".into())
                .build()
                .map_err(|e| format!("{path}: {e}"))?;
            let mut t = Tokenizer::new(wp);
            t.with_normalizer(Some(BertNormalizer::new(true, true, None, true)));
            t.with_pre_tokenizer(Some(BertPreTokenizer));
            // As HF's BertTokenizer: the special tokens are matched whole in the text (the
            // masker writes "[MASK]" and "[PAD]" into captions).
            let specials: Vec<AddedToken> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
                .iter()
                .map(|s| AddedToken::from(*s, true))
                .collect();
            t.add_special_tokens(&specials);
            t
        };
        let id = |tok: &str| {
            inner
                .token_to_id(tok)
                .map(i64::from)
                .ok_or_else(|| format!("{path}: the vocabulary has no {tok}"))
        };
        let specials = Specials {
            pad: id("[PAD]")?,
            unk: id("[UNK]")?,
            cls: id("[CLS]")?,
            sep: id("[SEP]")?,
            mask: id("[MASK]")?,
        };
        let mut plain_vocab: Vec<String> = inner
            .get_vocab(false)
            .into_keys()
            .filter(|t| !(t.starts_with('[') && t.ends_with(']')))
            .collect();
        plain_vocab.sort();
        Ok(TextTokenizer {
            inner,
            specials,
            context,
            plain_vocab,
        })
    }

    /// Entries in the vocabulary (special tokens included).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Word-piece ids of a text, without special tokens.
    pub fn pieces(&self, text: &str) -> Vec<i64> {
        self.inner
            .encode(text, false)
            .map(|e| e.get_ids().iter().map(|i| *i as i64).collect())
            .unwrap_or_default()
    }

    /// `[CLS] pieces… [SEP] [PAD]…`, exactly `context` ids (at most `context − 2` pieces).
    pub fn encode(&self, text: &str) -> Vec<i64> {
        self.encode_to(text, self.context)
    }

    /// [`encode`](Self::encode) to `len` ids instead of the context length (`len` ≥ 2).
    pub fn encode_to(&self, text: &str, len: usize) -> Vec<i64> {
        let len = len.max(2);
        let mut ids = Vec::with_capacity(len);
        ids.push(self.specials.cls);
        let pieces = self.pieces(text);
        ids.extend(pieces.into_iter().take(len - 2));
        ids.push(self.specials.sep);
        ids.resize(len, self.specials.pad);
        ids
    }

    /// PMC-CLIP's whole-word masking (§4.4) of one caption at `ratio`: returns the input ids and
    /// the label ids. Label ids are 0 (`[PAD]`) where nothing is predicted, and keep `[CLS]` and
    /// `[SEP]` as PMC does.
    pub fn mask(&self, caption: &str, ratio: f64, rng: &mut impl Rng) -> (Vec<i64>, Vec<i64>) {
        let vocab = &self.plain_vocab;
        let (input, label) = mask_words(
            caption,
            ratio,
            rng,
            |w| self.pieces(w).len(),
            |r| vocab[r.random_range(0..vocab.len().max(1))].clone(),
        );
        (self.encode(&input), self.encode(&label))
    }
}

/// The masker as a pure function of the caption, the draws and the word-piece counts (§4.4):
/// each whitespace word is picked with probability `ratio`; a picked word becomes `[MASK]` × its
/// piece count (80 %), one random vocabulary string (10 %), or itself (10 %), and the label text
/// gets the word; an unpicked word keeps itself and the label gets `[PAD]` × its piece count.
pub fn mask_words<R: Rng>(
    caption: &str,
    ratio: f64,
    rng: &mut R,
    pieces: impl Fn(&str) -> usize,
    mut random_word: impl FnMut(&mut R) -> String,
) -> (String, String) {
    let (mut input, mut label) = (Vec::new(), Vec::new());
    for word in caption.split_whitespace() {
        let n = pieces(word).max(1);
        let p: f64 = rng.random();
        if ratio > 0.0 && p < ratio {
            let u = p / ratio;
            if u < 0.8 {
                input.push(vec!["[MASK]"; n].join(" "));
            } else if u < 0.9 {
                let w = random_word(rng);
                input.push(w.trim_end_matches("</w>").to_string());
            } else {
                input.push(word.to_string());
            }
            label.push(word.to_string());
        } else {
            input.push(word.to_string());
            label.push(vec!["[PAD]"; n].join(" "));
        }
    }
    (input.join(" "), label.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn tokenizer() -> (tempfile::TempDir, TextTokenizer) {
        let dir = tempfile::tempdir().unwrap();
        let vocab = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "chest", "x", "##ray", "shows", "a",
            "nodule", "in", "the", "left", "lung", ".",
        ];
        let p = dir.path().join("vocab.txt");
        std::fs::write(&p, vocab.join("\n")).unwrap();
        let t = TextTokenizer::from_file(p.to_str().unwrap(), 12).unwrap();
        (dir, t)
    }

    #[test]
    fn uncased_wordpiece_padded_to_the_context() {
        let (_d, t) = tokenizer();
        assert_eq!(
            t.specials,
            Specials {
                pad: 0,
                unk: 1,
                cls: 2,
                sep: 3,
                mask: 4
            }
        );
        // "Xray" → x ##ray; "Chest" lower-cased; "Lung." split at the dot; unknown → [UNK].
        assert_eq!(
            t.encode("Chest Xray shows a NODULE in the left Lung. Zebra"),
            [2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 3]
        );
        assert_eq!(
            t.encode("chest zebra"),
            [2, 5, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        // Another length: shorter pads less, too short keeps [CLS] and [SEP].
        assert_eq!(t.encode_to("chest zebra", 6), [2, 5, 1, 3, 0, 0]);
        assert_eq!(t.encode_to("chest zebra", 3), [2, 5, 3]);
        // The [MASK] and [PAD] strings of the masker tokenise to their ids.
        assert_eq!(t.pieces("[MASK] [MASK] [PAD]"), [4, 4, 0]);
    }

    #[test]
    fn masking_follows_pmc() {
        let (_d, t) = tokenizer();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        // Ratio 1: every word is picked; labels carry every piece (with CLS and SEP).
        let (input, label) = t.mask("chest xray", 1.0, &mut rng);
        assert_eq!(label, [2, 5, 6, 7, 3, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(input.len(), 12);
        // Ratio 0: nothing is predicted; the label is [CLS] [PAD]… [SEP].
        let (input, label) = t.mask("chest xray", 0.0, &mut rng);
        assert_eq!(input, t.encode("chest xray"));
        assert_eq!(label, [2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0]);
        // Over many words about 15 % are picked, and of those ~80 % become [MASK]s.
        let caption = vec!["chest"; 2000].join(" ");
        let (inp, lab) = mask_words(&caption, 0.15, &mut rng, |_| 1, |_| "x".into());
        let picked = lab.split(' ').filter(|w| *w == "chest").count() as f64 / 2000.0;
        let masked = inp.split(' ').filter(|w| *w == "[MASK]").count() as f64 / 2000.0;
        assert!((picked - 0.15).abs() < 0.03, "{picked}");
        assert!((masked / picked - 0.8).abs() < 0.06, "{masked}");
    }
}
