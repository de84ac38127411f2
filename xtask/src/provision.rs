//! `cargo xtask provision`: the system packages the gate needs, installed before anything is
//! built (`test-all` runs it first, and `.ci/run` only calls `test-all`). Debian and Ubuntu:
//! `apt-get` as root or through passwordless `sudo`, with services kept from starting (each test
//! starts its own server on a free loopback port). macOS: Homebrew. Anywhere else, or without
//! the rights to install, it stops within seconds with one message naming the packages and the
//! command that installs them.

use std::process::{Command, Stdio};

/// What the gate needs: a command that shows it is there, its Debian package, its Homebrew
/// formula, and what it is for.
struct Need {
    present: fn() -> bool,
    debian: &'static str,
    brew: &'static str,
    why: &'static str,
}

const NEEDS: &[Need] = &[
    Need {
        present: || on_path("redis-server"),
        debian: "redis-server",
        brew: "redis",
        why: "the Redis store's tests start their own servers",
    },
    Need {
        present: || on_path("redis-sentinel"),
        debian: "redis-sentinel",
        brew: "redis",
        why: "the Redis store's Sentinel tests",
    },
    Need {
        present: || on_path("redis-cli"),
        debian: "redis-tools",
        brew: "redis",
        why: "the Redis store's tests talk to their servers",
    },
    Need {
        present: || on_path("pkg-config"),
        debian: "pkg-config",
        brew: "pkg-config",
        why: "finding OpenSSL for the native-tls feature check",
    },
    Need {
        present: openssl_headers,
        debian: "libssl-dev",
        brew: "openssl@3",
        why: "the native-tls feature check builds against OpenSSL",
    },
];

/// Whether `program` runs (`--version` answers).
fn on_path(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Whether OpenSSL's development files are found the way openssl-sys looks for them.
fn openssl_headers() -> bool {
    cfg!(windows)
        || Command::new("pkg-config")
            .args(["--exists", "openssl"])
            .status()
            .is_ok_and(|s| s.success())
}

/// How this machine installs packages, if it can without asking anyone.
enum Installer {
    /// `apt-get`, as root (`None`) or through `sudo -n`.
    Apt(Option<&'static str>),
    Brew,
}

fn installer() -> Option<Installer> {
    if on_path("apt-get") {
        if is_root() {
            return Some(Installer::Apt(None));
        }
        let sudo = Command::new("sudo")
            .args(["-n", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if sudo {
            return Some(Installer::Apt(Some("sudo")));
        }
        return None;
    }
    if cfg!(target_os = "macos") && on_path("brew") {
        return Some(Installer::Brew);
    }
    None
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

pub(crate) fn run() -> Result<(), String> {
    let missing: Vec<&Need> = NEEDS.iter().filter(|n| !(n.present)()).collect();
    if missing.is_empty() {
        println!("provision: every system package the gate needs is installed");
        return Ok(());
    }
    for need in &missing {
        println!("provision: missing {} ({})", need.debian, need.why);
    }
    let mut debian: Vec<&str> = missing.iter().map(|n| n.debian).collect();
    debian.dedup();
    let mut brew: Vec<&str> = missing.iter().map(|n| n.brew).collect();
    brew.sort_unstable();
    brew.dedup();
    match installer() {
        Some(Installer::Apt(sudo)) => apt_install(sudo, &debian)?,
        Some(Installer::Brew) => {
            crate::exec(
                Command::new("brew").arg("install").args(&brew),
                "brew install",
            )?;
        }
        None => {
            return Err(format!(
                "the gate needs system packages that are not installed and that it cannot install here: {}.\n\
                 Install them, then run cargo xtask test-all again:\n  \
                 Debian or Ubuntu: sudo apt-get install -y {}\n  \
                 macOS: brew install {}",
                debian.join(", "),
                debian.join(" "),
                brew.join(" ")
            ));
        }
    }
    let still: Vec<&str> = NEEDS
        .iter()
        .filter(|n| !(n.present)())
        .map(|n| n.debian)
        .collect();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "installed, but still not found: {}",
            still.join(", ")
        ))
    }
}

/// `apt-get install` of `packages`, with services kept from starting at install time (a
/// `policy-rc.d` that refuses every start, removed afterwards if it was not there before).
fn apt_install(sudo: Option<&'static str>, packages: &[&str]) -> Result<(), String> {
    let command = |program: &str| {
        let mut cmd = match sudo {
            Some(sudo) => {
                let mut cmd = Command::new(sudo);
                cmd.arg("-n").arg(program);
                cmd
            }
            None => Command::new(program),
        };
        cmd.env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    let policy = std::path::Path::new("/usr/sbin/policy-rc.d");
    let made_policy = !policy.exists();
    if made_policy {
        crate::exec(
            command("sh").args([
                "-c",
                "printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d",
            ]),
            "keeping services from starting during the install",
        )?;
    }
    let outcome = crate::exec(command("apt-get").args(["update", "-qq"]), "apt-get update")
        .and_then(|()| {
            crate::exec(
                command("apt-get")
                    .args(["install", "-y", "-qq", "--no-install-recommends"])
                    .args(packages),
                "apt-get install",
            )
        });
    if made_policy {
        let _ = command("rm").args(["-f", "/usr/sbin/policy-rc.d"]).status();
    }
    outcome
}
