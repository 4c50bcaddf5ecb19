//! Scratch folders in the system's temporary folder, named `unimlip-<pid>-…` so that a later
//! process can remove those of processes that were killed before they could clean up (a killed
//! training run otherwise leaves its checkpoint staging behind, tens of megabytes each time).

use std::path::Path;

/// Prefix of scratch folder names.
const PREFIX: &str = "unimlip-";

/// Whether a process with this id is running on this machine.
pub fn alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
}

/// A new scratch folder (removed when dropped), in `$TMPDIR`.
pub fn scratch_dir(tag: &str) -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("{PREFIX}{}-{tag}-", std::process::id()))
        .tempdir()
}

/// Removes the scratch folders of processes no longer running from `$TMPDIR`; returns how
/// many went.
pub fn remove_stale_scratch() -> usize {
    remove_stale_in(&std::env::temp_dir())
}

fn remove_stale_in(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && !alive(pid) && std::fs::remove_dir_all(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dead_processes_scratch_goes() {
        let d = tempfile::tempdir().unwrap();
        let dead = d.path().join(format!("{PREFIX}999999999-ckpt-abc"));
        let live = d
            .path()
            .join(format!("{PREFIX}{}-ckpt-def", std::process::id()));
        let other = d.path().join("unimlip-notapid");
        for p in [&dead, &live, &other] {
            std::fs::create_dir_all(p.join("inner")).unwrap();
        }
        assert_eq!(remove_stale_in(d.path()), 1);
        assert!(!dead.exists() && live.exists() && other.exists());
        let s = scratch_dir("t").unwrap();
        let name = s.path().file_name().unwrap().to_string_lossy().to_string();
        assert!(name.starts_with(&format!("{PREFIX}{}-t-", std::process::id())));
    }
}
