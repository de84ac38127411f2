//! `cargo xtask semver [--baseline-rev REV]`: cargo-semver-checks for each publishable crate,
//! against that crate's last release tag (`NAME-vVERSION`, as release-plz tags it) or against
//! REV before a first release. It reports, per crate, the version bump the API changes need and
//! whether the crate's `version` and its CHANGELOG agree. cargo-semver-checks is installed with
//! `cargo install --locked` on first use.

use std::process::Command;

use crate::{cargo, member_manifests, package_name, project_root};

/// One crate's verdict.
struct Verdict {
    name: String,
    baseline: String,
    needed: String,
    versions: String,
    ok: bool,
    note: String,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let baseline_rev = match args {
        [] => None,
        [flag, rev] if flag == "--baseline-rev" => Some(rev.clone()),
        _ => return Err("usage: cargo xtask semver [--baseline-rev REV]".into()),
    };
    ensure_installed()?;
    let crates = publishable()?;
    report(crates, baseline_rev.as_deref())
}

/// The gate's semver step: every crate with a published baseline (a release tag
/// `NAME-vVERSION`) is checked against it; a crate without one is skipped, saying so.
/// cargo-semver-checks is installed only when some crate has a baseline.
pub(crate) fn gate() -> Result<(), String> {
    let mut checked = Vec::new();
    for (name, dir, text) in publishable()? {
        match last_tag(&name)? {
            Some(tag) => {
                println!("semver: {name} is checked against its release {tag}");
                checked.push((name, dir, text));
            }
            None => println!(
                "semver: {name} skipped: no release tag {name}-v*, so no published baseline to compare its API with"
            ),
        }
    }
    if checked.is_empty() {
        return Ok(());
    }
    ensure_installed()?;
    report(checked, None)
}

