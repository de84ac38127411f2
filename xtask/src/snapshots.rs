//! `cargo xtask snapshots`: run the tests letting insta write pending snapshots (`.snap.new`),
//! show what changed, and accept (`--accept`) or reject (`--reject`) them. No global install.

use std::path::{Path, PathBuf};

use crate::{cargo, project_root};

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mode = args.first().map(String::as_str);
    if !matches!(mode, None | Some("--accept") | Some("--reject")) {
        return Err("usage: cargo xtask snapshots [--accept | --reject]".into());
    }
    if mode.is_none() {
        // Record every mismatch as a pending `.snap.new` without failing the run. The
        // repository lints (in xtask) are left out: they flag exactly these pending files.
        let status = cargo()
            .args(["test", "--workspace", "--exclude", "xtask"])
            .env("INSTA_UPDATE", "new")
            .env("INSTA_FORCE_PASS", "1")
            .env_remove("CI")
            .status()
            .map_err(|e| format!("could not run cargo test: {e}"))?;
        if !status.success() {
            eprintln!("note: some tests failed for reasons other than snapshots");
        }
    }
    let pending = pending_snapshots(&project_root());
    if pending.is_empty() {
        println!("no pending snapshots");
        return Ok(());
    }
    for new in &pending {
        let old = new.with_extension("");
        match mode {
            Some("--accept") => {
                std::fs::rename(new, &old).map_err(|e| format!("{}: {e}", new.display()))?;
                println!("accepted {}", old.display());
            }
            Some("--reject") => {
                std::fs::remove_file(new).map_err(|e| format!("{}: {e}", new.display()))?;
                println!("rejected {}", new.display());
            }
            _ => show(&old, new),
        }
    }
    if mode.is_none() {
        println!(
            "\n{} pending snapshot(s): `cargo xtask snapshots --accept` keeps them, `--reject` drops them",
            pending.len()
        );
    }
    Ok(())
}

fn show(old: &Path, new: &Path) {
    println!("\n=== {}", old.display());
    let before = std::fs::read_to_string(old).unwrap_or_default();
    let after = std::fs::read_to_string(new).unwrap_or_default();
    let body = |s: &str| -> Vec<String> {
        // Skip insta's metadata header (between the first two `---` lines).
        let mut parts = s.splitn(3, "---\n");
        let _ = parts.next();
        let _ = parts.next();
        parts
            .next()
            .unwrap_or(s)
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let (b, a) = (body(&before), body(&after));
    if before.is_empty() {
        println!("(new snapshot)");
    }
    for line in &b {
        if !a.contains(line) {
            println!("- {line}");
        }
    }
    for line in &a {
        if !b.contains(line) {
            println!("+ {line}");
        }
    }
}

/// Every `*.snap.new` below `root` (outside `target/`).
pub(crate) fn pending_snapshots(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    stack.push(path);
                }
            } else if name.ends_with(".snap.new") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}
