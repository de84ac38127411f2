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
        let url = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| {
                line.strip_prefix("auth-sandbox listening on ")
                    .map(|u| u.trim().to_owned())
            })
            .ok_or("the sandbox did not say where it listens")?;
        let store = crate::target_dir()
            .join("xtask")
            .join(format!("cli-store-{}", std::process::id()));
        let status = Command::new(bin.join(exe("vendor-auth")))
            .args(args)
            .envs(sandbox_accounts(&url))
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

/// The settings of the sandbox's demo accounts (its defaults), as each crate's variables.
fn sandbox_accounts(url: &str) -> Vec<(&'static str, String)> {
    let password = "sandbox-password".to_owned();
    vec![
        ("P21_BASE_URL", format!("{url}/p21")),
        ("P21_USERNAME", "api_user".into()),
        ("P21_PASSWORD", password.clone()),
        (
            "PERSONIFY_TOKEN_URL",
            format!("{url}/personify/connect/token"),
        ),
        ("PERSONIFY_CLIENT_ID", "sandbox-client".into()),
        ("PERSONIFY_CLIENT_SECRET", "sandbox-secret".into()),
        ("PERSONIFY_TENANT_ID", "sandbox-tenant".into()),
        ("PERSONIFY_API_BASE_URL", format!("{url}/personify/api/")),
        ("APINIZER_BASE_URL", format!("{url}/apinizer")),
        ("APINIZER_USERNAME", "admin".into()),
        ("APINIZER_PASSWORD", password.clone()),
        ("BYDESIGN_BASE_URL", format!("{url}/bydesign/SandboxCo")),
        ("BYDESIGN_CLIENT_ID", "SandboxCart".into()),
        ("BYDESIGN_REP_ID", "1001".into()),
        ("BYDESIGN_PASSWORD", password),
    ]
}
