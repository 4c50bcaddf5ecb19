//! VQA answer normalisation as M3AE's `normalize_word` (zhjohnchan/M3AE `prepro/glossary.py`),
//! applied as M3AE applies it, to `str(answer).lower()`; M3AE's quirks kept:
//!
//! - each punctuation mark of its list is deleted when the answer has it next to a space (or has
//!   a digit-comma-digit anywhere), otherwise replaced by a space;
//! - a period not followed by a digit is deleted (its `period_strip` pattern `(?!<=\d)(\.)(?!\d)`
//!   is a lookahead, not a lookbehind, and its `re.UNICODE` lands in `sub`'s count: at most 32);
//! - number words zero–ten and `none` become digits, the articles a/an/the are dropped, the
//!   contraction table is applied word by word, and commas are removed.

/// Marks M3AE deletes or turns into spaces.
const PUNCT: [&str; 21] = [
    ";", "/", "[", "]", "\"", "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`",
    ",", "?", "!",
];

/// `manual_map`: number words (and `none`) to digits.
const NUMBERS: [(&str, &str); 12] = [
    ("none", "0"),
    ("zero", "0"),
    ("one", "1"),
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
    ("ten", "10"),
];

/// `contractions`, sorted by key.
const CONTRACTIONS: [(&str, &str); 120] = [
    ("'ow'sat", "'ow's'at"),
    ("'ows'at", "'ow's'at"),
    ("I'dve", "I'd've"),
    ("Id've", "I'd've"),
    ("Im", "I'm"),
    ("Ive", "I've"),
    ("aint", "ain't"),
    ("arent", "aren't"),
    ("cant", "can't"),
    ("couldn'tve", "couldn't've"),
    ("couldnt", "couldn't"),
    ("couldnt've", "couldn't've"),
    ("couldve", "could've"),
    ("didnt", "didn't"),
    ("doesnt", "doesn't"),
    ("dont", "don't"),
    ("hadn'tve", "hadn't've"),
    ("hadnt", "hadn't"),
    ("hadnt've", "hadn't've"),
    ("hasnt", "hasn't"),
    ("havent", "haven't"),
    ("he'dve", "he'd've"),
    ("hed", "he'd"),
    ("hed've", "he'd've"),
    ("hes", "he's"),
    ("howd", "how'd"),
    ("howll", "how'll"),
    ("hows", "how's"),
    ("isnt", "isn't"),
    ("it'dve", "it'd've"),
    ("itd", "it'd"),
    ("itd've", "it'd've"),
    ("itll", "it'll"),
    ("let's", "let's"),
    ("maam", "ma'am"),
    ("mightn'tve", "mightn't've"),
    ("mightnt", "mightn't"),
    ("mightnt've", "mightn't've"),
    ("mightve", "might've"),
    ("mustnt", "mustn't"),
    ("mustve", "must've"),
    ("neednt", "needn't"),
    ("notve", "not've"),
    ("oclock", "o'clock"),
    ("oughtnt", "oughtn't"),
    ("ow's'at", "'ow's'at"),
    ("shant", "shan't"),
    ("she'dve", "she'd've"),
    ("she's", "she's"),
    ("shed've", "she'd've"),
    ("shouldn'tve", "shouldn't've"),
    ("shouldnt", "shouldn't"),
    ("shouldnt've", "shouldn't've"),
    ("shouldve", "should've"),
    ("somebody'd", "somebodyd"),
    ("somebody'dve", "somebody'd've"),
    ("somebodyd've", "somebody'd've"),
    ("somebodyll", "somebody'll"),
    ("somebodys", "somebody's"),
    ("someone'dve", "someone'd've"),
    ("someoned", "someone'd"),
    ("someoned've", "someone'd've"),
    ("someonell", "someone'll"),
    ("someones", "someone's"),
    ("something'dve", "something'd've"),
    ("somethingd", "something'd"),
    ("somethingd've", "something'd've"),
    ("somethingll", "something'll"),
    ("thats", "that's"),
    ("there'dve", "there'd've"),
    ("thered", "there'd"),
    ("thered've", "there'd've"),
    ("therere", "there're"),
    ("theres", "there's"),
    ("they'dve", "they'd've"),
    ("theyd", "they'd"),
    ("theyd've", "they'd've"),
    ("theyll", "they'll"),
    ("theyre", "they're"),
    ("theyve", "they've"),
    ("twas", "'twas"),
    ("wasnt", "wasn't"),
    ("we'dve", "we'd've"),
    ("wed've", "we'd've"),
    ("werent", "weren't"),
    ("weve", "we've"),
    ("whatll", "what'll"),
    ("whatre", "what're"),
    ("whats", "what's"),
    ("whatve", "what've"),
    ("whens", "when's"),
    ("whered", "where'd"),
    ("wheres", "where's"),
    ("whereve", "where've"),
    ("who'dve", "who'd've"),
    ("whod", "who'd"),
    ("whod've", "who'd've"),
    ("wholl", "who'll"),
    ("whos", "who's"),
    ("whove", "who've"),
    ("whyll", "why'll"),
    ("whyre", "why're"),
    ("whys", "why's"),
    ("wont", "won't"),
    ("wouldn'tve", "wouldn't've"),
    ("wouldnt", "wouldn't"),
    ("wouldnt've", "wouldn't've"),
    ("wouldve", "would've"),
    ("y'all'dve", "y'all'd've"),
    ("y'alld've", "y'all'd've"),
    ("y'allll", "y'all'll"),
    ("yall", "y'all"),
    ("yall'd've", "y'all'd've"),
    ("yall'll", "y'all'll"),
    ("you'dve", "you'd've"),
    ("youd", "you'd"),
    ("youd've", "you'd've"),
    ("youll", "you'll"),
    ("youre", "you're"),
    ("youve", "you've"),
];

