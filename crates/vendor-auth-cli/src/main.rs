//! `vendor-auth`: access tokens for P21, Personify, Apinizer and ByDesign in the shell, shared
//! through the token store with every process on the host, and a doctor for the setup.
//!
//! Exit status: 0 success, 1 the vendor or the network said no, 2 usage or configuration.

mod cli;
mod config;
mod doctor;
mod failure;
mod output;
mod store;
mod trust;
mod vendor;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use auth_core::error::ConfigProblem;
use auth_core::store::TokenStore;
use auth_core::{CacheOptions, ErrorKind};
use auth_http::HttpClient;
use clap::Parser as _;
use serde_json::{Value, json};

use crate::cli::{Args, Command};
use crate::config::Settings;
use crate::failure::Failure;
use crate::output::Spinner;
use crate::vendor::Client;

fn main() -> ExitCode {
    let args = Args::parse();
    let verbose = args.global.verbose > 0;
    if let Err(failure) = start_logging(args.global.log.as_deref()) {
        eprintln!("{}", failure.render(verbose));
        return ExitCode::from(failure.code());
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let failure = Failure::refused("cannot start the async runtime").cause(&e);
            eprintln!("{}", failure.render(verbose));
            return ExitCode::from(failure.code());
        }
    };
    let outcome = runtime.block_on(run(args));
    // A blocked stdin reader must not keep the process alive.
    runtime.shutdown_background();
    match outcome {
        Ok(status) => ExitCode::from(status),
        Err(failure) => {
            eprintln!("{}", failure.render(verbose));
            ExitCode::from(failure.code())
        }
    }
}

/// `--log FILTER` (or `VENDOR_AUTH_LOG`): tracing to stderr.
fn start_logging(flag: Option<&str>) -> Result<(), Failure> {
    let filter = flag.map(str::to_owned).or_else(|| {
        std::env::var("VENDOR_AUTH_LOG")
            .ok()
            .filter(|f| !f.is_empty())
    });
    let Some(filter) = filter else {
        return Ok(());
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).map_err(|e| {
        Failure::config(format!("--log {filter:?} is not a filter"))
            .hint("write e.g. --log debug or --log p21_auth=trace,auth_core=debug")
            .cause(&e)
    })?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    Ok(())
}

async fn run(args: Args) -> Result<u8, Failure> {
    let vendor = match &args.command {
        Command::Token { vendor, .. }
        | Command::Claims { vendor }
        | Command::UiUrl { vendor }
        | Command::Verify { vendor }
        | Command::Doctor { vendor } => *vendor,
    };
    // A vendor's own commands (P21's ui-url, Apinizer's verify) say so before anything is read.
    let own = match &args.command {
        Command::UiUrl { .. } => Some("ui-url"),
        Command::Verify { .. } => Some("verify"),
        _ => None,
    };
    if let Some(command) = own.filter(|c| !vendor.has_command(c)) {
        return Err(
            Failure::config(format!("{command} is not a command of {}", vendor.name())).hint(
                format!(
                    "vendor-auth doctor {} checks the whole setup, token included",
                    vendor.name()
                ),
            ),
        );
    }
    let settings = Settings::resolve(
        vendor,
        &args.global,
        &auth_http::env::process(),
        &mut std::io::stdin(),
    )?;
    if settings.insecure {
        eprintln!(
            "vendor-auth: warning: --insecure: TLS certificates are not checked; anyone on the network path can read the credentials"
        );
    }
    if let Command::Doctor { .. } = args.command {
        return doctor::run(&settings, args.global.refresh).await;
    }
    let client = client(&settings, args.global.refresh).await?;
    match args.command {
        Command::Token { header, json, .. } => {
            let token = fetch(&client).await?;
            if header {
                let headers = client.api_headers().await?;
                if headers.is_empty() {
                    return Err(Failure::refused(format!(
                        "the {} token cannot be sent in an HTTP header: nothing to print",
                        client.vendor()
                    )));
                }
                for (name, value) in headers {
                    emit(&format!("{name}: {value}"));
                }
            } else if json {
                emit(&token_json(&client, &token).to_string());
            } else {
                emit(token.access_token().expose_secret());
            }
        }
        Command::Claims { .. } => {
            let token = fetch(&client).await?;
            let claims =
                auth_http::oauth::jwt_claims_unverified(token.access_token().expose_secret())
                    .map_err(|why| {
                        Failure::refused(format!(
                            "the {} token has no claims to show: {why}",
                            vendor.name()
                        ))
                    })?;
            let out = json!({ "unverified": true, "claims": claims });
            emit(&serde_json::to_string_pretty(&out).unwrap_or_default());
            eprintln!("vendor-auth: these claims are unverified: the signature was not checked");
        }
        Command::UiUrl { .. } | Command::Verify { .. } => {
            let command = own.unwrap_or_default();
            let printed = {
                let _spinner = Spinner::start("asking the vendor…");
                told(&client, client.command(command)).await?
            };
            emit(&printed);
        }
        Command::Doctor { .. } => {}
    }
    Ok(0)
}

