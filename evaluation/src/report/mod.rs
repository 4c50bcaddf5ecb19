//! `unimlip report RUN_DIR…`: loss curves, throughput and result bars as PNG files, and one HTML
//! page that shows them with the result tables.

pub mod font;
pub mod plot;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plot::{bar_chart, grouped_bar_chart, line_chart};

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
        // Other entries (the TensorBoard folder) are not results.
        let ext = f.extension().and_then(|e| e.to_str());
        if !matches!(ext, Some("json" | "md")) || !f.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&f)
            .map_err(|e| Error::Data(format!("{}: {e}", f.display())))?;
        match ext {
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

/// The loss keys charted for every run.
const LOSS_KEYS: [&str; 6] = [
    "loss",
    "loss_itc",
    "loss_itc_img",
    "loss_itc_txt",
    "loss_i2i",
    "loss_mlm",
];

/// Writes PNG files into one folder, naming them for the page.
struct Charts<'a> {
    out: &'a Path,
}

impl Charts<'_> {
    fn write(&self, name: &str, png: Vec<u8>) -> Result<String> {
        let p = self.out.join(name);
        std::fs::write(&p, png).map_err(|e| Error::Data(format!("{}: {e}", p.display())))?;
        Ok(name.to_string())
    }
}

/// Writes the charts and `index.html` for `runs` into `out`; returns the page's path. With two
/// or more runs the page opens with their curves overlaid and their results side by side, and
/// shows each run in its own column; `samples` (a folder written by `unimlip inspect --sample`)
/// adds a grid of the training views with their captions.
pub fn write_report(runs: &[RunData], samples: Option<&Path>, out: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(out).map_err(|e| Error::Data(format!("{}: {e}", out.display())))?;
    let charts = Charts { out };
    let mut html = String::from(
        "<!doctype html><meta charset=\"utf-8\"><title>unimlip report</title>\
         <style>body{font-family:sans-serif;max-width:1400px;margin:2em auto}\
         img{max-width:100%}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}\
         .runs{display:grid;gap:1em}.samples{display:flex;flex-wrap:wrap;gap:1em}\
         figure{margin:0;width:320px}figcaption{font-size:0.85em}</style>\
         <h1>unimlip report</h1>\n",
    );
    if runs.len() >= 2 {
        compare(runs, &charts, &mut html)?;
    }
    if let Some(dir) = samples {
        sample_grid(dir, out, &mut html)?;
    }
    let _ = writeln!(
        html,
        "<div class=\"runs\" style=\"grid-template-columns:repeat({}, 1fr)\">",
        runs.len().max(1)
    );
    for (r, run) in runs.iter().enumerate() {
        html.push_str("<div>");
        one_run(r, run, &charts, &mut html)?;
        html.push_str("</div>");
    }
    html.push_str("</div>\n");
    let page = out.join("index.html");
    std::fs::write(&page, html).map_err(|e| Error::Data(format!("{}: {e}", page.display())))?;
    Ok(page)
}

