//! `auth-sandbox`: runs the local stand-in for the four token services until interrupted.
//!
//! ```text
//! auth-sandbox [--port N] [--xml] [--lifetime SECS]
//!              [--p21-user NAME:PASSWORD] [--p21-consumer-key KEY:SCOPE]
//!              [--personify-client ID:SECRET:SCOPES:TENANT]
//!              [--apinizer-user NAME:PASSWORD] [--apinizer-personal-token]
//!              [--bydesign-client COMPANY:CLIENT_ID]
//!              [--bydesign-rep COMPANY:ID:PASSWORD] [--bydesign-customer COMPANY:ID:PASSWORD]
//!              [--bydesign-one-refresh-token]
//!              [--latency ENDPOINT:MILLIS] [--fail ENDPOINT:FAULT[:COUNT]]
//! ```
//! With no account flags it starts with a demo account of each kind. SCOPES are separated by
//! commas. Its counters are served as JSON at `GET /_sandbox/stats`.

use std::process::ExitCode;
use std::time::Duration;

use auth_sandbox::{Endpoint, Fault, Sandbox};

const USAGE: &str = "usage: auth-sandbox [--port N] [--xml] [--lifetime SECS]
         [--p21-user NAME:PASSWORD] [--p21-consumer-key KEY:SCOPE]
         [--personify-client ID:SECRET:SCOPES:TENANT]
         [--apinizer-user NAME:PASSWORD] [--apinizer-personal-token]
         [--bydesign-client COMPANY:CLIENT_ID]
         [--bydesign-rep COMPANY:ID:PASSWORD] [--bydesign-customer COMPANY:ID:PASSWORD]
         [--bydesign-one-refresh-token]
         [--latency ENDPOINT:MILLIS] [--fail ENDPOINT:FAULT[:COUNT]]
With no account flags it starts with a demo account of each kind; SCOPES are comma-separated.
--bydesign-one-refresh-token keeps one live refresh token per user and client (issuing one
  revokes the others). Counters: GET /_sandbox/stats (JSON).
ENDPOINT: p21-token, p21-token-v1, p21-ui-router, p21-api, personify-token, personify-api,
  apinizer-token, apinizer-hello, apinizer-healthcheck, apinizer-api, bydesign-token, bydesign-api.
FAULT: a status (503), 429/SECS (throttle with Retry-After), malformed, oversize/BYTES.";

/// Prints a line; a closed stdout (the reader went away) is not worth dying for.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("auth-sandbox: {e}");
            ExitCode::from(2)
        }
    }
}

fn split<const N: usize>(flag: &str, value: Option<String>) -> Result<[String; N], String> {
    let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
    let parts: Vec<String> = value.splitn(N, ':').map(str::to_owned).collect();
    parts
        .try_into()
        .map_err(|_| format!("{flag} takes {N} parts separated by ':'"))
}

