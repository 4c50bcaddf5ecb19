//! Building a WordPiece vocabulary from captions (`unimlip tokenizer train`), for when no
//! published `vocab.txt` is at hand: the uncased BERT normaliser and pre-tokeniser, the five
//! special tokens first (`[PAD]` 0, `[UNK]` 1, `[CLS]` 2, `[SEP]` 3, `[MASK]` 4, PubMedBERT's
//! ids), then the learned pieces.

use tokenizers::models::TrainerWrapper;
use tokenizers::models::wordpiece::{WordPiece, WordPieceTrainer};
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{AddedToken, Tokenizer};

/// The special tokens, in id order.
pub const SPECIALS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// Learns a vocabulary of at most `size` entries (specials included) from `texts`; pieces seen
/// fewer than `min_frequency` times are left out. Returns the entries in id order, the content
/// of a `vocab.txt`.
pub fn train_vocab<I, S>(texts: I, size: usize, min_frequency: u64) -> Result<Vec<String>, String>
where
    I: Iterator<Item = S> + Send,
    S: AsRef<str> + Send,
{
    if size <= SPECIALS.len() {
        return Err(format!(
            "a vocabulary of {size} cannot hold more than the {} special tokens",
            SPECIALS.len()
        ));
    }
    let mut tokenizer = Tokenizer::new(WordPiece::default());
    tokenizer.with_normalizer(Some(BertNormalizer::new(true, true, None, true)));
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    let specials = SPECIALS
        .iter()
        .map(|s| AddedToken::from(*s, true))
        .collect();
    let mut trainer: TrainerWrapper = WordPieceTrainer::builder()
        .vocab_size(size)
        .min_frequency(min_frequency)
        .show_progress(false)
        .special_tokens(specials)
        .build()
        .into();
    tokenizer
        .train(&mut trainer, texts)
        .map_err(|e| format!("training the vocabulary: {e}"))?;
    let mut entries: Vec<(String, u32)> = tokenizer.get_vocab(false).into_iter().collect();
    entries.sort_by_key(|(_, id)| *id);
    for (i, (token, id)) in entries.iter().enumerate() {
        if *id as usize != i {
            return Err(format!(
                "vocabulary ids are not dense at {token} ({id} ≠ {i})"
            ));
        }
    }
    let vocab: Vec<String> = entries.into_iter().map(|(t, _)| t).collect();
    if vocab.len() <= SPECIALS.len() {
        return Err("no text to learn a vocabulary from (no captions?)".into());
    }
    Ok(vocab)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::TextTokenizer;

    #[test]
    fn a_learned_vocabulary_loads_with_pubmedbert_special_ids() {
        let captions = [
            "Chest radiograph shows a left lower lobe consolidation.",
            "CT of the abdomen shows a hepatic lesion.",
            "Axial CT shows consolidation in the right lung.",
            "MRI of the brain shows a lesion.",
        ];
        let vocab = train_vocab(captions.iter().cycle().take(200), 120, 2).unwrap();
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
        assert!(train_vocab(std::iter::empty::<&str>(), 100, 1).is_err());
        assert!(train_vocab(captions.iter(), 5, 1).is_err());
    }
}
