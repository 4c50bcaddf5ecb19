//! `unimlip inspect URL --html DIR`: one static page to look at a dataset: the manifest's
//! summary, the counts per split, a grid of thumbnails sampled from each split with their
//! captions, labels or questions, and the quarantine table with its reasons (and a thumbnail
//! where the rejected file's bytes are still at the source and decode). No script, no network:
//! `index.html` and `thumbs/` open from disk in any browser.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use unimlip_ingest::{ResizePolicy, normalize};
use unimlip_shards::{
    ImageFormat, Manifest, QuarantineEntry, Record, Store, decode_quarantine, fetch_verified,
    read_shard,
};

/// Longest side of a thumbnail, in pixels.
const THUMB_SIDE: u32 = 192;
/// Shards read per split for its sample (spread over the split: first, middle, last).
const SHARDS_PER_SPLIT: usize = 3;
/// Quarantine rows shown (the page says how many more there are).
const QUARANTINE_ROWS: usize = 500;
/// Characters of a caption shown under its thumbnail.
const CAPTION_CHARS: usize = 280;

/// What the page holds.
#[derive(Debug, Default)]
pub struct Page {
    /// Sample thumbnails written.
    pub thumbnails: usize,
    /// Quarantine rows listed.
    pub quarantine_rows: usize,
    /// Of those, rows with a thumbnail of the rejected file.
    pub quarantine_thumbnails: usize,
}

/// One sampled row as the grid shows it.
struct Card {
    thumb: Option<String>,
    id: String,
    split: String,
    lines: Vec<String>,
}

/// Writes `dir/index.html` and `dir/thumbs/` for the dataset at `store`: `per_split` sampled
/// rows of every split.
pub fn write(store: &Store, m: &Manifest, dir: &Path, per_split: usize) -> anyhow::Result<Page> {
    let thumbs = dir.join("thumbs");
    std::fs::create_dir_all(&thumbs)
        .with_context(|| format!("cannot create {}", thumbs.display()))?;
    let mut page = Page::default();
    let mut cards = Vec::new();
    for split in m.splits.keys() {
        for r in sample_split(store, m, split, per_split)? {
            let name = format!("s{:05}", cards.len());
            let thumb = thumbnail(&r.image, &thumbs, &name);
            page.thumbnails += usize::from(thumb.is_some());
            let lines = describe(&r, &m.label_names);
            cards.push(Card {
                thumb,
                id: r.id,
                split: r.split,
                lines,
            });
        }
    }
    let quarantine = match store.get_opt(unimlip_shards::QUARANTINE_PATH)? {
        Some(bytes) => decode_quarantine(bytes)
            .with_context(|| format!("{}: unreadable quarantine table", store.url()))?,
        None => Vec::new(),
    };
    let source = Store::open_existing(&m.source.root).ok();
    let mut rows = String::new();
    for (i, q) in quarantine.iter().take(QUARANTINE_ROWS).enumerate() {
        let file = match &source {
            Some(s) => quarantined_file(s, q, &thumbs, &format!("q{i:05}")),
            None => Rejected::Absent,
        };
        page.quarantine_thumbnails += usize::from(matches!(file, Rejected::Thumb(_)));
        quarantine_row(&mut rows, q, &file);
        page.quarantine_rows += 1;
    }
    let html = render(m, &cards, &rows, quarantine.len());
    let index = dir.join("index.html");
    std::fs::write(&index, html).with_context(|| format!("cannot write {}", index.display()))?;
    Ok(page)
}

/// Up to `n` rows of `split`, taken evenly from up to three of its shards spread over it.
fn sample_split(store: &Store, m: &Manifest, split: &str, n: usize) -> anyhow::Result<Vec<Record>> {
    let shards: Vec<_> = m.shards.iter().filter(|s| s.split == split).collect();
    if shards.is_empty() || n == 0 {
        return Ok(Vec::new());
    }
    let k = shards.len().min(SHARDS_PER_SPLIT).min(n);
    let picks: Vec<usize> = (0..k)
        .map(|i| {
            if k == 1 {
                0
            } else {
                i * (shards.len() - 1) / (k - 1)
            }
        })
        .collect();
    let mut out = Vec::new();
    for (j, &p) in picks.iter().enumerate() {
        let want = n / k + usize::from(j < n % k);
        let entry = shards[p];
        let bytes = fetch_verified(store, entry)
            .with_context(|| format!("cannot read {} for the page", entry.path))?;
        let rows = read_shard(&entry.path, bytes)?;
        let step = (rows.len() / want.max(1)).max(1);
        out.extend(rows.into_iter().step_by(step).take(want));
    }
    Ok(out)
}

