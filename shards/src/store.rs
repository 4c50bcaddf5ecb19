//! Object storage behind one URL: local paths, `file://`, `s3://`, `gs://`, `az://`/`abfs://`
//! and `memory://`, with a blocking API over a shared tokio runtime.
//!
//! Every write is atomic: a single PUT, or a multipart upload that becomes visible only when it
//! completes (the local backend writes a staging file and renames it). Credentials come from the
//! standard environment variables (`AWS_*`, `GOOGLE_*`, `AZURE_*`) and never appear in
//! [`Store::url`] or in errors.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path as FsPath;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use url::Url;

use crate::{Error, Result};

/// Files above this size are uploaded in parts.
const MULTIPART_THRESHOLD: u64 = 32 << 20;
/// Environment variable overriding [`MULTIPART_THRESHOLD`] (tests use 0 to send every shard in
/// parts).
pub const MULTIPART_THRESHOLD_ENV: &str = "UNIMLIP_MULTIPART_THRESHOLD_BYTES";

fn multipart_threshold() -> u64 {
    static T: OnceLock<u64> = OnceLock::new();
    *T.get_or_init(|| {
        std::env::var(MULTIPART_THRESHOLD_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(MULTIPART_THRESHOLD)
    })
}
const PART_SIZE: usize = 16 << 20;

/// The default I/O budget: how long one storage operation, retries included, may take.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(120);
/// Environment variable setting the I/O budget in seconds (`--io-timeout` sets it too).
pub const IO_TIMEOUT_ENV: &str = "UNIMLIP_IO_TIMEOUT";
/// Milliseconds of the budget set by [`set_io_timeout`]; 0 when unset.
static IO_TIMEOUT_MS: AtomicU64 = AtomicU64::new(0);

/// Sets the I/O budget for stores opened from now on (the command line's `--io-timeout`).
pub fn set_io_timeout(budget: Duration) {
    IO_TIMEOUT_MS.store(budget.as_millis().max(1) as u64, Ordering::Relaxed);
}

/// The I/O budget: [`set_io_timeout`]'s, else `UNIMLIP_IO_TIMEOUT` seconds, else
/// [`DEFAULT_IO_TIMEOUT`]. Every request of a remote store connects within
/// min(5 s, budget), gets each next piece of its answer (the first byte included) within
/// min(30 s, budget), and is retried only while the operation is younger than the budget.
pub fn io_timeout() -> Duration {
    match IO_TIMEOUT_MS.load(Ordering::Relaxed) {
        0 => std::env::var(IO_TIMEOUT_ENV)
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(DEFAULT_IO_TIMEOUT, Duration::from_secs_f64),
        ms => Duration::from_millis(ms),
    }
}

/// The client settings of [`io_timeout`], as object_store configuration keys: connect, read
/// (each piece of the answer), the whole request (generous: a shard is streamed in one GET),
/// and the retry budget.
fn timeout_config() -> (Vec<(&'static str, String)>, object_store::RetryConfig) {
    let budget = io_timeout();
    let secs = |d: Duration| format!("{}ms", d.as_millis().max(1));
    let client = vec![
        ("connect_timeout", secs(budget.min(Duration::from_secs(5)))),
        ("read_timeout", secs(budget.min(Duration::from_secs(30)))),
        ("timeout", secs(budget.max(Duration::from_secs(15 * 60)))),
    ];
    let retry = object_store::RetryConfig {
        backoff: object_store::BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: budget.min(Duration::from_secs(15)),
            base: 2.0,
        },
        max_retries: 10,
        retry_timeout: budget,
    };
    (client, retry)
}

/// An object listed under a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Path relative to the store root.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
}

/// A dataset root on some object store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    prefix: Path,
    url: String,
    /// The folder behind a local store, where files can be renamed into place.
    local_root: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("url", &self.url).finish()
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("unimlip-io")
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

fn block_on<F: Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