/// Each publishable member: its name, its folder (relative, `/`-separated) and its manifest.
fn publishable() -> Result<Vec<(String, String, String)>, String> {
    let mut crates = Vec::new();
    for manifest in member_manifests()? {
        let text = std::fs::read_to_string(&manifest)
            .map_err(|e| format!("reading {}: {e}", manifest.display()))?;
        if text.lines().any(|l| l.replace(' ', "") == "publish=false") {
            continue;
        }
        let Some(name) = package_name(&text) else {
            continue;
        };
        let dir = manifest
            .parent()
            .and_then(|d| d.strip_prefix(project_root()).ok())
            .map(|d| d.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        crates.push((name, dir, text));
    }
    Ok(crates)
}

/// Checks `crates` against their baselines and prints one verdict each.
fn report(crates: Vec<(String, String, String)>, baseline_rev: Option<&str>) -> Result<(), String> {
    let mut verdicts = Vec::new();
    for (name, dir, text) in crates {
        verdicts.push(check(&name, &dir, &text, baseline_rev)?);
    }
    println!();
    println!(
        "{:<18} {:<22} {:<14} {:<18} verdict",
        "crate", "baseline", "needs", "version"
    );
    for v in &verdicts {
        println!(
            "{:<18} {:<22} {:<14} {:<18} {}{}",
            v.name,
            v.baseline,
            v.needed,
            v.versions,
            if v.ok { "ok" } else { "DISAGREES" },
            if v.note.is_empty() {
                String::new()
            } else {
                format!(": {}", v.note)
            }
        );
    }
    let bad = verdicts.iter().filter(|v| !v.ok).count();
    if bad == 0 {
        Ok(())
    } else {
        Err(format!(
            "{bad} crate(s) need a version or CHANGELOG change (above)"
        ))
    }
}

/// `cargo semver-checks`, installed with `cargo install --locked` when missing.
fn ensure_installed() -> Result<(), String> {
    let present = cargo()
        .args(["semver-checks", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    println!("cargo-semver-checks is not installed: installing it (cargo install --locked)");
    crate::exec(
        cargo().args(["install", "--locked", "cargo-semver-checks"]),
        "installing cargo-semver-checks",
    )
}

fn check(name: &str, dir: &str, manifest: &str, rev: Option<&str>) -> Result<Verdict, String> {
    let current = version(manifest).unwrap_or_default();
    let baseline = match rev {
        Some(rev) => rev.to_owned(),
        None => match last_tag(name)? {
            Some(tag) => tag,
            None => {
                return Ok(Verdict {
                    name: name.into(),
                    baseline: "none".into(),
                    needed: "?".into(),
                    versions: current,
                    ok: false,
                    note: format!(
                        "no release tag {name}-v*; before a first release, pass --baseline-rev REV"
                    ),
                });
            }
        },
    };
    let shown = baseline.chars().take(20).collect::<String>();
    let Some(old_manifest) = git(&["show", &format!("{baseline}:{dir}/Cargo.toml")]) else {
        return Ok(Verdict {
            name: name.into(),
            baseline: shown,
            needed: "new".into(),
            versions: current,
            ok: true,
            note: "not in the baseline: a first release".into(),
        });
    };
    let old = version(&old_manifest).unwrap_or_default();
    let out = cargo()
        .args([
            "semver-checks",
            "check-release",
            "-p",
            name,
            "--baseline-rev",
            &baseline,
            // Judged as a patch release, cargo-semver-checks says what the changes need
            // whatever the version already is; the version is compared below.
            "--release-type",
            "patch",
        ])
        .output()
        .map_err(|e| format!("running cargo semver-checks: {e}"))?;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let needed = needed_bump(&report);
    let changelog =
        std::fs::read_to_string(project_root().join(dir).join("CHANGELOG.md")).unwrap_or_default();
    let unreleased = unreleased(&changelog);
    let mut notes = Vec::new();
    let required = next_version(&old, &needed);
    let mut ok = required
        .as_deref()
        .is_some_and(|required| numbers(&current) >= numbers(required));
    if !ok {
        notes.push(match &required {
            Some(required) => format!("{name} needs version {required} or later ({needed} change)"),
            None => "cargo-semver-checks did not say what the changes need".into(),
        });
    }
    // cargo-semver-checks says `major` for a breaking change whatever the version; below 1.0
    // that is a new minor version (0.1.x -> 0.2.0), and its `minor` a new patch version.
    let breaking = needed == "major";
    if breaking && !unreleased.contains("Breaking") {
        ok = false;
        notes.push("the CHANGELOG's Unreleased section names no breaking change".into());
    }
    if needed == "none" {
        notes.push("no API change that needs a bump".into());
    }
    print!("{report}");
    let needed = match required {
        Some(next) => format!("{needed} ({next})"),
        None => needed,
    };
    Ok(Verdict {
        name: name.into(),
        baseline: shown,
        needed,
        versions: format!("{old} -> {current}"),
        ok,
        note: notes.join("; "),
    })
}

/// What cargo-semver-checks says the changes need: `major`, `minor`, `patch` or `none`.
fn needed_bump(report: &str) -> String {
    for word in ["major", "minor", "patch"] {
        if report.contains(&format!("requires new {word} version")) {
            return word.into();
        }
    }
    if report.contains("no semver update required") {
        "none".into()
    } else {
        "?".into()
    }
}

/// The first version after `old` that a change of kind `needed` allows (below 1.0, a breaking
/// change raises the minor number and anything else the patch number).
fn next_version(old: &str, needed: &str) -> Option<String> {
    let mut parts = old.split('.').map(|p| p.parse::<u64>().ok());
    let (major, minor, patch) = (parts.next()??, parts.next()??, parts.next()??);
    Some(match (major, needed) {
        (_, "none") => old.to_owned(),
        (0, "major") => format!("0.{}.0", minor + 1),
        (0, _) => format!("0.{minor}.{}", patch + 1),
        (_, "major") => format!("{}.0.0", major + 1),
        (_, "minor") => format!("{major}.{}.0", minor + 1),
        (_, "patch") => format!("{major}.{minor}.{}", patch + 1),
        _ => return None,
    })
}

/// `1.2.3` as comparable numbers.
fn numbers(version: &str) -> Vec<u64> {
    version
        .split(['.', '-', '+'])
        .take(3)
        .map(|p| p.parse().unwrap_or(0))
        .collect()
}

/// The text under `## [Unreleased]`, up to the next release heading.
fn unreleased(changelog: &str) -> String {
    changelog
        .lines()
        .skip_while(|l| l.trim() != "## [Unreleased]")
        .skip(1)
        .take_while(|l| !l.starts_with("## ["))
        .collect::<Vec<_>>()
        .join("\n")
}

fn version(manifest: &str) -> Option<String> {
    crate::package_key(manifest, "version")
}

/// The newest tag `NAME-v*`.
fn last_tag(name: &str) -> Result<Option<String>, String> {
    Ok(
        git(&["tag", "--list", &format!("{name}-v*"), "--sort=-v:refname"])
            .and_then(|out| out.lines().next().map(str::to_owned)),
    )
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(project_root())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_and_the_changelog_are_read() {
        assert_eq!(
            needed_bump(
                "Summary semver requires new minor version: 3 major and 0 minor checks failed"
            ),
            "minor"
        );
        assert_eq!(needed_bump("Summary no semver update required"), "none");
        assert_eq!(needed_bump("error: something else"), "?");
        let changelog = "# Changelog\n\n## [Unreleased]\n- **Breaking:** x\n\n## [0.1.0]\n- old\n";
        assert!(unreleased(changelog).contains("Breaking"));
        assert!(!unreleased(changelog).contains("old"));
        assert_eq!(next_version("0.1.0", "major").as_deref(), Some("0.2.0"));
        assert!(numbers("0.10.0") > numbers("0.2.0"));
        assert_eq!(next_version("0.1.0", "minor").as_deref(), Some("0.1.1"));
        assert_eq!(next_version("1.4.2", "minor").as_deref(), Some("1.5.0"));
        assert_eq!(next_version("1.4.2", "major").as_deref(), Some("2.0.0"));
        assert_eq!(
            version("[package]\nname = \"a\"\nversion = \"0.2.0\"\n").as_deref(),
            Some("0.2.0")
        );
    }

    #[test]
    fn release_plz_tags_what_the_semver_task_reads() {
        let config = std::fs::read_to_string(project_root().join("release-plz.toml"))
            .expect("release-plz.toml");
        assert!(config.contains("git_tag_name = \"{{ package }}-v{{ version }}\""));
        assert!(config.contains("semver_check = true"));
        assert!(config.contains("name = \"xtask\"\nrelease = false"));
    }
}
