//! `unimlip report RUN_DIR…`: loss curves, throughput and result bars as PNG files, and one HTML
//! page that shows them with the result tables.

pub mod font;
pub mod plot;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plot::{bar_chart, line_chart};

use crate::{Error, Result};

/// One run folder's metrics lines and evaluation results.
#[derive(Debug, Default)]
pub struct RunData {
    /// The folder's name.
    pub name: String,
    /// `metrics.jsonl`, parsed.
    pub metrics: Vec<serde_json::Value>,
    /// `eval/*.json` results, by file stem.
    pub results: Vec<(String, serde_json::Value)>,
    /// `eval/*.md` tables, by file stem.
    pub tables: Vec<(String, String)>,
}

/// Reads a run folder (missing parts are simply absent).
pub fn read_run(dir: &Path) -> Result<RunData> {
    if !dir.is_dir() {
        return Err(Error::Data(format!("{}: not a run folder", dir.display())));
    }
    let mut run = RunData {
        name: dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().to_string(),
        ),
        ..RunData::default()
    };
    if let Ok(text) = std::fs::read_to_string(dir.join("metrics.jsonl")) {
        for (i, line) in text.lines().enumerate() {
            let v = serde_json::from_str(line).map_err(|e| {
                Error::Data(format!(
                    "{}: line {}: {e}",
                    dir.join("metrics.jsonl").display(),
                    i + 1
                ))
            })?;
            run.metrics.push(v);
        }
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("eval"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        let stem = f
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&f)
            .map_err(|e| Error::Data(format!("{}: {e}", f.display())))?;
        match f.extension().and_then(|e| e.to_str()) {
            Some("json") => {
                let v = serde_json::from_str(&text)
                    .map_err(|e| Error::Data(format!("{}: {e}", f.display())))?;
                run.results.push((stem, v));
            }
            Some("md") => run.tables.push((stem, text)),
            _ => {}
        }
    }
    Ok(run)
}

fn series(m: &[serde_json::Value], key: &str) -> Vec<(f64, f64)> {
    m.iter()
        .filter_map(|l| Some((l["step"].as_f64()?, l[key].as_f64()?)))
        .collect()
}

/// Bars of one result: recalls, macro AUC or accuracies (percent).
fn result_bars(v: &serde_json::Value) -> Vec<(String, f64)> {
    let p = |x: &serde_json::Value| x.as_f64().map(|f| 100.0 * f);
    let mut bars = Vec::new();
    match v["task"].as_str() {
        Some("retrieval") => {
            for (dir, key) in [("i2t", "i2t"), ("t2i", "t2i")] {
                for k in ["r1", "r5", "r10"] {
                    if let Some(x) = p(&v[key][k]) {
                        bars.push((format!("{dir} {k}"), x));
                    }
                }
            }
        }
        Some("classify") => {
            if let Some(x) = p(&v["test"]["macro_auc"]) {
                bars.push(("macro AUC".into(), x));
            }
        }
        Some("vqa") => {
            for k in ["open", "closed", "overall"] {
                if let Some(x) = p(&v["accuracy"][k]) {
                    bars.push((k.into(), x));
                }
            }
        }
        _ => {}
    }
    bars
}