/// Removes user info and query (where tokens live) from a URL for display.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.scheme().len() > 1 => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        _ => url.to_string(),
    }
}

impl Store {
    /// Opens the store a URL or local path names, to write to: a local folder is created if
    /// missing.
    pub fn open(url: &str) -> Result<Store> {
        Self::open_with(url, true)
    }

    /// Opens an existing store to read from: a missing local folder is an error, not created.
    pub fn open_existing(url: &str) -> Result<Store> {
        Self::open_with(url, false)
    }

    fn open_with(url: &str, create: bool) -> Result<Store> {
        let shown = redact_url(url);
        let invalid = |reason: String| Error::InvalidUrl {
            url: shown.clone(),
            reason,
        };
        let parsed = match Url::parse(url) {
            Ok(u) if u.scheme().len() > 1 => Some(u),
            _ => None,
        };
        let Some(u) = parsed else {
            return Self::local(FsPath::new(url), shown, create);
        };
        let (inner, prefix): (Arc<dyn ObjectStore>, &str) = match u.scheme() {
            "file" => {
                let p = u
                    .to_file_path()
                    .map_err(|_| invalid("not a local path".into()))?;
                return Self::local(&p, shown, create);
            }
            "memory" => (memory_store(u.host_str().unwrap_or("")), u.path()),
            "s3" | "s3a" => (Arc::new(s3(&u).map_err(invalid)?), u.path()),
            "gs" => {
                let (client, retry) = timeout_config();
                let mut b = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(host(&u).map_err(invalid)?)
                    .with_retry(retry);
                for (k, v) in client {
                    let key = k.parse().expect("a known client key");
                    b = b.with_config(key, v);
                }
                (
                    Arc::new(b.build().map_err(|e| invalid(e.to_string()))?),
                    u.path(),
                )
            }
            "az" | "abfs" | "abfss" | "azure" => {
                let (client, retry) = timeout_config();
                let mut b = object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(url)
                    .with_retry(retry);
                for (k, v) in client {
                    let key = k.parse().expect("a known client key");
                    b = b.with_config(key, v);
                }
                (
                    Arc::new(b.build().map_err(|e| invalid(e.to_string()))?),
                    azure_prefix(&u),
                )
            }
            other => return Err(invalid(format!("unsupported scheme `{other}`"))),
        };
        let prefix = Path::parse(prefix.trim_matches('/')).map_err(|e| invalid(e.to_string()))?;
        Ok(Store {
            inner,
            prefix,
            url: shown,
            local_root: None,
        })
    }

    fn local(dir: &FsPath, url: String, create: bool) -> Result<Store> {
        if create {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let abs = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(&abs)
            .map_err(|e| Error::InvalidUrl {
                url: url.clone(),
                reason: e.to_string(),
            })?
            .with_automatic_cleanup(true);
        Ok(Store {
            inner: Arc::new(fs),
            prefix: Path::default(),
            url,
            local_root: Some(abs),
        })
    }

    /// The local folder behind the store, when it is a local store.
    pub fn local_root(&self) -> Option<&FsPath> {
        self.local_root.as_deref()
    }

    /// The local file behind an object, when the store is a local folder.
    pub fn local_path(&self, rel: &str) -> Option<std::path::PathBuf> {
        let mut p = self.local_root.clone()?;
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p.push(part);
        }
        Some(p)
    }

