//! `cargo xtask package`: every published crate packaged as crates.io would receive it, and
//! each built from its `.crate` file in dependency order against its dependencies' packages
//! (not their folders), so that an unpublishable crate (a missing file, a dependency without a
//! version, code that needs the workspace) fails the gate. Crates with `publish = false` are
//! left out.

use crate::{cargo, exec};

pub(crate) fn run() -> Result<(), String> {
    let home = package_cargo_home()?;
    let mut cmd = cargo();
    cmd.args(["package", "--workspace", "--locked", "--allow-dirty"])
        .env("CARGO_HOME", home);
    for name in unpublished()? {
        cmd.args(["--exclude", &name]);
    }
    exec(&mut cmd, "packaging and verifying every published crate")
}

/// The members with `publish = false` (the test kit, xtask): never packaged.
fn unpublished() -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut manifests = crate::member_manifests()?;
    manifests.push(crate::project_root().join("xtask/Cargo.toml"));
    for manifest in manifests {
        let text = std::fs::read_to_string(&manifest)
            .map_err(|e| format!("reading {}: {e}", manifest.display()))?;
        if crate::package_key(&text, "publish").as_deref() == Some("false") {
            names.extend(crate::package_name(&text));
        }
    }
    Ok(names)
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
