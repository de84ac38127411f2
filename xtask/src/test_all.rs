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
        // What a fresh machine lacks (redis-server, OpenSSL headers...), before anything is built.
        name: "provision",
        args: &[],
        env: &[],
    },
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
        // Every published crate packaged and built from its `.crate`, in dependency order,
        // against the others' packages (cargo's local overlay registry).
        name: "package",
        args: &[],
        env: &[],
    },
    Step {
        // Each crate's API against its last release, where one exists.
        name: "semver",
        args: &[],
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
                "package" => crate::package::run(),
                "provision" => crate::provision::run(),
                "semver" => crate::semver::gate(),
                _ => crate::features::run(),
            }
        } else {
            println!("==> {} (cargo {})", step.name, step.args.join(" "));
            let mut cmd = cargo();
            cmd.args(step.args);
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
