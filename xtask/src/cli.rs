//! `cargo xtask cli <vendor-auth arguments>`: the `vendor-auth` tool against a sandbox started
//! for the occasion, with its demo accounts and a private token store; the sandbox is stopped by
//! its pid afterwards. `cargo xtask cli token p21` shows a token, `cargo xtask cli doctor p21`
//! the doctor.

use std::io::BufRead as _;
use std::process::{Command, Stdio};

use crate::demo::exe;
use crate::{cargo, exec};

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if args.is_empty() {
        return Err(
            "usage: cargo xtask cli <vendor-auth arguments>, e.g. cargo xtask cli token p21".into(),
        );
    }
    exec(
        cargo().args([
            "build",
            "--quiet",
            "--locked",
            "-p",
            "auth-sandbox",
            "-p",
            "vendor-auth-cli",
        ]),
        "building the sandbox and vendor-auth",
    )?;
    let bin = crate::target_dir().join("debug");
    let mut sandbox = Command::new(bin.join(exe("auth-sandbox")))
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the sandbox: {e}"))?;
    let outcome = (|| {
        let stdout = sandbox.stdout.take().ok_or("the sandbox has no stdout")?;
        // The sandbox prints the variables each vendor crate's `from_env()` reads for its demo
        // accounts (`export NAME=VALUE`), so that no vendor is listed here.
        let accounts: Vec<(String, String)> = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take_while(|line| line != "Ctrl-C stops it.")
            .filter_map(|line| {
                let (name, value) = line.strip_prefix("export ")?.split_once('=')?;
                Some((name.to_owned(), value.to_owned()))
            })
            .collect();
        if accounts.is_empty() {
            return Err("the sandbox printed no demo accounts".into());
        }
        let store = crate::target_dir()
            .join("xtask")
            .join(format!("cli-store-{}", std::process::id()));
        let status = Command::new(bin.join(exe("vendor-auth")))
            .args(args)
            .envs(accounts)
            .env("VENDOR_AUTH_STORE", format!("file:{}", store.display()))
            .status()
            .map_err(|e| format!("running vendor-auth: {e}"));
        let _ = std::fs::remove_dir_all(&store);
        match status? {
            s if s.success() => Ok(()),
            s => Err(format!("vendor-auth exited with {s}")),
        }
    })();
    let _ = sandbox.kill();
    let _ = sandbox.wait();
    outcome
}