/// The runs against each other: each loss overlaid, and every result they share as bars.
fn compare(runs: &[RunData], charts: &Charts<'_>, html: &mut String) -> Result<()> {
    html.push_str("<h2>side by side</h2>\n");
    for key in LOSS_KEYS {
        let curves: Vec<(String, Vec<(f64, f64)>)> = runs
            .iter()
            .map(|run| (run.name.clone(), series(&run.metrics, key)))
            .filter(|(_, s)| !s.is_empty())
            .collect();
        if curves.len() >= 2 {
            let img = charts.write(
                &format!("compare-{key}.png"),
                line_chart(key, "step", &curves).png(),
            )?;
            let _ = writeln!(html, "<img src=\"{img}\" alt=\"{key} of every run\">");
        }
    }
    let names: Vec<String> = runs.iter().map(|r| r.name.clone()).collect();
    for (k, (stem, first)) in runs[0].results.iter().enumerate() {
        // One group per metric of the first run's result, one bar per run.
        let per_run: Vec<Vec<(String, f64)>> = runs
            .iter()
            .map(|run| {
                run.results
                    .iter()
                    .find(|(s, _)| s == stem)
                    .map(|(_, v)| result_bars(v))
                    .unwrap_or_default()
            })
            .collect();
        let groups: Vec<(String, Vec<Option<f64>>)> = result_bars(first)
            .into_iter()
            .map(|(label, _)| {
                let values = per_run
                    .iter()
                    .map(|bars| bars.iter().find(|(l, _)| *l == label).map(|b| b.1))
                    .collect();
                (label, values)
            })
            .collect();
        if !groups.is_empty() {
            let img = charts.write(
                &format!("compare-result{k}.png"),
                grouped_bar_chart(stem, "%", &names, &groups).png(),
            )?;
            let _ = writeln!(
                html,
                "<h3>{}</h3><img src=\"{img}\" alt=\"{} of every run\">",
                escape(stem),
                escape(stem)
            );
        }
    }
    Ok(())
}

/// The views `unimlip inspect --sample` wrote, copied beside the page, with their captions.
fn sample_grid(dir: &Path, out: &Path, html: &mut String) -> Result<()> {
    let listing = dir.join("samples.json");
    let text = std::fs::read_to_string(&listing)
        .map_err(|e| Error::Data(format!("{}: {e}", listing.display())))?;
    let list: Vec<serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| Error::Data(format!("{}: {e}", listing.display())))?;
    let copies = out.join("samples");
    std::fs::create_dir_all(&copies)
        .map_err(|e| Error::Data(format!("{}: {e}", copies.display())))?;
    html.push_str("<h2>training views</h2><div class=\"samples\">\n");
    for s in &list {
        html.push_str("<figure>");
        for f in s["files"].as_array().into_iter().flatten() {
            let name = f.as_str().unwrap_or_default();
            if name.contains('/') || name.contains('\\') || name.is_empty() {
                return Err(Error::Data(format!(
                    "{}: bad file name {name:?}",
                    listing.display()
                )));
            }
            let (from, to) = (dir.join(name), copies.join(name));
            if from != to {
                std::fs::copy(&from, &to)
                    .map_err(|e| Error::Data(format!("{}: {e}", from.display())))?;
            }
            let _ = write!(
                html,
                "<img src=\"samples/{name}\" alt=\"{name}\" width=\"96\">"
            );
        }
        let caption = s["caption"].as_str().unwrap_or("");
        let id = s["id"].as_str().unwrap_or("");
        let _ = writeln!(
            html,
            "<figcaption><b>{}</b>: {}</figcaption></figure>",
            escape(id),
            escape(caption)
        );
    }
    html.push_str("</div>\n");
    Ok(())
}