/// A thumbnail of encoded image bytes as `thumbs/<name>.{jpg,png}`; `None` when they do not
/// decode.
fn thumbnail(bytes: &[u8], thumbs: &Path, name: &str) -> Option<String> {
    let small = normalize(bytes.to_vec(), ResizePolicy::MaxSide(THUMB_SIDE)).ok()?;
    let ext = match small.info.format {
        ImageFormat::Jpeg => "jpg",
        ImageFormat::Png => "png",
    };
    let file = format!("{name}.{ext}");
    std::fs::write(thumbs.join(&file), &small.bytes).ok()?;
    Some(format!("thumbs/{file}"))
}

/// What the page shows of a rejected file.
enum Rejected {
    /// A thumbnail (the file is at the source and decodes).
    Thumb(String),
    /// The file is at the source with this many bytes, but does not decode.
    Undecodable(usize),
    /// Not an image file, or not (or no longer) at the source.
    Absent,
}

/// The rejected file, when the entry names an image file inside the source root that the
/// source still has.
fn quarantined_file(source: &Store, q: &QuarantineEntry, thumbs: &Path, name: &str) -> Rejected {
    let lower = q.source.to_ascii_lowercase();
    let image = [".jpg", ".jpeg", ".png"].iter().any(|e| lower.ends_with(e));
    if !image || q.source.split('/').any(|p| p == "..") {
        return Rejected::Absent;
    }
    match source.get_opt(&q.source) {
        Ok(Some(bytes)) => match thumbnail(&bytes, thumbs, name) {
            Some(t) => Rejected::Thumb(t),
            None => Rejected::Undecodable(bytes.len()),
        },
        _ => Rejected::Absent,
    }
}

/// The lines under a thumbnail: caption, labels, questions, view.
fn describe(r: &Record, label_names: &[String]) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(c) = &r.caption {
        let short: String = c.chars().take(CAPTION_CHARS).collect();
        let more = if c.chars().count() > CAPTION_CHARS {
            "…"
        } else {
            ""
        };
        lines.push(format!("{short}{more}"));
    }
    if let Some(labels) = &r.labels {
        let named: Vec<String> = labels
            .iter()
            .zip(label_names)
            .filter(|(v, _)| **v != 0.0 && !v.is_nan())
            .map(|(v, n)| {
                if *v < 0.0 {
                    format!("{n} (uncertain)")
                } else {
                    n.clone()
                }
            })
            .collect();
        let text = if named.is_empty() {
            "no finding labelled".to_string()
        } else {
            named.join(", ")
        };
        lines.push(format!("labels: {text}"));
    }
    for q in r.qa.iter().flatten().take(3) {
        let (qq, a) = (q.question.as_deref(), q.answer.as_deref());
        lines.push(format!("Q: {} A: {}", qq.unwrap_or("?"), a.unwrap_or("?")));
    }
    if let Some(v) = &r.view {
        lines.push(format!("view: {v}"));
    }
    lines
}

