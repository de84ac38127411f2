//! Prints a P21 access token, configured from the environment (`P21_BASE_URL`, and
//! `P21_CONSUMER_KEY` with an optional `P21_USERNAME`, or `P21_USERNAME` and `P21_PASSWORD`).
//!
//! `cargo run -p p21-auth --example p21_token`
//!
//! On success the token alone goes to stdout and the exit code is 0; on failure the error goes
//! to stderr and the exit code is 1.

use std::io::Write;
use std::process::ExitCode;

use auth_http::env::EnvLookup;

/// The whole example, with its environment and outputs passed in (so a test can run it).
pub async fn run(vars: &dyn EnvLookup, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let token = match p21_auth::ClientBuilder::from_vars(vars).and_then(|b| b.build()) {
        Ok(client) => client.token().await,
        Err(e) => Err(e),
    };
    match token {
        Ok(token) => {
            let _ = writeln!(out, "{}", token.access_token().expose_secret());
            0
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            1
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let code = run(
        &auth_http::env::process(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    )
    .await;
    ExitCode::from(code)
}
