//! The writer's lease on an output: one ingest (or one part of a partitioned ingest, or one
//! commit of the parts) writes a dataset root at a time.
//!
//! The lease is a small JSON object under `_ingest/` created only if absent (a conditional
//! PUT, `If-None-Match: *` on object stores that honour it, an atomic hard link on local disk)
//! and read back to check that this writer's nonce is the one that landed. It names its holder
//! (user, host, process id, start time) and an expiry that a heartbeat thread pushes forward
//! while the holder runs; it is deleted when the holder finishes. A second writer is refused
//! with one line naming the holder. A lease is stale when its holder is a process of this host
//! that no longer runs (taken over at once, as a killed ingest re-run on its machine expects)
//! or when its expiry has passed (another host's holder stopped renewing: taken over only with
//! `--break-lease`, as that holder may be alive behind a partition).

use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use unimlip_shards::Store;

use crate::{Error, Result};

/// How long a lease lasts without renewal.
const TTL: Duration = Duration::from_secs(120);
/// How often the holder renews it.
const RENEW: Duration = Duration::from_secs(30);

/// What a lease object says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseInfo {
    /// `user@host`.
    pub owner: String,
    /// The holder's host name.
    pub host: String,
    /// The holder's process id.
    pub pid: u32,
    /// What it is doing (`ingest`, `ingest part 2/8`, `commit`).
    pub what: String,
    /// When it took the lease (RFC 3339).
    pub started: String,
    /// Seconds since the Unix epoch after which the lease is stale unless renewed.
    pub expires_unix: u64,
    /// A random token telling this holder from any other.
    pub nonce: String,
}

/// A held lease; released (deleted) when dropped.
pub struct Lease {
    store: Store,
    path: String,
    nonce: String,
    /// Dropped to stop the renewer at once.
    stop: Option<Sender<()>>,
    renewer: Option<std::thread::JoinHandle<()>>,
    /// The first renewal failure, if any (the holder may have lost the lease).
    lost: Arc<Mutex<Option<String>>>,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// 64 random bits (the standard library's per-process hash keys).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

impl LeaseInfo {
    fn mine(what: &str) -> LeaseInfo {
        let host = host_name();
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        LeaseInfo {
            owner: format!("{user}@{host}"),
            host,
            pid: std::process::id(),
            what: what.to_string(),
            started: unimlip_shards::now_rfc3339(),
            expires_unix: now_unix() + TTL.as_secs(),
            nonce: format!("{:016x}{:08x}", random_u64(), std::process::id()),
        }
    }

    /// Why this lease may be taken over without asking: its holder is a dead process of this
    /// host.
    fn holder_dead(&self) -> bool {
        self.host == host_name() && !unimlip_shards::scratch::alive(self.pid)
    }

    fn expired(&self) -> bool {
        now_unix() > self.expires_unix
    }

    fn describe(&self) -> String {
        format!(
            "{} (pid {} on {}, {} since {})",
            self.owner, self.pid, self.host, self.what, self.started
        )
    }
}

impl Lease {
    /// Takes the lease `path` of `store` for `what`, or says who holds it.
    pub fn acquire(store: &Store, path: &str, what: &str, break_lease: bool) -> Result<Lease> {
        let me = LeaseInfo::mine(what);
        let body = serde_json::to_vec_pretty(&me).expect("lease serialises");
        for _ in 0..3 {
            if let Some(held) = read(store, path)? {
                let stale = held.holder_dead() || (break_lease && held.expired());
                if !(stale || break_lease) {
                    return Err(refusal(store, &held));
                }
                tracing::warn!(
                    "{}: taking over the lease of {}{}",
                    store.url(),
                    held.describe(),
                    if held.holder_dead() {
                        ": that process is gone"
                    } else {
                        " (--break-lease)"
                    }
                );
                store.delete(path)?;
            }
            if !store.put_new(path, body.clone())? {
                continue; // another writer got there first: look at its lease
            }
            // A store that ignores the condition lets a racing writer overwrite: the nonce
            // read back says whose lease stands.
            match read(store, path)? {
                Some(held) if held.nonce == me.nonce => return Ok(Lease::hold(store, path, me)),
                Some(held) => return Err(refusal(store, &held)),
                None => continue,
            }
        }
        Err(Error::Lease(format!(
            "{}: could not take the writer's lease {path} (other writers keep taking it)",
            store.url()
        )))
    }

