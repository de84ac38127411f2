//! `cargo xtask demo`: runs the demo (`crates/auth-testkit/examples/demo.rs`: every vendor flow
//! against the sandbox, no accounts, no network), with
//! the `vendor-auth` tool built first for its last section.

use crate::{cargo, exec};

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    exec(
        cargo().args(["build", "--quiet", "--locked", "-p", "vendor-auth-cli"]),
        "building vendor-auth",
    )?;
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--quiet",
        "--locked",
        "-p",
        "auth-testkit",
        "--example",
        "demo",
        "--",
    ])
    .env(
        "VENDOR_AUTH_BIN",
        crate::target_dir().join("debug").join(exe("vendor-auth")),
    );
    cmd.args(args);
    exec(&mut cmd, "demo")
}

/// `name` with the platform's executable suffix.
pub(crate) fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}
