//! Repository lints, run as ordinary tests by `cargo test --workspace`.

mod structure;

use std::path::{Path, PathBuf};

use crate::project_root;
use crate::snapshots::pending_snapshots;

fn vendor_crates() -> Vec<String> {
    crate::vendor_crates()
}

fn crate_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(project_root().join("crates"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// The crates that are published (not `publish = false`, as the dev-only test kit is).
fn published_crate_dirs() -> Vec<PathBuf> {
    crate_dirs()
        .into_iter()
        .filter(|d| {
            key(&section(&read(&d.join("Cargo.toml")), "package"), "publish") != Some("false")
        })
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The lines of TOML section `[name]` (up to the next section header).
fn section<'a>(toml: &'a str, name: &str) -> Vec<&'a str> {
    let header = format!("[{name}]");
    toml.lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect()
}

fn key<'a>(lines: &[&'a str], key: &str) -> Option<&'a str> {
    lines.iter().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then_some(v.trim())
    })
}

#[test]
fn the_core_the_sandbox_and_vendor_crates_exist() {
    assert!(
        vendor_crates().len() >= 4,
        "vendor crates: {:?}",
        vendor_crates()
    );
    let names: Vec<String> = crate_dirs()
        .iter()
        .filter_map(|d| Some(d.file_name()?.to_string_lossy().into_owned()))
        .collect();
    for expected in [
        "auth-core",
        "auth-sandbox",
        "auth-store-redis",
        "vendor-auth-cli",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "crates/{expected} missing"
        );
    }
}

#[test]
fn every_crate_has_a_readme_and_a_changelog_with_unreleased() {
    for dir in crate_dirs() {
        assert!(
            !read(&dir.join("README.md")).trim().is_empty(),
            "{} has no README.md",
            dir.display()
        );
        let changelog = read(&dir.join("CHANGELOG.md"));
        assert!(
            changelog.lines().any(|l| l.trim() == "## [Unreleased]"),
            "{} has no CHANGELOG.md with `## [Unreleased]`",
            dir.display()
        );
    }
}

#[test]
fn every_crate_has_its_own_version_and_complete_metadata() {
    for dir in published_crate_dirs() {
        let toml = read(&dir.join("Cargo.toml"));
        let package = section(&toml, "package");
        let version = key(&package, "version").unwrap_or_default();
        assert!(
            version.starts_with('"'),
            "{}: `version` must be a literal, never inherited (found {version:?})",
            dir.display()
        );
        for field in [
            "description",
            "license",
            "repository",
            "readme",
            "keywords",
            "categories",
            "rust-version",
        ] {
            let found = key(&package, field).is_some()
                || key(&package, &format!("{field}.workspace")).is_some();
            assert!(found, "{}: missing `{field}`", dir.display());
        }
    }
}

#[test]
fn internal_dependencies_carry_a_version_and_vendors_stay_apart() {
    for dir in published_crate_dirs() {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let toml = read(&dir.join("Cargo.toml"));
        let deps = section(&toml, "dependencies");
        for line in &deps {
            if line.contains("path =") {
                assert!(
                    line.contains("version ="),
                    "{name}: internal dependency without a version: {line}"
                );
            }
        }
        let vendors = vendor_crates();
        if vendors.contains(&name) || name == "auth-core" {
            // Heavy parts live in their own crates: every user of a vendor crate pays for its tree.
            for heavy in ["redis", "clap"] {
                assert!(
                    !deps.iter().any(|l| l.trim_start().starts_with(heavy)),
                    "{name} depends on {heavy}: keep it in its own crate"
                );
            }
        }
        if vendors.contains(&name) {
            for line in deps.iter().chain(section(&toml, "dev-dependencies").iter()) {
                for other in vendors.iter().filter(|v| **v != name) {
                    assert!(
                        !line.trim_start().starts_with(other),
                        "{name} depends on {other}: vendor crates depend on auth-core only"
                    );
                }
            }
        }
    }
}

