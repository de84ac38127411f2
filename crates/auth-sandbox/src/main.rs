//! `auth-sandbox`: runs the local stand-in for the four token services until interrupted.
//!
//! ```text
//! auth-sandbox [--port N] [--xml] [--lifetime SECS]
//!              [--p21-user NAME:PASSWORD] [--p21-consumer-key KEY:SCOPE]
//!              [--personify-client ID:SECRET:SCOPES:TENANT]
//!              [--apinizer-user NAME:PASSWORD] [--apinizer-personal-token]
//!              [--bydesign-client COMPANY:CLIENT_ID]
//!              [--bydesign-rep COMPANY:ID:PASSWORD] [--bydesign-customer COMPANY:ID:PASSWORD]
//! ```
//! With no account flags it starts with a demo account of each kind. SCOPES are separated by
//! commas.

use std::process::ExitCode;
use std::time::Duration;

use auth_sandbox::Sandbox;

const USAGE: &str = "usage: auth-sandbox [--port N] [--xml] [--lifetime SECS]
         [--p21-user NAME:PASSWORD] [--p21-consumer-key KEY:SCOPE]
         [--personify-client ID:SECRET:SCOPES:TENANT]
         [--apinizer-user NAME:PASSWORD] [--apinizer-personal-token]
         [--bydesign-client COMPANY:CLIENT_ID]
         [--bydesign-rep COMPANY:ID:PASSWORD] [--bydesign-customer COMPANY:ID:PASSWORD]
With no account flags it starts with a demo account of each kind; SCOPES are comma-separated.";

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
            "--xml" | "--apinizer-personal-token" => setup.push((flag, None)),
            "-h" | "--help" => {
                println!("{USAGE}");
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
                println!(
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
            "--bydesign-customer" => {
                let [company, id, pw] = split(&flag, value)?;
                sandbox.bydesign().add_customer(&company, &id, &pw);
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    println!("auth-sandbox listening on {}", sandbox.url());
    println!("  P21 base URL:          {}", sandbox.p21_base_url());
    println!("  Personify token URL:   {}", sandbox.personify_token_url());
    println!("  Apinizer base URL:     {}", sandbox.apinizer_base_url());
    println!(
        "  ByDesign base URL:     {}",
        sandbox.bydesign_base_url("<Company>")
    );
    if demo {
        println!(
            "demo accounts: P21 api_user / sandbox-password, consumer key 11111111-2222-3333-4444-555555555555;"
        );
        println!(
            "  Personify sandbox-client / sandbox-secret (tenant sandbox-tenant); Apinizer admin / sandbox-password;"
        );
        println!(
            "  ByDesign company SandboxCo, client SandboxCart, rep 1001 and customer 1146820 / sandbox-password"
        );
    }
    println!("Ctrl-C stops it.");
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    Ok(())
}