    /// The store's URL, without credentials.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, rel: &str) -> Path {
        let mut p = self.prefix.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p = p.clone().join(part);
        }
        p
    }

    fn err(op: &'static str, rel: &str, cause: object_store::Error) -> Error {
        if let Some((scheme, vars)) = missing_credentials(&cause) {
            return Error::NoCredentials {
                op,
                path: rel.to_string(),
                scheme,
                vars,
            };
        }
        if let Some(inner) = timed_out(&cause) {
            return Error::Timeout {
                op,
                path: rel.to_string(),
                budget_s: io_timeout().as_secs_f64(),
                cause: inner,
            };
        }
        Error::Store {
            op,
            path: rel.to_string(),
            cause,
        }
    }

    /// Writes an object in one atomic PUT. On a local store the write is also durable: a
    /// temporary file beside the target, fsync, rename, fsync of the folder, so that after a
    /// power loss the object is either whole or absent and a manifest never names bytes that
    /// never reached the disk.
    pub fn put(&self, rel: &str, bytes: impl Into<Bytes>) -> Result<()> {
        let bytes = bytes.into();
        if let Some(target) = self.local_path(rel) {
            return crate::durable::write(&target, &bytes).map_err(|e| Error::io(&target, e));
        }
        let payload = PutPayload::from_bytes(bytes);
        block_on(self.inner.put(&self.path(rel), payload)).map_err(|e| Self::err("put", rel, e))?;
        Ok(())
    }

    /// Creates an object only if none exists at `rel`; `false` when one does. Local stores
    /// create it atomically (a hard link of a synced temporary file); object stores use a
    /// conditional PUT (`If-None-Match: *`), and where the store has none, a look first (racy:
    /// the caller reads back what landed).
    pub fn put_new(&self, rel: &str, bytes: impl Into<Bytes>) -> Result<bool> {
        let bytes = bytes.into();
        if let Some(target) = self.local_path(rel) {
            return crate::durable::create_new(&target, &bytes).map_err(|e| Error::io(&target, e));
        }
        let opts = object_store::PutOptions {
            mode: object_store::PutMode::Create,
            ..Default::default()
        };
        let path = self.path(rel);
        match block_on(
            self.inner
                .put_opts(&path, PutPayload::from_bytes(bytes.clone()), opts),
        ) {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(object_store::Error::NotImplemented { .. }) => {
                if self.get_opt(rel)?.is_some() {
                    return Ok(false);
                }
                self.put(rel, bytes)?;
                Ok(true)
            }
            Err(e) => Err(Self::err("put", rel, e)),
        }
    }

    /// Moves a finished local file into the store: a rename when both are on the same local
    /// filesystem (atomic, no copy), an upload otherwise.
    /// On a local store the file is synced before the rename and its folder after it.
    pub fn put_file_moving(&self, rel: &str, local: &FsPath) -> Result<()> {
        if let Some(target) = self.local_path(rel) {
            match crate::durable::move_into(local, &target) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => return Err(Error::io(&target, e)),
            }
        }
        self.put_file(rel, local)
    }

    /// Uploads a local file; large files go in parts and appear only once complete.
    pub fn put_file(&self, rel: &str, local: &FsPath) -> Result<()> {
        let size = std::fs::metadata(local)
            .map_err(|e| Error::io(local, e))?
            .len();
        if size <= multipart_threshold() || self.local_root.is_some() {
            let bytes = std::fs::read(local).map_err(|e| Error::io(local, e))?;
            return self.put(rel, bytes);
        }
        let mut file = std::fs::File::open(local).map_err(|e| Error::io(local, e))?;
        let path = self.path(rel);
        block_on(async {
            let upload = self.inner.put_multipart(&path).await?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            let mut buf = vec![0u8; PART_SIZE];
            loop {
                let n = match file.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) => {
                        // An upload that cannot finish is aborted, not left for the bucket
                        // to keep (and bill) as an incomplete multipart upload.
                        let _ = w.abort().await;
                        return Err(object_store::Error::Generic {
                            store: "local",
                            source: Box::new(e),
                        });
                    }
                };
                if n == 0 {
                    break;
                }
                if let Err(e) = w.wait_for_capacity(4).await {
                    let _ = w.abort().await;
                    return Err(e);
                }
                w.write(&buf[..n]);
            }
            w.finish().await.map(|_| ())
        })
        .map_err(|e| Self::err("put", rel, e))
    }

    /// Reads a whole object.
    pub fn get(&self, rel: &str) -> Result<Bytes> {
        self.get_opt(rel)?.ok_or_else(|| Error::NotFound {
            path: rel.to_string(),
            store: self.url.clone(),
        })
    }

    /// Reads a whole object, or `None` when it does not exist.
    pub fn get_opt(&self, rel: &str) -> Result<Option<Bytes>> {
        let path = self.path(rel);
        let res = block_on(async { self.inner.get(&path).await?.bytes().await });
        match res {
            Ok(b) => Ok(Some(b)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(Self::err("get", rel, e)),
        }
    }

    /// The size of an object, or `None` when it does not exist.
    pub fn size(&self, rel: &str) -> Result<Option<u64>> {
        match block_on(self.inner.head(&self.path(rel))) {
            Ok(m) => Ok(Some(m.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(Self::err("head", rel, e)),
        }
    }

    /// Deletes an object; deleting a missing object is not an error.
    pub fn delete(&self, rel: &str) -> Result<()> {
        match block_on(self.inner.delete(&self.path(rel))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Self::err("delete", rel, e)),
        }
    }

    /// Lists every object under a folder-like prefix, sorted by path.
    pub fn list(&self, rel_prefix: &str) -> Result<Vec<Listed>> {
        let prefix = self.path(rel_prefix);
        let skip = self.prefix.parts().count();
        let mut out = block_on(async {
            let mut s = self.inner.list(Some(&prefix));
            let mut v = Vec::new();
            while let Some(m) = s.next().await {
                let m = m?;
                let rel: Vec<_> = m
                    .location
                    .parts()
                    .skip(skip)
                    .map(|p| p.as_ref().to_string())
                    .collect();
                v.push(Listed {
                    path: rel.join("/"),
                    size: m.size,
                });
            }
            Ok::<_, object_store::Error>(v)
        })
        .map_err(|e| Self::err("list", rel_prefix, e))?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Whether any object lies under a folder-like prefix (stops at the first one found).
    pub fn any_under(&self, rel_prefix: &str) -> Result<bool> {
        let prefix = self.path(rel_prefix);
        block_on(async { self.inner.list(Some(&prefix)).next().await.transpose() })
            .map(|first| first.is_some())
            .map_err(|e| Self::err("list", rel_prefix, e))
    }

    /// Reads a byte range of an object.
    pub fn get_range(&self, rel: &str, range: std::ops::Range<u64>) -> Result<Bytes> {
        block_on(self.get_range_async(rel, range))
    }

    /// Reads a byte range of an object, on the caller's async runtime (the streaming reader
    /// fetches row groups this way, many in flight at once).
    pub async fn get_range_async(&self, rel: &str, range: std::ops::Range<u64>) -> Result<Bytes> {
        match self.inner.get_range(&self.path(rel), range).await {
            Ok(b) => Ok(b),
            Err(object_store::Error::NotFound { .. }) => Err(Error::NotFound {
                path: rel.to_string(),
                store: self.url.clone(),
            }),
            Err(e) => Err(Self::err("get", rel, e)),
        }
    }

    /// The bytes of an object as a stream of chunks, on the caller's async runtime.
    pub async fn stream_async(
        &self,
        rel: &str,
    ) -> Result<futures::stream::BoxStream<'static, Result<Bytes>>> {
        let got = match self.inner.get(&self.path(rel)).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Error::NotFound {
                    path: rel.to_string(),
                    store: self.url.clone(),
                });
            }
            Err(e) => return Err(Self::err("get", rel, e)),
        };
        let rel = rel.to_string();
        Ok(got
            .into_stream()
            .map(move |r| r.map_err(|e| Self::err("get", &rel, e)))
            .boxed())
    }

    /// A streaming reader over an object, for inputs too large to hold in memory.
    pub fn reader(&self, rel: &str) -> Result<Box<dyn Read + Send>> {
        let path = self.path(rel);
        let res = block_on(self.inner.get(&path));
        let got = match res {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Error::NotFound {
                    path: rel.to_string(),
                    store: self.url.clone(),
                });
            }
            Err(e) => return Err(Self::err("get", rel, e)),
        };
        Ok(Box::new(StreamRead {
            stream: got.into_stream(),
            chunk: Bytes::new(),
        }))
    }
}