/// The client `settings` describe, sharing tokens through their store; with `refresh`, the
/// shared token (or remembered refusal) is dropped first.
pub(crate) async fn client(settings: &Settings, refresh: bool) -> Result<Client, Failure> {
    let mut http = HttpClient::builder()
        .user_agent(concat!("vendor-auth/", env!("CARGO_PKG_VERSION")))
        .http1_only(settings.http1_only)
        .danger_accept_invalid_certs(settings.insecure)
        .proxy_settings(settings.proxies.clone());
    if let Some(pem) = &settings.ca_pem {
        http = http.add_root_certificates_pem(pem);
    }
    let http = http.build()?;
    let mut cache = CacheOptions::default();
    let store = store::open(settings)?;
    if let Some(store) = &store {
        cache = cache.store_arc(Arc::clone(store));
    }
    let client = settings.vendor.client(settings, http, cache).map_err(|e| {
        let missing = matches!(
            e.kind(),
            ErrorKind::Configuration {
                problem: ConfigProblem::Missing,
                ..
            }
        );
        let hint = e.hint().is_none() && missing;
        let failure = Failure::from(e);
        if hint {
            failure.hint(
                "set it in the environment (or put it in a file named by the variable plus _FILE), or in a profile (--profile NAME); passwords also come from --password-file or --password-stdin",
            )
        } else {
            failure
        }
    })?;
    if let (true, Some(store)) = (refresh, &store) {
        forget(&client, store.as_ref()).await?;
    }
    Ok(client)
}

/// `--refresh`: deletes the shared record of the client's credential (a token or a remembered
/// refusal), so that the next token comes from the vendor.
async fn forget(client: &Client, store: &dyn TokenStore) -> Result<(), Failure> {
    let Some(key) = client.cache().store_key() else {
        return Ok(());
    };
    let unavailable = |e: auth_core::store::StoreError| {
        Failure::refused("the token store cannot be reached to drop the shared token").cause(&e)
    };
    if let Some(record) = store.load(key).await.map_err(unavailable)? {
        store
            .remove_if(key, record.fence)
            .await
            .map_err(unavailable)?;
    }
    Ok(())
}

/// What to say of a refusal the store remembered.
pub(crate) const REMEMBERED: &str = "this refusal was remembered from an earlier try (for 30 s, so that retries cannot lock the account); once the credentials are fixed, run with --refresh";

/// A token, with a spinner while it takes.
async fn fetch(client: &Client) -> Result<auth_core::Token, Failure> {
    let _spinner = Spinner::start("waiting for a token…");
    token(client).await
}

/// A token; a refusal remembered from an earlier try says so, and how to try again at once.
pub(crate) async fn token(client: &Client) -> Result<auth_core::Token, Failure> {
    told(client, client.token()).await
}

/// The outcome of `call` on `client`, a refusal the store remembered saying so.
async fn told<T>(
    client: &Client,
    call: impl Future<Output = Result<T, auth_core::Error>>,
) -> Result<T, Failure> {
    let before = client.cache().stats().rejections_served;
    call.await.map_err(|e| {
        let remembered = client.cache().stats().rejections_served > before;
        let failure = Failure::from(e);
        if remembered {
            failure.hint(REMEMBERED)
        } else {
            failure
        }
    })
}

/// `token --json`.
fn token_json(client: &Client, token: &auth_core::Token) -> Value {
    let details = client.details(token);
    json!({
        "vendor": client.vendor(),
        "token": token.access_token().expose_secret(),
        "token_type": token.token_type(),
        "expires_at": token.expires_at_system().map(output::rfc3339),
        "scope": token.scope(),
        "details": details,
    })
}

/// Lines on stdout, in each every character that could reorder or hide text escaped; a reader
/// that went away (`| head`) is not an error worth a panic.
fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    for line in text.split('\n') {
        let _ = writeln!(out, "{}", output::printable(line));
    }
    let _ = out.flush();
}