/// Whether `s` has a digit, a comma and a digit in a row (`comma_strip`).
fn digit_comma_digit(s: &str) -> bool {
    let c: Vec<char> = s.chars().collect();
    c.windows(3)
        .any(|w| w[0].is_ascii_digit() && w[1] == ',' && w[2].is_ascii_digit())
}

/// Deletes up to 32 periods that are not followed by a digit (`period_strip.sub`).
fn strip_periods(s: &str) -> String {
    let c: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut removed = 0;
    for (i, &ch) in c.iter().enumerate() {
        let next_digit = c.get(i + 1).is_some_and(|n| n.is_ascii_digit());
        if ch == '.' && !next_digit && removed < 32 {
            removed += 1;
            continue;
        }
        out.push(ch);
    }
    out
}

/// M3AE's answer normalisation of one answer (lower-cased first, as M3AE calls it).
pub fn normalize_answer(answer: &str) -> String {
    let token = answer.to_lowercase();
    let mut t = token.clone();
    let comma = digit_comma_digit(&token);
    for p in PUNCT {
        let spaced = token.contains(&format!("{p} ")) || token.contains(&format!(" {p}"));
        t = t.replace(p, if spaced || comma { "" } else { " " });
    }
    let t = strip_periods(&t);
    let words: Vec<String> = t
        .split_whitespace()
        .map(|w| {
            NUMBERS
                .iter()
                .find(|(k, _)| *k == w)
                .map_or(w, |(_, v)| v)
                .to_string()
        })
        .filter(|w| !matches!(w.as_str(), "a" | "an" | "the"))
        .map(
            |w| match CONTRACTIONS.binary_search_by(|(k, _)| (*k).cmp(w.as_str())) {
                Ok(i) => CONTRACTIONS[i].1.to_string(),
                Err(_) => w,
            },
        )
        .collect();
    words.join(" ").replace(',', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contraction_table_is_sorted_for_lookup() {
        assert!(CONTRACTIONS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn answers_normalise_as_m3ae_does() {
        // Expected values printed by M3AE's normalize_word(str(a).lower()).
        for (a, want) in [
            (" Yes ", "yes"),
            ("The Left Lung.", "left lung"),
            ("Two", "2"),
            ("None", "0"),
            ("x-ray", "x ray"),
            ("x - ray", "x ray"),
            ("1,000 cells", "1000 cells"),
            ("T2-weighted, axial", "t2 weighted axial"),
            ("3.5 cm", "3.5 cm"),
            ("dont know", "don't know"),
            (
                "superficial to the patient's skin",
                "superficial to patient's skin",
            ),
            ("?", ""),
            ("(left)", "left"),
        ] {
            assert_eq!(normalize_answer(a), want, "{a:?}");
        }
    }
}