/// Writes the charts and `index.html` for `runs` into `out`; returns the page's path.
pub fn write_report(runs: &[RunData], out: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(out).map_err(|e| Error::Data(format!("{}: {e}", out.display())))?;
    let write = |name: &str, png: Vec<u8>| -> Result<String> {
        let p = out.join(name);
        std::fs::write(&p, png).map_err(|e| Error::Data(format!("{}: {e}", p.display())))?;
        Ok(name.to_string())
    };
    let mut html = String::from(
        "<!doctype html><meta charset=\"utf-8\"><title>unimlip report</title>\
         <style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}\
         img{max-width:100%}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}</style>\
         <h1>unimlip report</h1>\n",
    );
    for (r, run) in runs.iter().enumerate() {
        let _ = writeln!(html, "<h2>{}</h2>", escape(&run.name));
        if !run.metrics.is_empty() {
            let keys = [
                "loss",
                "loss_itc",
                "loss_itc_img",
                "loss_itc_txt",
                "loss_i2i",
                "loss_mlm",
            ];
            let curves: Vec<(String, Vec<(f64, f64)>)> = keys
                .iter()
                .map(|k| (k.to_string(), series(&run.metrics, k)))
                .filter(|(_, s)| !s.is_empty())
                .collect();
            let img = write(
                &format!("run{r}-losses.png"),
                line_chart("losses", "step", &curves).png(),
            )?;
            let _ = writeln!(html, "<img src=\"{img}\" alt=\"losses\">");
            let speed = vec![(
                "samples/s".to_string(),
                series(&run.metrics, "samples_per_s"),
            )];
            let img = write(
                &format!("run{r}-throughput.png"),
                line_chart("throughput", "step", &speed).png(),
            )?;
            let _ = writeln!(html, "<img src=\"{img}\" alt=\"throughput\">");
            let evals: Vec<(f64, f64)> = run
                .metrics
                .iter()
                .filter_map(|l| Some((l["step"].as_f64()?, 100.0 * l["eval"]["i2t_r1"].as_f64()?)))
                .collect();
            if !evals.is_empty() {
                let chance: Vec<(f64, f64)> = run
                    .metrics
                    .iter()
                    .filter_map(|l| {
                        Some((l["step"].as_f64()?, 100.0 * l["eval"]["chance"].as_f64()?))
                    })
                    .collect();
                let s = vec![
                    ("i2t R@1 %".to_string(), evals),
                    ("chance %".to_string(), chance),
                ];
                let img = write(
                    &format!("run{r}-heldout.png"),
                    line_chart("held-out retrieval", "step", &s).png(),
                )?;
                let _ = writeln!(html, "<img src=\"{img}\" alt=\"held-out retrieval\">");
            }
        }
        for (k, (stem, v)) in run.results.iter().enumerate() {
            let bars = result_bars(v);
            if !bars.is_empty() {
                let img = write(
                    &format!("run{r}-result{k}.png"),
                    bar_chart(stem, "%", &bars).png(),
                )?;
                let _ = writeln!(
                    html,
                    "<h3>{}</h3><img src=\"{img}\" alt=\"{}\">",
                    escape(stem),
                    escape(stem)
                );
            }
        }
        for (stem, table) in &run.tables {
            let _ = writeln!(html, "<h3>{}</h3>{}", escape(stem), markdown_table(table));
        }
    }
    let page = out.join("index.html");
    std::fs::write(&page, html).map_err(|e| Error::Data(format!("{}: {e}", page.display())))?;
    Ok(page)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A Markdown pipe table as HTML.
fn markdown_table(md: &str) -> String {
    let mut out = String::from("<table>");
    for (i, line) in md.lines().filter(|l| l.starts_with('|')).enumerate() {
        if i == 1 {
            continue;
        }
        let tag = if i == 0 { "th" } else { "td" };
        out.push_str("<tr>");
        for cell in line.trim_matches('|').split('|') {
            let _ = write!(out, "<{tag}>{}</{tag}>", escape(cell.trim()));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_folder_becomes_charts_and_a_page() {
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("run");
        std::fs::create_dir_all(run.join("eval")).unwrap();
        let lines: String = (1..=5)
            .map(|s| {
                format!(
                    "{{\"step\":{s},\"loss\":{},\"samples_per_s\":100.0}}\n",
                    5.0 - s as f64
                )
            })
            .collect();
        std::fs::write(run.join("metrics.jsonl"), lines).unwrap();
        std::fs::write(
            run.join("eval/vqa-slake.json"),
            r#"{"task":"vqa","accuracy":{"open":0.5,"closed":0.75,"overall":0.6}}"#,
        )
        .unwrap();
        std::fs::write(
            run.join("eval/vqa-slake.md"),
            "| a | b |\n|---|---|\n| 1 | <2> |\n",
        )
        .unwrap();
        let data = read_run(&run).unwrap();
        assert_eq!(data.metrics.len(), 5);
        let page = write_report(&[data], &d.path().join("report")).unwrap();
        let html = std::fs::read_to_string(&page).unwrap();
        for f in ["run0-losses.png", "run0-throughput.png", "run0-result0.png"] {
            assert!(html.contains(f), "{html}");
            assert!(d.path().join("report").join(f).exists());
        }
        assert!(html.contains("<td>&lt;2&gt;</td>"), "{html}");
        assert!(read_run(&d.path().join("missing")).is_err());
    }
}