struct StreamRead {
    stream: futures::stream::BoxStream<'static, object_store::Result<Bytes>>,
    chunk: Bytes,
}

impl Read for StreamRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match block_on(self.stream.next()) {
                Some(Ok(b)) => self.chunk = b,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

fn host(u: &Url) -> std::result::Result<String, String> {
    match u.host_str() {
        Some(h) if !h.is_empty() => Ok(h.to_string()),
        _ => Err("the URL names no bucket".to_string()),
    }
}

fn azure_prefix(u: &Url) -> &str {
    // az://container/prefix and abfs://container@account.dfs.core.windows.net/prefix both keep
    // the container in the host part, so the path is the prefix.
    u.path()
}

fn s3(u: &Url) -> std::result::Result<object_store::aws::AmazonS3, String> {
    let bucket = host(u)?;
    let (client, retry) = timeout_config();
    let mut b = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(retry);
    for (k, v) in client {
        let key = k.parse().expect("a known client key");
        b = b.with_config(key, v);
    }
    if let Some((var, ep)) = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
        .iter()
        .find_map(|k| std::env::var(k).ok().map(|v| (*k, v)))
    {
        check_endpoint(&ep).map_err(|why| format!("{var}: {why}"))?;
        b = b.with_endpoint(&ep).with_allow_http(is_loopback_http(&ep));
    }
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        b = b.with_region("us-east-1");
    }
    b.build().map_err(|e| e.to_string())
}