async fn run(args: Vec<String>) -> Result<(), String> {
    let mut port = 0u16;
    let mut setup: Vec<(String, Option<String>)> = Vec::new();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .ok_or("--port needs a number")?;
            }
            "--xml" | "--apinizer-personal-token" | "--bydesign-one-refresh-token" => {
                setup.push((flag, None));
            }
            "-h" | "--help" => {
                say!("{USAGE}");
                return Ok(());
            }
            _ if flag.starts_with("--") => setup.push((flag, args.next())),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let sandbox = Sandbox::start_on(port)
        .await
        .map_err(|e| format!("cannot listen: {e}"))?;
    let demo = !setup.iter().any(|(f, _)| {
        f.contains("user")
            || f.contains("key")
            || f.contains("client")
            || f.contains("rep")
            || f.contains("customer")
    });
    if demo {
        setup.extend(
            [
                ("--p21-user", "api_user:sandbox-password"),
                (
                    "--p21-consumer-key",
                    "11111111-2222-3333-4444-555555555555:/api;/p21sdk",
                ),
                (
                    "--personify-client",
                    "sandbox-client:sandbox-secret:idp_api:sandbox-tenant",
                ),
                ("--apinizer-user", "admin:sandbox-password"),
                ("--bydesign-client", "SandboxCo:SandboxCart"),
                ("--bydesign-rep", "SandboxCo:1001:sandbox-password"),
                ("--bydesign-customer", "SandboxCo:1146820:sandbox-password"),
            ]
            .map(|(f, v)| (f.to_owned(), Some(v.to_owned()))),
        );
        setup.push(("--apinizer-personal-token".into(), None));
    }
    for (flag, value) in setup {
        match flag.as_str() {
            "--xml" => sandbox.p21().answer_in_xml(true),
            "--bydesign-one-refresh-token" => sandbox.bydesign().one_refresh_token_per_client(true),
            "--lifetime" => {
                let secs: u64 = value
                    .and_then(|v| v.parse().ok())
                    .ok_or("--lifetime needs seconds")?;
                let l = Duration::from_secs(secs);
                sandbox.p21().set_token_lifetime(l);
                sandbox.personify().set_token_lifetime(l);
                sandbox.apinizer().set_token_lifetime(l);
                sandbox.bydesign().set_token_lifetime(l);
            }
            "--p21-user" => {
                let [name, pw] = split(&flag, value)?;
                sandbox.p21().add_user(&name, &pw);
            }
            "--p21-consumer-key" => {
                let [key, scope] = split(&flag, value)?;
                sandbox.p21().add_consumer_key(&key, &scope);
            }
            "--personify-client" => {
                let [id, secret, scopes, tenant] = split(&flag, value)?;
                let scopes: Vec<&str> = scopes.split(',').collect();
                sandbox
                    .personify()
                    .add_client(&id, &secret, &scopes, &[&tenant]);
            }
            "--apinizer-user" => {
                let [name, pw] = split(&flag, value)?;
                sandbox.apinizer().add_user(&name, &pw);
            }
            "--apinizer-personal-token" => {
                say!(
                    "apinizer personal token: {}",
                    sandbox.apinizer().create_personal_token(None)
                );
            }
            "--bydesign-client" => {
                let [company, client] = split(&flag, value)?;
                sandbox.bydesign().add_company(&company, &[&client]);
            }
            "--bydesign-rep" => {
                let [company, id, pw] = split(&flag, value)?;
                sandbox.bydesign().add_rep(&company, &id, &pw);
            }
            "--latency" => {
                let [endpoint, millis] = split(&flag, value)?;
                let endpoint =
                    Endpoint::from_name(&endpoint).ok_or(format!("unknown endpoint {endpoint}"))?;
                let millis: u64 = millis.parse().map_err(|_| "--latency needs milliseconds")?;
                sandbox.set_latency(endpoint, Duration::from_millis(millis));
            }
            "--fail" => {
                let value = value.ok_or("--fail needs ENDPOINT:FAULT[:COUNT]")?;
                let (endpoint, rest) = value
                    .split_once(':')
                    .ok_or("--fail needs ENDPOINT:FAULT[:COUNT]")?;
                let endpoint =
                    Endpoint::from_name(endpoint).ok_or(format!("unknown endpoint {endpoint}"))?;
                // FAULT uses '/' for its own parameter (429/SECS), ':' only before COUNT.
                let (fault_text, count) = match rest.split_once(':') {
                    Some((f, n)) => (f, n.parse::<usize>().map_err(|_| "COUNT must be a number")?),
                    None => (rest, 1),
                };
                let fault = Fault::parse(&fault_text.replace('/', ":"))
                    .ok_or(format!("unknown fault {fault_text}"))?;
                sandbox.fail_next(endpoint, std::iter::repeat_n(fault, count));
            }
            "--bydesign-customer" => {
                let [company, id, pw] = split(&flag, value)?;
                sandbox.bydesign().add_customer(&company, &id, &pw);
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    say!("auth-sandbox listening on {}", sandbox.url());
    say!("  P21 base URL:          {}", sandbox.p21_base_url());
    say!("  Personify token URL:   {}", sandbox.personify_token_url());
    say!("  Apinizer base URL:     {}", sandbox.apinizer_base_url());
    say!(
        "  ByDesign base URL:     {}",
        sandbox.bydesign_base_url("<Company>")
    );
    if demo {
        say!(
            "demo accounts: P21 api_user / sandbox-password, consumer key 11111111-2222-3333-4444-555555555555;"
        );
        say!(
            "  Personify sandbox-client / sandbox-secret (tenant sandbox-tenant); Apinizer admin / sandbox-password;"
        );
        say!(
            "  ByDesign company SandboxCo, client SandboxCart, rep 1001 and customer 1146820 / sandbox-password"
        );
    }
    say!(
        "  counters (JSON):       {}{}",
        sandbox.url(),
        auth_sandbox::STATS_PATH
    );
    say!("Ctrl-C stops it.");
    let _ = std::io::Write::flush(&mut std::io::stdout());
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    Ok(())
}
