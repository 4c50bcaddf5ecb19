//! What VQA-RAD and SLAKE share: QA records grouped into one row per (split, image), JSON
//! scalars of mixed types coerced to text, and every repair recorded in `extra.qa_fixes`.

use serde_json::{Map, Value, json};
use unimlip_shards::QaItem;

use crate::datasets::pmc_oa::scalar_text;

/// One image of one split with its questions, in first-appearance order.
#[derive(Debug, Default)]
pub(crate) struct Group {
    pub(crate) image: String,
    pub(crate) split: &'static str,
    pub(crate) qa: Vec<QaItem>,
    pub(crate) fixes: Vec<Value>,
    pub(crate) meta: Map<String, Value>,
    pub(crate) sources: Vec<String>,
}

/// Groups records by (split, image) keeping the order in which groups first appear.
#[derive(Default)]
pub(crate) struct Grouper {
    groups: Vec<Group>,
    index: std::collections::HashMap<(&'static str, String), usize>,
}

impl Grouper {
    pub(crate) fn group(&mut self, split: &'static str, image: &str) -> &mut Group {
        let key = (split, image.to_string());
        let i = *self.index.entry(key).or_insert_with(|| {
            self.groups.push(Group {
                image: image.to_string(),
                split,
                ..Default::default()
            });
            self.groups.len() - 1
        });
        &mut self.groups[i]
    }

    pub(crate) fn into_groups(self) -> Vec<Group> {
        self.groups
    }
}

/// A text field of a QA record: scalars coerced, whitespace trimmed, U+FFFD (a lost
/// apostrophe in VQA-RAD) replaced; any change is logged in `fixes`.
pub(crate) fn field(
    obj: &Map<String, Value>,
    key: &str,
    qid: &Option<String>,
    fixes: &mut Vec<Value>,
) -> Option<String> {
    let v = obj.get(key)?;
    let raw = scalar_text(v)?;
    let mut text = raw.trim().replace('\u{FFFD}', "'");
    if key == "answer_type" {
        text = text.to_uppercase();
    }
    let retyped = !v.is_string();
    if text != raw || retyped {
        fixes.push(json!({"qid": qid, "field": key, "raw": v}));
    }
    (!text.is_empty()).then_some(text)
}

/// Builds one QA item from a record object.
pub(crate) fn qa_item(
    obj: &Map<String, Value>,
    lang: Option<&str>,
    question_type_key: &str,
    fixes: &mut Vec<Value>,
) -> QaItem {
    let qid = obj.get("qid").and_then(scalar_text);
    if obj.get("qid").is_some_and(|v| !v.is_number()) {
        fixes.push(json!({"qid": qid, "field": "qid", "raw": obj.get("qid")}));
    }
    let answer = field(obj, "answer", &qid, fixes);
    if answer.is_none() {
        fixes.push(json!({"qid": qid, "field": "answer", "raw": obj.get("answer"), "note": "empty answer"}));
    }
    QaItem {
        question: field(obj, "question", &qid, fixes),
        answer,
        answer_type: field(obj, "answer_type", &qid, fixes),
        question_type: field(obj, question_type_key, &qid, fixes),
        lang: lang
            .map(str::to_string)
            .or_else(|| field(obj, "q_lang", &qid, fixes)),
        qid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_types_whitespace_and_replacement_char_are_fixed_and_logged() {
        let obj: Map<String, Value> = serde_json::from_str(
            r#"{"qid": "0", "question": "Is it\ufffds the duct? ", "answer": 4, "answer_type": "CLOSED ", "question_type": "COUNT"}"#,
        )
        .unwrap();
        let mut fixes = Vec::new();
        let q = qa_item(&obj, Some("en"), "question_type", &mut fixes);
        assert_eq!(q.qid.as_deref(), Some("0"));
        assert_eq!(q.question.as_deref(), Some("Is it's the duct?"));
        assert_eq!(q.answer.as_deref(), Some("4"));
        assert_eq!(q.answer_type.as_deref(), Some("CLOSED"));
        let mut fields: Vec<&str> = fixes.iter().map(|f| f["field"].as_str().unwrap()).collect();
        fields.sort();
        assert_eq!(fields, ["answer", "answer_type", "qid", "question"]);
    }
}
