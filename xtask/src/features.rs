//! `cargo xtask features`: the TLS feature matrix of the vendor crates, compile-checked.
//!
//! Each TLS feature alone must build every vendor crate, and no TLS feature at all must fail
//! with exactly one error per crate: the crate's own `compile_error!` naming the features.

use std::process::Command;

use crate::cargo;

const TLS_FEATURES: &[&str] = &["rustls-ring", "rustls-aws-lc-rs", "native-tls"];

/// The vendor crates (found on disk by their shape).
fn vendor_crates() -> Result<Vec<String>, String> {
    let crates = crate::vendor_crates();
    if crates.is_empty() {
        return Err("no vendor crate found under crates/".into());
    }
    Ok(crates)
}

fn check(crates: &[String], features: Option<&str>) -> Command {
    let mut cmd = cargo();
    cmd.args(["check", "--locked", "--keep-going", "--no-default-features"]);
    for name in crates {
        cmd.args(["-p", name]);
    }
    // The bare name applies to every selected package; `crate/feature` would name a
    // dependency, and a crate whose tests depend on itself has one of its own name.
    if let Some(feature) = features {
        cmd.args(["--features", feature]);
    }
    cmd
}

pub(crate) fn run() -> Result<(), String> {
    let crates = vendor_crates()?;
    for feature in TLS_FEATURES {
        println!("features: {feature} alone, for {}", crates.join(", "));
        crate::exec(
            &mut check(&crates, Some(feature)),
            &format!("check with {feature}"),
        )?;
    }
    println!(
        "features: none, for {}: one clear compile error each",
        crates.join(", ")
    );
    let output = check(&crates, None)
        .output()
        .map_err(|e| format!("check without TLS: could not start: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        return Err(
            "the vendor crates built without a TLS feature; expected a compile error".into(),
        );
    }
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error") && !l.contains("could not compile"))
        .filter(|l| !l.starts_with("error: ") || !l.contains("previous error"))
        .collect();
    for name in &crates {
        let wanted = format!("error: {name} needs a TLS backend");
        if !errors.iter().any(|l| l.starts_with(&wanted)) {
            return Err(format!("{name} without TLS did not say so:\n{stderr}"));
        }
    }
    if errors.len() != crates.len() {
        return Err(format!(
            "expected exactly one error per vendor crate without TLS, got {}:\n{stderr}",
            errors.len()
        ));
    }
    Ok(())
}
