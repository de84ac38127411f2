//! The `auth-sandbox` binary: starts a sandbox, sets it up from its flags (each vendor's own,
//! from the one list of vendors), prints where it listens, its demo accounts and the
//! environment a vendor crate's `from_env()` reads for them, and runs until interrupted.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};

use crate::{Endpoint, Fault, STATS_PATH, Sandbox, VENDORS};

/// Prints a line; a closed stdout (the reader went away) is not worth dying for.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// The binary's command line: the sandbox's own flags, then each vendor's.
fn command() -> Command {
    let endpoints: Vec<&str> = Endpoint::all().into_iter().map(Endpoint::name).collect();
    let mut command = Command::new("auth-sandbox")
        .about("A local, stateful stand-in for the vendors' token services.")
        .after_help(format!(
            "With no account flag it starts with a demo account of each kind, and prints the \
             environment the vendor crates' from_env() read for them.\n\
             ENDPOINT: {}.\n\
             FAULT: a status (503), 429/SECS (throttle with Retry-After), malformed, \
             oversize/BYTES, server_error, temporarily_unavailable.\n\
             Counters: GET {STATS_PATH} (JSON).",
            endpoints.join(", ")
        ))
        .arg(
            Arg::new("port")
                .long("port")
                .value_name("N")
                .value_parser(value_parser!(u16))
                .default_value("0")
                .help("the loopback port to listen on (0: any free one)"),
        )
        .arg(
            Arg::new("lifetime")
                .long("lifetime")
                .value_name("SECS")
                .value_parser(value_parser!(u64))
                .help("the lifetime of every token issued"),
        )
        .arg(
            Arg::new("latency")
                .long("latency")
                .value_name("ENDPOINT:MILLIS")
                .action(ArgAction::Append)
                .help("delays every answer of ENDPOINT"),
        )
        .arg(
            Arg::new("fail")
                .long("fail")
                .value_name("ENDPOINT:FAULT[:COUNT]")
                .action(ArgAction::Append)
                .help("the next COUNT (default 1) answers of ENDPOINT are FAULT"),
        );
    for flag in VENDORS.iter().flat_map(|v| v.flags) {
        let arg = Arg::new(flag.name).long(flag.name).help(flag.help);
        command = command.arg(match flag.value {
            Some(value) => arg.value_name(value).action(ArgAction::Append),
            None => arg.action(ArgAction::SetTrue),
        });
    }
    command
}

/// Runs the binary with `args` (its name first, as `std::env::args` gives them).
pub async fn main(args: impl IntoIterator<Item = String>) -> ExitCode {
    let matches = match command().try_get_matches_from(args) {
        Ok(matches) => matches,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(&matches).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("auth-sandbox: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(matches: &ArgMatches) -> Result<(), String> {
    let port = matches.get_one::<u16>("port").copied().unwrap_or(0);
    let sandbox = Sandbox::start_on(port)
        .await
        .map_err(|e| format!("cannot listen: {e}"))?;
    if let Some(secs) = matches.get_one::<u64>("lifetime") {
        sandbox.set_token_lifetime(Duration::from_secs(*secs));
    }
    let demo = !VENDORS
        .iter()
        .flat_map(|v| v.flags)
        .any(|f| f.account && matches.contains_id(f.name) && given(matches, f.name));
    let mut notes = Vec::new();
    for vendor in VENDORS {
        if demo {
            for (name, value) in vendor.demo {
                let flag = vendor
                    .flags
                    .iter()
                    .find(|f| f.name == *name)
                    .ok_or(format!("no flag --{name}"))?;
                notes.extend((flag.apply)(&sandbox, value)?);
            }
        }
        for flag in vendor.flags {
            match flag.value {
                Some(_) => {
                    for value in matches.get_many::<String>(flag.name).into_iter().flatten() {
                        notes.extend((flag.apply)(&sandbox, value)?);
                    }
                }
                None if matches.get_flag(flag.name) => notes.extend((flag.apply)(&sandbox, "")?),
                None => {}
            }
        }
    }
    for value in matches.get_many::<String>("latency").into_iter().flatten() {
        let (endpoint, millis) = value
            .split_once(':')
            .ok_or("--latency needs ENDPOINT:MILLIS")?;
        let millis: u64 = millis.parse().map_err(|_| "--latency needs milliseconds")?;
        sandbox.set_latency(endpoint_named(endpoint)?, Duration::from_millis(millis));
    }
    for value in matches.get_many::<String>("fail").into_iter().flatten() {
        let (endpoint, rest) = value
            .split_once(':')
            .ok_or("--fail needs ENDPOINT:FAULT[:COUNT]")?;
        // FAULT uses '/' for its own parameter (429/SECS), ':' only before COUNT.
        let (fault_text, count) = match rest.split_once(':') {
            Some((f, n)) => (f, n.parse::<usize>().map_err(|_| "COUNT must be a number")?),
            None => (rest, 1),
        };
        let fault = Fault::parse(&fault_text.replace('/', ":"))
            .ok_or(format!("unknown fault {fault_text}"))?;
        sandbox.fail_next(endpoint_named(endpoint)?, std::iter::repeat_n(fault, count));
    }
    say!("auth-sandbox listening on {}", sandbox.url());
    for vendor in VENDORS {
        let (label, url) = (vendor.location)(&sandbox);
        say!("  {:<22} {url}", format!("{label}:"));
    }
    say!("  {:<22} {}{STATS_PATH}", "counters (JSON):", sandbox.url());
    for note in notes {
        say!("{note}");
    }
    if demo {
        let accounts: Vec<&str> = VENDORS.iter().map(|v| v.demo_text).collect();
        say!("demo accounts: {}", accounts.join("; "));
        say!("their environment, as the vendor crates' from_env() read it:");
        for vendor in VENDORS {
            for (name, value) in (vendor.demo_env)(&sandbox) {
                say!("export {name}={value}");
            }
        }
    }
    say!("Ctrl-C stops it.");
    let _ = std::io::Write::flush(&mut std::io::stdout());
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    Ok(())
}

/// Whether the flag `name` was given on the command line (a switch counts when set).
fn given(matches: &ArgMatches, name: &str) -> bool {
    matches
        .value_source(name)
        .is_some_and(|s| s == clap::parser::ValueSource::CommandLine)
}

fn endpoint_named(name: &str) -> Result<Endpoint, String> {
    Endpoint::from_name(name).ok_or(format!("unknown endpoint {name}"))
}
