//! `cargo xtask <task>`: the workspace's development commands.
//!
//! - `test-all`: the one gate (the system packages it needs, fmt, clippy, tests with snapshots
//!   locked, demo, docs, packaging, semver).
//! - `provision`: installs the system packages the gate needs, or says how (part of `test-all`).
//! - `demo`: every vendor flow against the embedded local sandbox.
//! - `cli <args>`: the `vendor-auth` tool against a sandbox started for it (`cli token p21`).
//! - `snapshots [--accept | --reject]`: review and accept changed wire snapshots.
//! - `bench`: the cached-token hot path and the loopback round trips, each beside its baseline
//!   measured in the same run, medians and ratios.
//! - `budget [rounds]`: dependency count and clean build time of each vendor crate vs the floor.
//! - `features`: the vendor crates' TLS feature matrix, compile-checked (part of `test-all`).
//! - `package`: every published crate packaged and built from its `.crate` in dependency order
//!   (part of `test-all`).
//! - `semver [--baseline-rev REV]`: cargo-semver-checks per publishable crate against its last
//!   release tag (or REV), with the bump each needs and whether its version and CHANGELOG agree;
//!   `test-all` checks the crates that have a release tag and says why it skips the others.

mod bench;
mod budget;
mod cli;
mod demo;
mod features;
mod package;
mod provision;
mod semver;
mod snapshots;
mod test_all;
#[cfg(test)]
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test-all") => test_all::run(),
        Some("demo") => demo::run(&args[1..]),
        Some("cli") => cli::run(&args[1..]),
        Some("snapshots") => snapshots::run(&args[1..]),
        Some("bench") => bench::run(),
        Some("budget") => budget::run(&args[1..]),
        Some("features") => features::run(),
        Some("package") => package::run(),
        Some("provision") => provision::run(),
        Some("semver") => semver::run(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <test-all | demo | cli <args> | snapshots [--accept|--reject] | bench | budget [rounds] | features | package | provision | semver [--baseline-rev REV]>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate's directory).
/// The vendor crates: those with the vendor shape (`src/credentials.rs` and `src/wire.rs`),
/// found on disk rather than listed by hand.
pub(crate) fn vendor_crates() -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(project_root().join("crates"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|d| {
                    d.join("src/wire.rs").is_file() && d.join("src/credentials.rs").is_file()
                })
                .filter_map(|d| Some(d.file_name()?.to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The target directory (`CARGO_TARGET_DIR`, or `target/` at the root).
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| {
            if d.is_absolute() {
                d
            } else {
                project_root().join(d)
            }
        })
        .unwrap_or_else(|| project_root().join("target"))
}

/// `cargo`, as the one running us (the `CARGO` variable), at the project root.
pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(project_root());
    cmd
}

/// Runs `cmd`, failing with `what` if it does not succeed.
pub(crate) fn exec(cmd: &mut Command, what: &str) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("{what}: could not start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// The `Cargo.toml` of every crate under `crates/`, sorted.
pub(crate) fn member_manifests() -> Result<Vec<PathBuf>, String> {
    let dir = project_root().join("crates");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    let mut manifests: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path().join("Cargo.toml"))
        .filter(|p| p.is_file())
        .collect();
    manifests.sort();
    Ok(manifests)
}

/// The `name` of the `[package]` in a manifest's text.
pub(crate) fn package_name(manifest: &str) -> Option<String> {
    package_key(manifest, "name")
}

/// The value of `key` in the `[package]` of a manifest's text, unquoted.
pub(crate) fn package_key(manifest: &str, key: &str) -> Option<String> {
    manifest
        .lines()
        .skip_while(|l| l.trim() != "[package]")
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
        })
}