#[test]
fn no_pending_snapshots() {
    let pending = pending_snapshots(&project_root());
    assert!(
        pending.is_empty(),
        "review these with `cargo xtask snapshots`: {pending:?}"
    );
}

/// Snapshots use obviously fake secrets: GUIDs of repeated digits, JWTs with short signatures.
#[test]
fn no_real_looking_secret_in_a_snapshot() {
    for dir in crate_dirs() {
        let snaps = dir.join("tests/snapshots");
        let Ok(entries) = std::fs::read_dir(&snaps) else {
            continue;
        };
        for entry in entries.flatten() {
            let text = read(&entry.path());
            for word in text
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_'))
            {
                if let Some(why) = real_looking(word) {
                    panic!("{}: {why}: {word}", entry.path().display());
                }
            }
        }
    }
}

fn real_looking(word: &str) -> Option<&'static str> {
    let groups: Vec<&str> = word.split('-').collect();
    let is_guid = groups.len() == 5
        && groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()));
    if is_guid {
        let fake = groups.iter().all(|g| g.chars().all(|c| g.starts_with(c)));
        return (!fake)
            .then_some("a real-looking GUID (use repeated digits, e.g. 11111111-2222-...)");
    }
    let parts: Vec<&str> = word.split('.').collect();
    if parts.len() == 3 && parts[0].starts_with("eyJ") && parts[2].len() >= 20 {
        return Some("a JWT with a real-looking signature");
    }
    None
}

#[test]
fn the_secret_detector_itself_works() {
    assert!(real_looking("62ccc18a-25e2-440c-bf6d-749c117fa9db").is_some());
    assert!(real_looking("11111111-2222-3333-4444-555555555555").is_none());
    assert!(
        real_looking("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.abcdefghijklmnopqrstuvwxyz").is_some()
    );
    assert!(real_looking("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.sandbox").is_none());
    assert!(real_looking("plain-word").is_none());
}

