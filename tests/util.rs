//! Helpers: run the binary, synthesise datasets, read what an ingest wrote.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use unimlip_shards::{
    Manifest, QuarantineEntry, Record, Store, decode_quarantine, fetch_verified, read_shard,
};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_unimlip"))
}

/// The result of one run.
pub struct Run {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `unimlip` with extra environment variables.
pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("spawn unimlip");
    Run {
        ok: status.success(),
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Runs `unimlip`.
pub fn run(args: &[&str]) -> Run {
    run_env(args, &[])
}

/// Runs `unimlip` and insists on success; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let r = run(args);
    assert!(r.ok, "unimlip {args:?} failed:\n{}\n{}", r.stdout, r.stderr);
    r.stdout
}

/// Parses stdout as one JSON object.
pub fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// Synthesises a dataset; returns the synth report.
pub fn synth(dataset: &str, dir: &Path, n: usize, seed: u64) -> Value {
    let (n, seed) = (n.to_string(), seed.to_string());
    json(&ok(&[
        "synth",
        "--dataset",
        dataset,
        "--out",
        dir.to_str().unwrap(),
        "--n",
        &n,
        "--seed",
        &seed,
        "--json",
    ]))
}

/// Synthesises `ds` under `dir` and ingests it with small shards; returns the source folder,
/// the output folder and the synth report.
pub fn synth_and_ingest(ds: &str, dir: &Path, n: usize, seed: u64) -> (PathBuf, PathBuf, Value) {
    let (src, out) = (dir.join(format!("{ds}-src")), dir.join(format!("{ds}-out")));
    let report = synth(ds, &src, n, seed);
    ok(&ingest_args(
        ds,
        src.to_str().unwrap(),
        out.to_str().unwrap(),
    ));
    (src, out, report)
}

/// Ingest arguments with small shards so that every split has several.
pub fn ingest_args<'a>(dataset: &'a str, src: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "ingest",
        "--dataset",
        dataset,
        "--src",
        src,
        "--out",
        out,
        "--shard-size",
        "96KiB",
        "--row-group-size",
        "32KiB",
        "--json",
    ]
}

/// Everything an ingest committed.
pub struct Stored {
    pub manifest: Manifest,
    pub records: Vec<Record>,
    pub quarantine: Vec<QuarantineEntry>,
}

/// Reads and verifies a committed dataset through the library.
pub fn read_store(url: &str) -> Stored {
    let store = Store::open(url).unwrap();
    let manifest = Manifest::load(&store).unwrap();
    let mut records = Vec::new();
    for s in &manifest.shards {
        let bytes = fetch_verified(&store, s).unwrap();
        let rows = read_shard(&s.path, bytes).unwrap();
        assert_eq!(rows.len() as u64, s.rows, "{}", s.path);
        assert!(rows.iter().all(|r| r.split == s.split));
        records.extend(rows);
    }
    let quarantine = decode_quarantine(store.get("quarantine.parquet").unwrap()).unwrap();
    Stored {
        manifest,
        records,
        quarantine,
    }
}

/// Rows per split as the synth report states them.
pub fn expected_rows(report: &Value) -> BTreeMap<String, u64> {
    serde_json::from_value(report["expected_rows"].clone()).unwrap()
}

/// Quarantine counts per reason as the synth report states them.
pub fn expected_quarantine(report: &Value) -> BTreeMap<String, u64> {
    serde_json::from_value(report["expected_quarantine"].clone()).unwrap()
}

/// Every file under a folder with its bytes, keyed by relative path.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The sha256 of every shard, by path.
pub fn shard_hashes(m: &Manifest) -> Vec<(String, String)> {
    m.shards
        .iter()
        .map(|s| (s.path.clone(), s.sha256.clone()))
        .collect()
}

/// Whether a test that needs an installed tool must fail (in CI) or may skip (elsewhere).
pub fn require_tool(name: &str) -> bool {
    if std::env::var_os("CI").is_some() {
        panic!("{name} is required in CI: run scripts/setup.sh");
    }
    eprintln!("skipped: {name} not installed (run scripts/setup.sh)");
    false
}

/// Runs a data command in this process through the `unimlip` library (no process start);
/// returns what it printed, or its one-line error.
pub fn run_in_process(args: &[&str]) -> Result<String, String> {
    use clap::Parser;
    let cli =
        unimlip::cli::Cli::try_parse_from(std::iter::once("unimlip").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    unimlip::run(cli, &mut out).map_err(|e| format!("{e:#}"))?;
    Ok(String::from_utf8(out).expect("UTF-8 output"))
}

/// Starts s3s-fs on `port` over `root` and waits until it accepts connections.
fn spawn_s3s(exe: &str, port: u16, root: &Path) -> Child {
    let child = Command::new(exe)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--access-key",
            KEY_ID,
            "--secret-key",
            SECRET,
        ])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start s3s-fs");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "s3s-fs did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

pub const KEY_ID: &str = "unimlip-test-key";
pub const SECRET: &str = "unimlip-test-secret-never-printed";

/// A real S3 server (s3s-fs) on a free loopback port, stopped on drop.
pub struct S3Server {
    child: Child,
    pub endpoint: String,
    root: tempfile::TempDir,
    exe: String,
    port: u16,
}

impl S3Server {
    pub fn start() -> Option<S3Server> {
        let exe = std::env::var("UNIMLIP_S3S_FS")
            .ok()
            .filter(|p| std::path::Path::new(p).exists());
        let Some(exe) = exe else {
            require_tool("s3s-fs");
            return None;
        };
        let root = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = spawn_s3s(&exe, port, root.path());
        Some(S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            root,
            exe,
            port,
        })
    }

    /// Kills the server (SIGKILL) and starts a new one on the same port and files, as a store
    /// that crashed and came back.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn_s3s(&self.exe, self.port, self.root.path());
    }

    /// Kills the server (SIGKILL) without starting another.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn bucket(&self, name: &str) -> std::path::PathBuf {
        let p = self.root.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", KEY_ID.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET.to_string()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".to_string()),
        ]
    }

    pub fn run_env(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let env = self.env();
        let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        pairs.extend_from_slice(extra);
        let r = run_env(args, &pairs);
        assert!(
            !r.stdout.contains(SECRET) && !r.stderr.contains(SECRET),
            "a credential reached the output"
        );
        r
    }

    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_env(args, &[])
    }

    pub fn ok_env(&self, args: &[&str], extra: &[(&str, &str)]) -> String {
        let r = self.run_env(args, extra);
        assert!(r.ok, "unimlip {args:?} failed:\n{}\n{}", r.stdout, r.stderr);
        r.stdout
    }
}

impl S3Server {
    /// The server process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops (SIGSTOP) or continues (SIGCONT) the server process: a stalled store.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
