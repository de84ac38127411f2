//! `cargo xtask demo`: runs the sandbox demo (every vendor flow, no accounts, no network).

use crate::cargo;

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--quiet",
        "-p",
        "auth-sandbox",
        "--example",
        "demo",
        "--",
    ]);
    cmd.args(args);
    crate::exec(&mut cmd, "demo")
}
