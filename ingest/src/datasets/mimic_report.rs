//! FINDINGS / IMPRESSION extraction from MIMIC-CXR free-text reports, after MIT-LCP's
//! `section_parser` (as vendored in MGCA `mgca/preprocess/utils.py`): section headers match
//! `\n ([A-Z ()/,-]+):\s`, names are normalised through a small typo table, the last section of
//! a name wins, and with neither findings nor impression the last paragraph is kept.

use std::sync::OnceLock;

use regex::Regex;

/// The sections a report yields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sections {
    /// FINDINGS text.
    pub findings: Option<String>,
    /// IMPRESSION text.
    pub impression: Option<String>,
    /// The text after the last blank line, when there is neither findings nor impression.
    pub last_paragraph: Option<String>,
}

impl Sections {
    /// Findings then impression (one per line), or the last paragraph.
    pub fn caption(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.findings, &self.impression]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if parts.is_empty() {
            self.last_paragraph.clone()
        } else {
            Some(parts.join("\n"))
        }
    }
}

fn header() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\n ([A-Z ()/,-]+):\s").expect("valid regex"))
}

/// Maps a header to `findings`, `impression` or its own lower-case name.
fn normalise(name: &str) -> String {
    let n = name.trim().to_lowercase();
    match n.as_str() {
        "impresson"
        | "impressions"
        | "findings and impression"
        | "findings/impression"
        | "conclusion"
        | "summary" => "impression".into(),
        "finding"
        | "findings"
        | "chest, two views"
        | "pa and lateral views of the chest"
        | "portable chest"
        | "frontal and lateral views of the chest" => "findings".into(),
        _ => n,
    }
}

fn clean(s: &str) -> Option<String> {
    let t = s.split_whitespace().collect::<Vec<_>>().join(" ");
    (!t.is_empty()).then_some(t)
}

/// Splits a report into its sections.
pub fn sections(report: &str) -> Sections {
    let text = format!("\n{}", report.replace("\r\n", "\n"));
    let heads: Vec<_> = header().captures_iter(&text).collect();
    let mut out = Sections::default();
    for (i, cap) in heads.iter().enumerate() {
        let whole = cap.get(0).expect("match");
        let end = heads
            .get(i + 1)
            .map_or(text.len(), |n| n.get(0).expect("match").start());
        let body = clean(&text[whole.end()..end]);
        match normalise(&cap[1]).as_str() {
            "findings" => out.findings = body,
            "impression" => out.impression = body,
            _ => {}
        }
    }
    if out.findings.is_none() && out.impression.is_none() {
        out.last_paragraph = text.trim_end().rsplit("\n \n").next().and_then(clean);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "                                 FINAL REPORT\n EXAMINATION:  CHEST (PA AND LAT)\n \n INDICATION:  ___ with cough\n \n FINDINGS: \n \n There is no focal consolidation.  No pleural effusion.\n \n IMPRESSION: \n \n No acute cardiopulmonary process.\n";

    #[test]
    fn findings_and_impression() {
        let s = sections(REPORT);
        assert_eq!(
            s.findings.as_deref(),
            Some("There is no focal consolidation. No pleural effusion.")
        );
        assert_eq!(
            s.impression.as_deref(),
            Some("No acute cardiopulmonary process.")
        );
        assert_eq!(
            s.caption().unwrap(),
            "There is no focal consolidation. No pleural effusion.\nNo acute cardiopulmonary process."
        );
    }

    #[test]
    fn typo_header_and_last_section_wins() {
        let s = sections("\n IMPRESSON: first.\n \n IMPRESSION: second.\n");
        assert_eq!(s.impression.as_deref(), Some("second."));
    }

    #[test]
    fn no_sections_keeps_last_paragraph() {
        let s = sections(
            "                FINAL REPORT\n PA and lateral chest.\n \n Heart size normal, lungs clear.\n",
        );
        assert_eq!(
            s.caption().as_deref(),
            Some("Heart size normal, lungs clear.")
        );
    }
}
