//! `auth-sandbox`: runs the local stand-in for the vendors' token services until interrupted.
//! `auth-sandbox --help` lists the flags: the port, token lifetimes, latency and faults, and each
//! vendor's accounts; with no account flag it starts with a demo account of each kind.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    auth_sandbox::cli::main(std::env::args()).await
}