#[test]
fn ci_runs_the_gate_and_the_readme_names_both_commands() {
    let ci = read(&project_root().join(".ci/run"));
    assert!(
        ci.contains("cargo xtask test-all"),
        ".ci/run must run cargo xtask test-all"
    );
    let readme = read(&project_root().join("README.md"));
    assert!(readme.contains("cargo xtask demo"));
    assert!(readme.contains("cargo xtask test-all"));
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_source_file_says_what_it_is_for() {
    let root = project_root();
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    rust_files(&root.join("xtask/src"), &mut files);
    assert!(files.len() > 40, "found only {} source files", files.len());
    let mut silent = Vec::new();
    for file in files {
        let text = read(&file);
        let first = text.lines().next().unwrap_or_default();
        // A crate root may take its docs from the README instead.
        let says = (first.starts_with("//! ") && first.len() > 8)
            || first == "#![doc = include_str!(\"../README.md\")]";
        if !says {
            silent.push(
                file.strip_prefix(&root)
                    .unwrap_or(&file)
                    .display()
                    .to_string(),
            );
        }
    }
    assert!(
        silent.is_empty(),
        "these files do not start with a `//!` line saying what they are for: {silent:?}"
    );
}

/// `1.86`, `1.86.0` as comparable numbers.
fn rust_version(text: &str) -> Option<(u64, u64, u64)> {
    let mut parts = text.trim().trim_matches('"').split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    let patch = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    Some((major, minor, patch))
}

#[test]
fn rust_versions_compare_by_number() {
    assert_eq!(rust_version("1.86"), Some((1, 86, 0)));
    assert!(rust_version("1.9").expect("v") < rust_version("1.86.1").expect("v"));
    assert_eq!(rust_version("x"), None);
}

/// CI builds with one toolchain only, so a dependency that needs a newer Rust than the
/// workspace's `rust-version` would go unnoticed: every package in `Cargo.lock` (as `cargo
/// metadata` reports its declared `rust-version`) must build on ours.
#[test]
fn every_locked_dependency_builds_on_the_minimum_rust_version() {
    let root = read(&project_root().join("Cargo.toml"));
    let msrv = key(&section(&root, "workspace.package"), "rust-version")
        .and_then(rust_version)
        .expect("rust-version in [workspace.package]");
    let out = crate::cargo()
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let packages = metadata["packages"].as_array().expect("packages");
    assert!(packages.len() > 50, "the whole lock file is read");
    let too_new: Vec<String> = packages
        .iter()
        .filter_map(|p| {
            let declared = p["rust_version"].as_str()?;
            (rust_version(declared)? > msrv).then(|| {
                format!(
                    "{} {} needs Rust {declared}",
                    p["name"].as_str().unwrap_or("?"),
                    p["version"].as_str().unwrap_or("?")
                )
            })
        })
        .collect();
    assert!(
        too_new.is_empty(),
        "dependencies newer than the workspace's rust-version {msrv:?}: {too_new:#?}"
    );
}

/// What `cargo package` puts in each crate's `.crate`: its source and docs, never tests or
/// benches that need the workspace (the sandbox, test-util) and so cannot build from the
/// tarball, and never key material.
#[test]
fn packages_hold_no_workspace_only_tests_nor_key_material() {
    for dir in crate_dirs() {
        let toml = read(&dir.join("Cargo.toml"));
        let package = section(&toml, "package");
        if key(&package, "publish") == Some("false") {
            continue;
        }
        let name = crate::package_name(&toml).expect("a package name");
        let out = crate::cargo()
            .args([
                "package",
                "--list",
                "--allow-dirty",
                "--locked",
                "-p",
                &name,
            ])
            .output()
            .expect("cargo package --list runs");
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listed = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            listed
                .lines()
                .any(|f| f == "src/lib.rs" || f == "src/main.rs")
        );
        for licence in ["LICENSE-MIT", "LICENSE-APACHE"] {
            assert!(
                listed.lines().any(|f| f == licence),
                "{name} would publish without {licence}"
            );
        }
        for file in listed.lines() {
            assert!(
                !file.starts_with("tests/") && !file.starts_with("benches/"),
                "{name} would publish {file}, which needs the workspace to build"
            );
            assert!(
                ![".der", ".pem", ".key", ".p12"]
                    .iter()
                    .any(|ext| file.ends_with(ext)),
                "{name} would publish key material: {file}"
            );
            let text = read(&dir.join(file));
            assert!(
                !text.contains("-----BEGIN PRIVATE KEY-----")
                    && !text.contains("-----BEGIN RSA PRIVATE KEY-----")
                    && !text.contains("-----BEGIN EC PRIVATE KEY-----"),
                "{name} would publish a private key in {file}"
            );
        }
    }
}

/// docs.rs builds every library with all its features, each gated item badged with the feature
/// it needs (`doc_cfg` under `--cfg docsrs`).
#[test]
fn docs_rs_documents_every_feature() {
    for dir in published_crate_dirs() {
        let lib = read(&dir.join("src/lib.rs"));
        if lib.is_empty() {
            continue;
        }
        let toml = read(&dir.join("Cargo.toml"));
        let docs_rs = section(&toml, "package.metadata.docs.rs");
        assert_eq!(
            key(&docs_rs, "all-features"),
            Some("true"),
            "{}: docs.rs should build all features",
            dir.display()
        );
        assert!(
            key(&docs_rs, "rustdoc-args").is_some_and(|a| a.contains("docsrs")),
            "{}: rustdoc-args must set --cfg docsrs",
            dir.display()
        );
        if lib.contains("doc(cfg") || !section(&toml, "features").is_empty() {
            assert!(
                lib.contains("cfg_attr(docsrs, feature(doc_cfg))"),
                "{}: feature badges need #![cfg_attr(docsrs, feature(doc_cfg))]",
                dir.display()
            );
        }
    }
}
