//! Durable local writes: what a commit on local disk needs so that a power loss leaves each
//! object whole or absent. A file is written under a temporary name beside its target, synced,
//! renamed into place, and the folder is synced so the rename itself survives. Temporary names
//! start with [`TMP_PREFIX`] and carry the writer's process id, so that leftovers of a killed
//! process can be told apart from a live writer's.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Prefix of the temporary files of [`write`].
pub const TMP_PREFIX: &str = ".unimlip-tmp-";

/// Fault injection for the fault suite: `before:N` or `after:N` stops the process (abort: no
/// destructor runs, as under SIGKILL) just before or just after its N-th commit rename.
pub const FAULT_KILL_AT_RENAME: &str = "UNIMLIP_FAULT_KILL_AT_RENAME";

static COUNTER: AtomicU64 = AtomicU64::new(0);
static RENAMES: AtomicU64 = AtomicU64::new(0);

/// The fault hook around every commit rename (see [`FAULT_KILL_AT_RENAME`]).
fn rename(from: &Path, to: &Path) -> std::io::Result<()> {
    let n = RENAMES.fetch_add(1, Ordering::SeqCst) + 1;
    let fault = std::env::var(FAULT_KILL_AT_RENAME).ok();
    let at = |when: &str| {
        fault
            .as_deref()
            .and_then(|f| f.strip_prefix(when))
            .and_then(|k| k.parse::<u64>().ok())
            == Some(n)
    };
    if at("before:") {
        std::process::abort();
    }
    std::fs::rename(from, to)?;
    if at("after:") {
        std::process::abort();
    }
    Ok(())
}

/// Syncs a folder, so that the entries created or renamed in it are on disk.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and any missing parents, syncing each parent whose entry was created.
fn create_dirs(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => dir.parent().map_or(Ok(()), sync_dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to `target` durably and atomically.
pub fn write(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    create_dirs(dir)?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        "{TMP_PREFIX}{}-{}-{name}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let done = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        rename(&tmp, target)
    })();
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done?;
    sync_dir(dir)
}

/// Creates `target` with `bytes` only if it does not exist, atomically (a synced temporary file
/// hard-linked into place, which fails when the name is taken) and durably; `Ok(false)` when it
/// exists.
pub fn create_new(target: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    let dir = target.parent().unwrap_or(Path::new("."));
    create_dirs(dir)?;
    let tmp = dir.join(format!(
        "{TMP_PREFIX}{}-{}-new",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, target));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => sync_dir(dir).map(|()| true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Moves a finished local file to `target` durably: the file is synced, renamed, and the
/// folder synced. `Ok(false)` when a rename cannot do it (another file system): the caller
/// copies instead.
pub fn move_into(local: &Path, target: &Path) -> std::io::Result<bool> {
    let dir = target.parent().unwrap_or(Path::new("."));
    create_dirs(dir)?;
    File::open(local)?.sync_all()?;
    match rename(local, target) {
        Ok(()) => {
            sync_dir(dir)?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes the temporary files of [`write`] under `dir` (recursively) that belong to
/// processes no longer running; returns how many.
pub fn remove_stale_tmp(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            removed += remove_stale_tmp(&path);
        } else if let Some(rest) = name.strip_prefix(TMP_PREFIX) {
            let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|p| !crate::scratch::alive(p)) && std::fs::remove_file(&path).is_ok()
            {
                removed += 1;
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_target_whole_and_leaves_no_temporary_file() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("a/b/manifest.json");
        write(&target, b"one").unwrap();
        write(&target, b"two").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(target.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn leftovers_of_dead_processes_go_and_a_live_writers_stay() {
        let d = tempfile::tempdir().unwrap();
        let dead = d.path().join(format!("{TMP_PREFIX}999999999-0-x"));
        let live = d
            .path()
            .join(format!("{TMP_PREFIX}{}-0-y", std::process::id()));
        std::fs::write(&dead, b"").unwrap();
        std::fs::write(&live, b"").unwrap();
        assert_eq!(remove_stale_tmp(d.path()), 1);
        assert!(!dead.exists() && live.exists());
    }
}