/// One run's curves, results and tables.
fn one_run(r: usize, run: &RunData, charts: &Charts<'_>, html: &mut String) -> Result<()> {
    let _ = writeln!(html, "<h2>{}</h2>", escape(&run.name));
    if !run.metrics.is_empty() {
        let curves: Vec<(String, Vec<(f64, f64)>)> = LOSS_KEYS
            .iter()
            .map(|k| (k.to_string(), series(&run.metrics, k)))
            .filter(|(_, s)| !s.is_empty())
            .collect();
        let img = charts.write(
            &format!("run{r}-losses.png"),
            line_chart("losses", "step", &curves).png(),
        )?;
        let _ = writeln!(html, "<img src=\"{img}\" alt=\"losses\">");
        let speed = vec![(
            "samples/s".to_string(),
            series(&run.metrics, "samples_per_s"),
        )];
        let img = charts.write(
            &format!("run{r}-throughput.png"),
            line_chart("throughput", "step", &speed).png(),
        )?;
        let _ = writeln!(html, "<img src=\"{img}\" alt=\"throughput\">");
        heldout(r, run, charts, html)?;
    }
    for (k, (stem, v)) in run.results.iter().enumerate() {
        let bars = result_bars(v);
        if !bars.is_empty() {
            let img = charts.write(
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
    Ok(())
}

/// The held-out retrieval measured during training, against chance.
fn heldout(r: usize, run: &RunData, charts: &Charts<'_>, html: &mut String) -> Result<()> {
    let at = |key: &str| -> Vec<(f64, f64)> {
        run.metrics
            .iter()
            .filter_map(|l| Some((l["step"].as_f64()?, 100.0 * l["eval"][key].as_f64()?)))
            .collect()
    };
    let evals = at("i2t_r1");
    if evals.is_empty() {
        return Ok(());
    }
    let s = vec![
        ("i2t R@1 %".to_string(), evals),
        ("chance %".to_string(), at("chance")),
    ];
    let img = charts.write(
        &format!("run{r}-heldout.png"),
        line_chart("held-out retrieval", "step", &s).png(),
    )?;
    let _ = writeln!(html, "<img src=\"{img}\" alt=\"held-out retrieval\">");
    Ok(())
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
        let page = write_report(&[data], None, &d.path().join("report")).unwrap();
        let html = std::fs::read_to_string(&page).unwrap();
        for f in ["run0-losses.png", "run0-throughput.png", "run0-result0.png"] {
            assert!(html.contains(f), "{html}");
            assert!(d.path().join("report").join(f).exists());
        }
        assert!(html.contains("<td>&lt;2&gt;</td>"), "{html}");
        assert!(read_run(&d.path().join("missing")).is_err());
    }

    #[test]
    fn two_runs_are_compared_and_samples_shown_with_their_captions() {
        let d = tempfile::tempdir().unwrap();
        let mut runs = Vec::new();
        for (name, r1) in [("pmc-clip", 0.02), ("uni-mlip", 0.03)] {
            let run = d.path().join(name);
            std::fs::create_dir_all(run.join("eval")).unwrap();
            let lines: String = (1..=4)
                .map(|s| format!("{{\"step\":{s},\"loss\":1.0,\"loss_itc\":{s}.5}}\n"))
                .collect();
            std::fs::write(run.join("metrics.jsonl"), lines).unwrap();
            let result =
                format!(r#"{{"task":"retrieval","i2t":{{"r1":{r1}}},"t2i":{{"r1":{r1}}}}}"#);
            std::fs::write(run.join("eval/retrieval-roco.json"), result).unwrap();
            runs.push(read_run(&run).unwrap());
        }
        let samples = d.path().join("samples");
        std::fs::create_dir_all(&samples).unwrap();
        std::fs::write(samples.join("0000-weak.png"), b"png").unwrap();
        std::fs::write(
            samples.join("samples.json"),
            r#"[{"id":"ROCO_1","caption":"a <round> lesion","files":["0000-weak.png"]}]"#,
        )
        .unwrap();
        let out = d.path().join("report");
        let html =
            std::fs::read_to_string(write_report(&runs, Some(&samples), &out).unwrap()).unwrap();
        for f in [
            "compare-loss.png",
            "compare-loss_itc.png",
            "compare-result0.png",
        ] {
            assert!(html.contains(f) && out.join(f).exists(), "{f}: {html}");
        }
        assert!(!html.contains("compare-loss_mlm.png"), "no run has MLM");
        assert!(html.contains("repeat(2, 1fr)"), "{html}");
        assert!(html.contains("a &lt;round&gt; lesion"), "{html}");
        assert_eq!(
            std::fs::read(out.join("samples/0000-weak.png")).unwrap(),
            b"png"
        );

        // A listing that names a file outside its folder is refused.
        std::fs::write(
            samples.join("samples.json"),
            r#"[{"id":"x","caption":"","files":["../secret"]}]"#,
        )
        .unwrap();
        assert!(write_report(&runs, Some(&samples), &out).is_err());
    }
}
