//! The `auth-sandbox` program: flags, the printed URLs, and serving what the flags set up.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn help_lists_the_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_auth-sandbox"))
        .arg("--help")
        .output()
        .expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--fail <ENDPOINT:FAULT[:COUNT]>"), "{text}");
    // Each vendor's own flags, from the one list of vendors.
    for flag in [
        "--p21-user <NAME:PASSWORD>",
        "--bydesign-rep <COMPANY:ID:PASSWORD>",
        "--xml",
    ] {
        assert!(text.contains(flag), "{flag} missing from {text}");
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_auth-sandbox"))
        .args(["--fail", "nowhere:503"])
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown endpoint"));
}

#[tokio::test]
async fn it_serves_the_accounts_and_faults_its_flags_set_up() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_auth-sandbox"))
        .args(["--p21-user", "me:secret", "--fail", "p21-token:429/3:1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("stdout");
    let _running = Running(child);
    let first = BufReader::new(stdout)
        .lines()
        .next()
        .expect("a line")
        .expect("text");
    let url = first
        .strip_prefix("auth-sandbox listening on ")
        .expect("the URL line")
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    auth_http::install_crypto_provider();
    let client = reqwest::Client::new();
    let sign_in = || {
        client
            .post(format!("{url}/p21/api/security/token/v2"))
            .json(&serde_json::json!({"username": "me", "password": "secret"}))
            .send()
    };
    let throttled = sign_in().await.expect("answer");
    assert_eq!(throttled.status(), 429);
    assert_eq!(throttled.headers()["retry-after"], "3");
    let ok = sign_in().await.expect("answer");
    assert_eq!(ok.status(), 200);
}

#[test]
fn with_no_account_flag_it_prints_the_demo_accounts_environment() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_auth-sandbox"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("stdout");
    let _running = Running(child);
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .take_while(|l| l != "Ctrl-C stops it.")
        .collect();
    let url = lines[0]
        .strip_prefix("auth-sandbox listening on ")
        .expect("the URL line");
    let env: Vec<(&str, &str)> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .collect();
    assert!(
        env.contains(&("P21_BASE_URL", &format!("{url}/p21"))),
        "{lines:?}"
    );
    assert!(env.contains(&("BYDESIGN_REP_ID", "1001")), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("apinizer personal token: ")),
        "{lines:?}"
    );
}