    fn hold(store: &Store, path: &str, mut info: LeaseInfo) -> Lease {
        let nonce = info.nonce.clone();
        let (stop, stopped) = channel::<()>();
        let lost = Arc::new(Mutex::new(None));
        let (s, p, lost_in) = (store.clone(), path.to_string(), lost.clone());
        let renewer = std::thread::Builder::new()
            .name("unimlip-lease".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(RENEW) {
                    // Renew only a lease still ours: one broken by another writer stays theirs.
                    match read(&s, &p) {
                        Ok(Some(held)) if held.nonce == info.nonce => {}
                        other => {
                            let why = match other {
                                Err(e) => e.to_string(),
                                _ => "taken over by another writer".into(),
                            };
                            lost_in.lock().expect("lease").get_or_insert(why);
                            break;
                        }
                    }
                    info.expires_unix = now_unix() + TTL.as_secs();
                    let body = serde_json::to_vec_pretty(&info).expect("lease serialises");
                    if let Err(e) = s.put(&p, body) {
                        lost_in.lock().expect("lease").get_or_insert(e.to_string());
                    }
                }
            })
            .ok();
        Lease {
            store: store.clone(),
            path: path.to_string(),
            nonce,
            stop: Some(stop),
            renewer,
            lost,
        }
    }

    /// Checks, before a commit, that the lease is still this holder's: not broken by another
    /// writer after a renewal failed (say, while the store was unreachable for longer than the
    /// lease lasts).
    pub fn check_held(&self) -> Result<()> {
        match read(&self.store, &self.path)? {
            Some(held) if held.nonce == self.nonce => Ok(()),
            Some(held) => Err(Error::Lease(format!(
                "{}: the writer's lease was taken over by {} while this ingest ran{}; not committing",
                self.store.url(),
                held.describe(),
                self.lost
                    .lock()
                    .expect("lease")
                    .as_ref()
                    .map(|e| format!(" (renewing it failed: {e})"))
                    .unwrap_or_default()
            ))),
            None => Err(Error::Lease(format!(
                "{}: the writer's lease was removed while this ingest ran; not committing",
                self.store.url()
            ))),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.renewer.take() {
            let _ = h.join();
        }
        let _ = self.store.delete(&self.path);
    }
}

fn read(store: &Store, path: &str) -> Result<Option<LeaseInfo>> {
    let Some(bytes) = store.get_opt(path)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        Error::Lease(format!(
            "{}/{path} is not a unimlip lease ({e}); remove it if no ingest is running",
            store.url()
        ))
    })
}

fn refusal(store: &Store, held: &LeaseInfo) -> Error {
    let state = if held.expired() {
        "its lease has expired (the holder stopped renewing it: killed, or cut off); if it is gone, pass --break-lease"
    } else {
        "wait for it to finish, or pass --break-lease if that process is gone"
    };
    Error::Lease(format!(
        "{} is being written by {}: {state}",
        store.url(),
        held.describe()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_and_the_lease_goes_with_its_holder() {
        let s = Store::open("memory://lease-test/a").unwrap();
        let first = Lease::acquire(&s, "_ingest/lease.json", "ingest", false).unwrap();
        let e = Lease::acquire(&s, "_ingest/lease.json", "ingest", false)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("is being written by") && e.contains("pid"),
            "{e}"
        );
        drop(first);
        assert!(s.get_opt("_ingest/lease.json").unwrap().is_none());
        let _again = Lease::acquire(&s, "_ingest/lease.json", "ingest", false).unwrap();
    }

    #[test]
    fn a_dead_local_holder_is_taken_over_and_an_expired_remote_one_needs_the_flag() {
        let s = Store::open("memory://lease-test/b").unwrap();
        let mut dead = LeaseInfo::mine("ingest");
        dead.pid = 999_999_999;
        s.put("l.json", serde_json::to_vec(&dead).unwrap()).unwrap();
        drop(Lease::acquire(&s, "l.json", "ingest", false).unwrap());
        let mut far = LeaseInfo::mine("ingest");
        far.host = "elsewhere".into();
        far.expires_unix = 1;
        s.put("l.json", serde_json::to_vec(&far).unwrap()).unwrap();
        let e = Lease::acquire(&s, "l.json", "ingest", false)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("expired") && e.contains("--break-lease"), "{e}");
        drop(Lease::acquire(&s, "l.json", "ingest", true).unwrap());
    }
}
