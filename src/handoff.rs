//! Handing a command that needs libtorch from `unimlip` to `unimlip-torch`.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::Context;

/// Overrides where `unimlip-torch` is (by default: beside this program).
pub const TORCH_BIN_ENV: &str = "UNIMLIP_TORCH_BIN";

/// Replaces this process with `unimlip-torch` and the same arguments; returns only on failure.
pub fn exec_torch() -> anyhow::Result<ExitCode> {
    let exe = torch_binary()?;
    anyhow::ensure!(
        exe.is_file(),
        "this command needs libtorch, which lives in `{}`: not found (build it with `cargo build --release`, which makes both binaries, or set {TORCH_BIN_ENV})",
        exe.display()
    );
    // unimlip-torch runs with the kernel's huge-page policy, as when started directly.
    let _ = nix::sys::prctl::set_thp_disable(false);
    let err = Command::new(&exe)
        .arg0("unimlip")
        .args(std::env::args_os().skip(1))
        .exec();
    Err(err).with_context(|| format!("cannot start {}", exe.display()))
}

fn torch_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os(TORCH_BIN_ENV) {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe().context("cannot find this program's own path")?;
    Ok(me.with_file_name("unimlip-torch"))
}
