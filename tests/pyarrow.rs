use std::process::Command;

use crate::util::*;

const SCRIPT: &str = r#"
import json, sys
import pyarrow.parquet as pq
root, paths = sys.argv[1], sys.argv[2:]
out = {"columns": None, "rows": [], "image_compression": set()}
for p in paths:
    f = pq.ParquetFile(f"{root}/{p}")
    out["columns"] = f.schema_arrow.names
    md = f.metadata
    for g in range(md.num_row_groups):
        for c in range(md.num_columns):
            col = md.row_group(g).column(c)
            if col.path_in_schema == "image":
                out["image_compression"].add(col.compression)
    t = f.read()
    for r in t.to_pylist():
        out["rows"].append({k: r[k] for k in ("id", "split", "subset", "caption", "license", "width", "height", "channels", "bit_depth", "image_format", "source_path")} | {"image_len": len(r["image"])})
out["image_compression"] = sorted(out["image_compression"])
print(json.dumps(out))
"#;

#[test]
fn shards_open_in_pyarrow_with_the_expected_values() {
    let Some(python) = std::env::var("UNIMLIP_PYTHON").ok() else {
        require_tool("pyarrow (UNIMLIP_PYTHON)");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let (src, out) = (d.path().join("roco"), d.path().join("store"));
    synth("roco", &src, 50, 8);
    ok(&ingest_args(
        "roco",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
    ));
    let stored = read_store(out.to_str().unwrap());
    let mut cmd = Command::new(python);
    cmd.arg("-c").arg(SCRIPT).arg(&out);
    for s in &stored.manifest.shards {
        cmd.arg(&s.path);
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v = json(&String::from_utf8_lossy(&o.stdout));

    let want = [
        "id",
        "split",
        "subset",
        "image",
        "image_format",
        "width",
        "height",
        "channels",
        "bit_depth",
        "source_path",
        "caption",
        "labels",
        "patient_id",
        "study_id",
        "view",
        "qa",
        "license",
        "extra",
        "mask",
    ];
    assert_eq!(v["columns"], serde_json::json!(want));
    assert_eq!(v["image_compression"], serde_json::json!(["UNCOMPRESSED"]));
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), stored.records.len());

    // Known records: the first three train/radiology captions as written in captions.txt.
    let captions = std::fs::read_to_string(src.join("data/train/radiology/captions.txt")).unwrap();
    let mut checked = 0;
    for line in captions.lines() {
        let Some((id, raw)) = line.split_once('\t') else {
            continue;
        };
        let Some(row) = rows.iter().find(|r| r["id"] == id) else {
            continue;
        };
        assert_eq!(row["caption"], raw.trim(), "{id}");
        assert_eq!(row["split"], "train");
        assert_eq!(row["subset"], "radiology");
        assert_eq!(
            row["source_path"],
            format!("data/train/radiology/images/{id}.jpg")
        );
        assert_eq!(row["image_format"], "jpeg");
        let rust = stored.records.iter().find(|r| r.id == id).unwrap();
        assert_eq!(row["width"], rust.image_info.width);
        assert_eq!(row["channels"], rust.image_info.channels);
        assert_eq!(row["image_len"], rust.image.len());
        assert_eq!(row["license"], rust.license.clone().unwrap());
        checked += 1;
        if checked == 3 {
            break;
        }
    }
    assert_eq!(checked, 3);
}
