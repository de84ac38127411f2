//! `cargo xtask budget [rounds]`: what a user pays for a vendor crate, against the floor every
//! HTTP token client pays (reqwest with json and rustls, tokio, serde_json).
//!
//! For the floor and each vendor crate (default features) it generates a one-line consumer
//! project under `target/budget/`, counts its unique normal dependencies with `cargo tree`, and
//! times clean debug builds, alternating floor and vendor so that both see the same machine
//! load. Medians of `rounds` builds (default 3) are printed with the ratio to the floor.

use std::path::Path;
use std::time::Instant;

use crate::{cargo, project_root};

const FLOOR: &str = r#"reqwest = { version = "0.13", default-features = false, features = ["json", "rustls"] }
tokio = { version = "1", features = ["rt"] }
serde_json = "1""#;

fn write_project(dir: &Path, deps: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir.join("src")).map_err(|e| e.to_string())?;
    let manifest = format!(
        "[package]\nname = \"budget-probe\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n[workspace]\n\n[dependencies]\n{deps}\n"
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").map_err(|e| e.to_string())
}

/// Unique normal dependencies of the probe project (the probe itself not counted).
fn count_deps(dir: &Path) -> Result<usize, String> {
    let out = cargo()
        .current_dir(dir)
        .args([
            "tree", "-e", "normal", "--prefix", "none", "--format", "{p}",
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let mut crates: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_end_matches(" (*)").to_owned())
        .filter(|l| !l.is_empty() && !l.starts_with("budget-probe"))
        .collect();
    crates.sort();
    crates.dedup();
    Ok(crates.len())
}

fn clean_build_secs(dir: &Path) -> Result<f64, String> {
    let _ = std::fs::remove_dir_all(dir.join("target"));
    let start = Instant::now();
    let status = cargo()
        .current_dir(dir)
        .args(["build", "--quiet"])
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("build in {} failed", dir.display()));
    }
    Ok(start.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let rounds: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(3)
        .max(1);
    let root = project_root().join("target/budget");
    let floor = root.join("floor");
    write_project(&floor, FLOOR)?;
    let floor_deps = count_deps(&floor)?;
    let mut rows = Vec::new();
    for vendor in crate::vendor_crates() {
        let dir = root.join(&vendor);
        let path = project_root().join("crates").join(&vendor);
        write_project(
            &dir,
            &format!("{vendor} = {{ path = {:?} }}", path.display().to_string()),
        )?;
        let deps = count_deps(&dir)?;
        let (mut f, mut v) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            f.push(clean_build_secs(&floor)?);
            v.push(clean_build_secs(&dir)?);
        }
        rows.push((vendor, deps, median(f), median(v)));
    }
    println!("\nfloor (reqwest json+rustls, tokio, serde_json): {floor_deps} crates");
    println!(
        "\n| crate | unique normal deps | vs floor | clean debug build, median of {rounds} | floor in the same run | ratio |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (vendor, deps, f, v) in rows {
        println!(
            "| {vendor} | {deps} | {:+} | {v:.1} s | {f:.1} s | {:.2} |",
            deps as i64 - floor_deps as i64,
            v / f
        );
    }
    Ok(())
}
