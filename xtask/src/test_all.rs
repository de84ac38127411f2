//! `cargo xtask test-all`: every check, in order, stopping at the first failure.

use std::time::Instant;

use crate::{cargo, exec};

struct Step {
    name: &'static str,
    /// The cargo command line, or nothing for a step the xtask runs itself.
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
}

const STEPS: &[Step] = &[
    Step {
        name: "fmt",
        args: &["fmt", "--all", "--check"],
        env: &[],
    },
    Step {
        name: "clippy",
        args: &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        env: &[],
    },
    Step {
        // Each TLS feature alone builds every vendor crate; none is one clear compile error.
        name: "features",
        args: &[],
        env: &[],
    },
    Step {
        name: "test",
        args: &["test", "--workspace", "--locked"],
        // Snapshots are locked: a new or changed snapshot fails instead of being written.
        env: &[
            ("INSTA_UPDATE", "no"),
            ("INSTA_FORCE_PASS", "0"),
            ("CI", "true"),
        ],
    },
    Step {
        // The README's first command, with its own checks of every scenario.
        name: "demo",
        args: &[],
        env: &[],
    },
    Step {
        name: "doc",
        args: &["doc", "--workspace", "--no-deps", "--locked"],
        env: &[("RUSTDOCFLAGS", "-D warnings")],
    },
    Step {
        name: "package",
        args: &["package", "--workspace", "--locked", "--allow-dirty"],
        env: &[],
    },
];

/// Each finished step's name and seconds.
type Timings = Vec<(&'static str, f64)>;

pub(crate) fn run_all() -> Result<Timings, (Timings, String)> {
    let mut done = Vec::new();
    for step in STEPS {
        let start = Instant::now();
        let outcome = if step.args.is_empty() {
            println!("==> {} (cargo xtask {})", step.name, step.name);
            match step.name {
                "demo" => crate::demo::run(&[]),
                _ => crate::features::run(),
            }
        } else {
            println!("==> {} (cargo {})", step.name, step.args.join(" "));
            let mut cmd = cargo();
            cmd.args(step.args);
            if step.name == "package" {
                match package_cargo_home() {
                    Ok(home) => {
                        cmd.env("CARGO_HOME", home);
                    }
                    Err(e) => return Err((done, e)),
                }
            }
            for (k, v) in step.env {
                cmd.env(k, v);
            }
            exec(&mut cmd, step.name)
        };
        let secs = start.elapsed().as_secs_f64();
        println!(
            "<== {:<8} {:>7.1} s  {}",
            step.name,
            secs,
            if outcome.is_ok() { "ok" } else { "FAILED" }
        );
        done.push((step.name, secs));
        if let Err(e) = outcome {
            return Err((done, e));
        }
    }
    Ok(done)
}

pub(crate) fn run() -> Result<(), String> {
    let start = Instant::now();
    let outcome = run_all();
    let (steps, failure) = match outcome {
        Ok(steps) => (steps, None),
        Err((steps, e)) => (steps, Some(e)),
    };
    println!();
    println!("test-all summary");
    for (name, secs) in &steps {
        println!("  {name:<8} {secs:>7.1} s");
    }
    println!("  {:<8} {:>7.1} s", "total", start.elapsed().as_secs_f64());
    match failure {
        None => {
            println!("test-all: {} passed, 0 failed", steps.len());
            Ok(())
        }
        Some(e) => {
            println!("test-all: {} passed, 1 failed", steps.len() - 1);
            Err(e)
        }
    }
}

/// `cargo package --workspace` verifies each crate against the others through a local overlay
/// registry, which cargo extracts under `$CARGO_HOME/registry/src/-<hash>/` and does not
/// re-extract while the version is unchanged: a crate changed since an earlier run would be
/// verified against its stale copy. So the package step gets a cargo home of its own, under
/// `target/`, whose extractions it may clear; it shares the user's downloaded index and crate
/// files through links and never deletes anything in the user's cargo home.
fn package_cargo_home() -> Result<std::path::PathBuf, String> {
    let home = crate::project_root().join("target/xtask/package-cargo-home");
    let src = home.join("registry/src");
    if let Ok(entries) = std::fs::read_dir(&src) {
        for overlay in entries.flatten() {
            // Overlay registries (the workspace's own crates) have names starting with `-`.
            if overlay.file_name().to_string_lossy().starts_with('-') {
                let _ = std::fs::remove_dir_all(overlay.path());
            }
        }
    }
    std::fs::create_dir_all(home.join("registry"))
        .map_err(|e| format!("creating {}: {e}", home.display()))?;
    let user_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo")));
    if let Some(user_home) = user_home {
        for shared in ["registry/index", "registry/cache"] {
            let (from, to) = (user_home.join(shared), home.join(shared));
            if from.is_dir() && !to.exists() {
                link_dir(&from, &to)?;
            }
        }
        for file in ["config.toml", "credentials.toml"] {
            let from = user_home.join(file);
            if from.is_file() {
                let _ = std::fs::copy(&from, home.join(file));
            }
        }
    }
    Ok(home)
}

#[cfg(unix)]
fn link_dir(from: &std::path::Path, to: &std::path::Path) -> Result<(), String> {
    std::os::unix::fs::symlink(from, to).map_err(|e| format!("linking {}: {e}", to.display()))
}

#[cfg(not(unix))]
fn link_dir(_from: &std::path::Path, _to: &std::path::Path) -> Result<(), String> {
    // Without links, the package step downloads what it needs into its own home.
    Ok(())
}