/// HTML-escapes text.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn quarantine_row(out: &mut String, q: &QuarantineEntry, file: &Rejected) {
    let cell = |s: Option<&str>| esc(s.unwrap_or("–"));
    let img = match file {
        Rejected::Thumb(t) => format!("<img class=\"qthumb\" src=\"{}\" alt=\"\">", esc(t)),
        Rejected::Undecodable(n) => format!("{n} bytes, no picture"),
        Rejected::Absent => "–".into(),
    };
    let _ = writeln!(
        out,
        "<tr><td>{img}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td><b>{}</b></td><td>{}</td></tr>",
        esc(&q.source),
        cell(q.id.as_deref()),
        cell(q.split.as_deref()),
        esc(&q.reason),
        esc(&q.detail)
    );
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;\
text-align:left;vertical-align:top}th{background:#f4f4f4}.grid{display:grid;\
grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:12px}.card{border:1px solid #ddd;\
border-radius:6px;padding:8px;font-size:13px}.card img{max-width:100%;display:block;\
margin-bottom:6px;background:#000}.meta{color:#666;font-size:12px}.qthumb{max-width:96px}";

fn render(m: &Manifest, cards: &[Card], quarantine_rows: &str, quarantined: usize) -> String {
    let mut h = String::new();
    let title = format!("{} — unimlip dataset", m.dataset);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&m.dataset)
    );
    summary(&mut h, m);
    splits(&mut h, m);
    let _ = writeln!(h, "<h2>Samples</h2>\n<div class=\"grid\" id=\"samples\">");
    for c in cards {
        let img = match &c.thumb {
            Some(t) => format!(
                "<img class=\"thumb\" src=\"{}\" alt=\"{}\">",
                esc(t),
                esc(&c.id)
            ),
            None => "<p class=\"meta\">(image does not decode)</p>".into(),
        };
        let lines: String = c
            .lines
            .iter()
            .map(|l| format!("<div>{}</div>", esc(l)))
            .collect();
        let _ = writeln!(
            h,
            "<div class=\"card\">{img}<div class=\"meta\">{} · {}</div>{lines}</div>",
            esc(&c.id),
            esc(&c.split)
        );
    }
    let _ = writeln!(h, "</div>\n<h2>Quarantine</h2>");
    let shown = quarantined.min(QUARANTINE_ROWS);
    let more = if quarantined > shown {
        format!(" (the first {shown} shown)")
    } else {
        String::new()
    };
    let _ = writeln!(h, "<p>{quarantined} inputs rejected{more}.</p>");
    if quarantined > 0 {
        let _ = writeln!(
            h,
            "<table id=\"quarantine\"><tr><th>file</th><th>source</th><th>id</th><th>split</th>\
             <th>reason</th><th>detail</th></tr>\n{quarantine_rows}</table>"
        );
    }
    h.push_str("</body></html>\n");
    h
}

fn summary(h: &mut String, m: &Manifest) {
    let bytes: u64 = m.shards.iter().map(|s| s.bytes).sum();
    let rows = [
        ("schema", format!("v{}", m.schema_version)),
        ("written by", format!("unimlip {}", m.tool_version)),
        ("committed", m.created_at.clone()),
        ("source", m.source.root.clone()),
        (
            "rows",
            format!(
                "{} of {} inputs ({} quarantined)",
                m.rows(),
                m.inputs,
                m.quarantine.rows
            ),
        ),
        (
            "shards",
            format!("{} ({})", m.shards.len(), crate::fmt::bytes(bytes)),
        ),
        (
            "labels",
            if m.label_names.is_empty() {
                "(none)".to_string()
            } else {
                m.label_names.join(", ")
            },
        ),
    ];
    h.push_str("<table id=\"summary\">");
    for (k, v) in rows {
        let _ = write!(h, "<tr><th>{k}</th><td>{}</td></tr>", esc(&v));
    }
    h.push_str("</table>\n");
}

fn splits(h: &mut String, m: &Manifest) {
    h.push_str("<h2>Splits</h2><table id=\"splits\"><tr><th>split</th><th>rows</th><th>shards</th><th>bytes</th></tr>");
    for (name, s) in &m.splits {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            s.rows,
            s.shards,
            crate::fmt::bytes(s.bytes)
        );
    }
    h.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }

    #[test]
    fn labels_are_named_with_uncertainty() {
        let r = Record {
            id: "a".into(),
            split: "train".into(),
            subset: None,
            image: vec![],
            image_info: unimlip_shards::ImageInfo {
                format: ImageFormat::Png,
                width: 1,
                height: 1,
                channels: 1,
                bit_depth: 8,
            },
            source_path: None,
            caption: Some("x".repeat(300)),
            labels: Some(vec![1.0, 0.0, -1.0, f32::NAN]),
            patient_id: None,
            study_id: None,
            view: Some("PA".into()),
            qa: None,
            license: None,
            extra: None,
            mask: None,
        };
        let names: Vec<String> = ["A", "B", "C", "D"].iter().map(|s| s.to_string()).collect();
        let lines = describe(&r, &names);
        assert!(lines[0].ends_with('…') && lines[0].chars().count() == CAPTION_CHARS + 1);
        assert_eq!(lines[1], "labels: A, C (uncertain)");
        assert_eq!(lines[2], "view: PA");
    }
}
