use std::path::Path;

use serde_json::Value;

use crate::util::*;

/// Opens `page` in headless Chromium; `None` where the browser is not installed (outside CI).
fn browse(page: &Path, selector: &str) -> Option<Value> {
    let (Ok(pw), Ok(chromium)) = (
        std::env::var("UNIMLIP_PLAYWRIGHT"),
        std::env::var("UNIMLIP_CHROMIUM"),
    ) else {
        require_tool("Chromium and playwright-core (UNIMLIP_PLAYWRIGHT, UNIMLIP_CHROMIUM)");
        return None;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/check_page.cjs");
    let out = std::process::Command::new("node")
        .arg(script)
        .args([pw.as_str(), chromium.as_str()])
        .arg(page)
        .arg(selector)
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(json(&String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn a_dataset_page_loads_in_a_browser_with_every_thumbnail() {
    let d = tempfile::tempdir().unwrap();
    let (src, ds) = (d.path().join("src"), d.path().join("ds"));
    let report = synth("pmc-oa", &src, 40, 2);
    ok(&[
        "ingest",
        "--dataset",
        "pmc-oa",
        "--src",
        src.to_str().unwrap(),
        "--out",
        ds.to_str().unwrap(),
    ]);
    let m = json(&ok(&["inspect", ds.to_str().unwrap(), "--json"]));
    let per_split = 5u64;
    let expected: u64 = m["splits"]
        .as_object()
        .unwrap()
        .values()
        .map(|s| s["rows"].as_u64().unwrap().min(per_split))
        .sum();
    let page = d.path().join("page");
    let out = ok(&[
        "inspect",
        ds.to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
        "--thumbnails",
        &per_split.to_string(),
    ]);
    assert!(
        out.contains(&format!("{expected} thumbnails")),
        "{out} (expected {expected})"
    );
    let quarantined: u64 = expected_quarantine(&report).values().sum();
    assert!(quarantined > 0);
    assert!(
        out.contains(&format!("{quarantined} quarantine rows")),
        "{out}"
    );
    let html = std::fs::read_to_string(page.join("index.html")).unwrap();
    let table = html.split("id=\"quarantine\"").nth(1).unwrap();
    assert_eq!(table.matches("<tr><td>").count(), quarantined as usize);
    for reason in expected_quarantine(&report).keys() {
        assert!(html.contains(&format!("<b>{reason}</b>")), "{reason}");
    }
    // The rejected file that still decodes (a second row with an id already ingested) has its
    // thumbnail; the truncated one is there but has no picture; nothing outside the root is read.
    assert!(out.contains("(1 with a thumbnail)"), "{out}");
    let row = |reason: &str| {
        html.lines()
            .find(|l| l.contains(&format!("<b>{reason}</b>")))
            .unwrap()
            .to_string()
    };
    assert!(row("duplicate-id").contains("class=\"qthumb\""));
    assert!(row("corrupt-image").contains("bytes, no picture"));
    assert!(row("path-escape").starts_with("<tr><td>–</td>"));

    // A VQA dataset's page shows its questions and answers.
    let (vsrc, vds, vpage) = (
        d.path().join("v"),
        d.path().join("vds"),
        d.path().join("vp"),
    );
    synth("vqa-rad", &vsrc, 20, 1);
    ok(&[
        "ingest",
        "--dataset",
        "vqa-rad",
        "--src",
        vsrc.to_str().unwrap(),
        "--out",
        vds.to_str().unwrap(),
    ]);
    ok(&[
        "inspect",
        vds.to_str().unwrap(),
        "--html",
        vpage.to_str().unwrap(),
    ]);
    let vhtml = std::fs::read_to_string(vpage.join("index.html")).unwrap();
    assert!(
        vhtml.contains("<div>Q: ") && vhtml.contains(" A: "),
        "the questions are shown"
    );

    let Some(seen) = browse(&page.join("index.html"), "img.thumb") else {
        return;
    };
    assert_eq!(seen["errors"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["images"].as_u64(), Some(expected), "{seen}");
    assert_eq!(seen["loaded"].as_u64(), Some(expected), "{seen}");
    assert!(seen["title"].as_str().unwrap().contains("pmc-oa"), "{seen}");

    // A page whose thumbnail is gone shows a load error: the check can fail.
    let thumbs = page.join("thumbs");
    let first = std::fs::read_dir(&thumbs).unwrap().next().unwrap().unwrap();
    std::fs::remove_file(first.path()).unwrap();
    let seen = browse(&page.join("index.html"), "img.thumb").unwrap();
    assert_eq!(seen["loaded"].as_u64(), Some(expected - 1), "{seen}");
    assert!(!seen["errors"].as_array().unwrap().is_empty(), "{seen}");
}