/// An endpoint must be an `http(s)://host[:port][/path]` URL: object_store takes anything and
/// fails deep inside its first request otherwise.
fn check_endpoint(ep: &str) -> std::result::Result<(), String> {
    let shown = redact_url(ep);
    let u = Url::parse(ep).map_err(|e| format!("`{shown}` is not a URL ({e})"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!(
            "`{shown}` is not an http:// or https:// URL (scheme `{}`)",
            u.scheme()
        ));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{shown}` names no host"));
    }
    Ok(())
}

/// The instance metadata service's address: object_store asks it for credentials when the
/// environment has none.
const METADATA_ADDR: &str = "169.254.169.254";

/// Which credentials to set, when an error comes from asking the metadata service for them.
fn missing_credentials(e: &object_store::Error) -> Option<(&'static str, &'static str)> {
    let text = {
        let mut all = e.to_string();
        let mut cur = std::error::Error::source(e);
        while let Some(c) = cur {
            all.push_str(&c.to_string());
            cur = c.source();
        }
        all
    };
    if !text.contains(METADATA_ADDR) && !text.contains("metadata.google.internal") {
        return None;
    }
    let store = match e {
        object_store::Error::Generic { store, .. } => *store,
        _ => "",
    };
    Some(match store {
        "GCS" => (
            "gs",
            "GOOGLE_APPLICATION_CREDENTIALS (a service-account key file) or GOOGLE_SERVICE_ACCOUNT_KEY",
        ),
        "MicrosoftAzure" => (
            "az",
            "AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY, or AZURE_STORAGE_SAS_KEY",
        ),
        _ => (
            "s3",
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN",
        ),
    })
}

/// The innermost message of an error whose cause chain says a request timed out.
fn timed_out(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur = Some(e);
    let mut hit = false;
    let mut last = e.to_string();
    while let Some(err) = cur {
        let text = err.to_string();
        hit |= text.contains("timed out") || text.contains("deadline has elapsed");
        last = text;
        cur = err.source();
    }
    hit.then(|| last.lines().next().unwrap_or("").to_string())
}

/// Plain http is allowed only for endpoints on this machine.
fn is_loopback_http(endpoint: &str) -> bool {
    let Ok(u) = Url::parse(endpoint) else {
        return false;
    };
    if u.scheme() != "http" {
        return false;
    }
    match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    }
}

fn memory_store(name: &str) -> Arc<dyn ObjectStore> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
    let mut map = STORES
        .get_or_init(Default::default)
        .lock()
        .expect("memory stores");
    map.entry(name.to_string())
        .or_insert_with(|| Arc::new(InMemory::new()))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_endpoints_are_refused_by_name() {
        assert!(check_endpoint("http://127.0.0.1:9000").is_ok());
        assert!(check_endpoint("https://s3.example.org/base").is_ok());
        for bad in ["not-a-url", "http://", "ftp://host", "127.0.0.1:9000", ""] {
            assert!(check_endpoint(bad).is_err(), "{bad}");
        }
        let e = check_endpoint("ftp://user:secret@host").unwrap_err();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn the_io_budget_bounds_every_timeout() {
        set_io_timeout(Duration::from_secs(4));
        let (client, retry) = timeout_config();
        assert_eq!(retry.retry_timeout, Duration::from_secs(4));
        let get = |k: &str| client.iter().find(|(n, _)| *n == k).unwrap().1.clone();
        assert_eq!(get("connect_timeout"), "4000ms");
        assert_eq!(get("read_timeout"), "4000ms");
        assert_eq!(get("timeout"), "900000ms");
        set_io_timeout(DEFAULT_IO_TIMEOUT);
        let (client, _) = timeout_config();
        assert_eq!(client[0].1, "5000ms");
    }

    #[test]
    fn redaction_drops_credentials_and_tokens() {
        let shown = redact_url("s3://AKIA:secret@bucket/x?sig=abc");
        assert!(!shown.contains("secret") && !shown.contains("AKIA") && !shown.contains("sig"));
        assert_eq!(redact_url("/data/x"), "/data/x");
    }

    #[test]
    fn loopback_only_for_http() {
        assert!(is_loopback_http("http://127.0.0.1:9000"));
        assert!(is_loopback_http("http://localhost:9000"));
        assert!(!is_loopback_http("http://10.0.0.1:9000"));
        assert!(!is_loopback_http("https://127.0.0.1:9000"));
    }

    #[test]
    fn memory_store_round_trip_and_list() {
        let s = Store::open("memory://unit-store/root").unwrap();
        s.put("a/x.bin", vec![1u8, 2, 3]).unwrap();
        s.put("a/y.bin", vec![4u8]).unwrap();
        assert_eq!(s.get("a/x.bin").unwrap().as_ref(), &[1, 2, 3]);
        assert!(s.get_opt("missing").unwrap().is_none());
        let names: Vec<_> = s.list("a").unwrap().into_iter().map(|l| l.path).collect();
        assert_eq!(names, ["a/x.bin", "a/y.bin"]);
        assert!(s.any_under("a").unwrap() && !s.any_under("b").unwrap());
        let again = Store::open("memory://unit-store/root").unwrap();
        assert_eq!(again.size("a/y.bin").unwrap(), Some(1));
        let mut text = String::new();
        s.put("t.txt", "hello".as_bytes().to_vec()).unwrap();
        s.reader("t.txt")
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "hello");
    }

    #[test]
    fn local_store_multipart_file_upload() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path().join("out").to_str().unwrap()).unwrap();
        let src = dir.path().join("big.bin");
        let data: Vec<u8> = (0..(MULTIPART_THRESHOLD + 5))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&src, &data).unwrap();
        s.put_file("shards/big.bin", &src).unwrap();
        assert_eq!(s.get("shards/big.bin").unwrap().as_ref(), &data[..]);
    }

    #[test]
    fn unknown_scheme_is_one_clear_error() {
        let e = Store::open("ftp://host/x").unwrap_err().to_string();
        assert!(e.contains("unsupported scheme `ftp`"), "{e}");
    }
}
