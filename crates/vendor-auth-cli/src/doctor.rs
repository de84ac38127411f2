//! `vendor-auth doctor`: the setup checked step by step, one line per step, each failure with
//! what to do about it. It never prints a secret, nor the token.

use std::fmt::Display;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use auth_core::{ErrorKind, Token};
use auth_http::{is_loopback, parse_base_url};
use reqwest::Url;

use crate::config::Settings;
use crate::failure::{Failure, exit};
use crate::output::Spinner;
use crate::vendor::{Client, Vendor};
use auth_http::catalog::{Outcome, Trouble};

/// How long DNS, connecting and the TLS probe may each take.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// A clock further off the server's than this fails the clock step.
const MAX_SKEW: Duration = Duration::from_secs(300);

/// The lines printed so far and the exit status they add up to.
struct Report {
    status: u8,
}

impl Report {
    fn line(&self, mark: &str, step: &str, detail: &dyn Display) {
        let detail = crate::output::printable(&detail.to_string()).into_owned();
        let _ = writeln!(std::io::stdout(), "{mark} {step:<15} {detail}");
    }

    fn pass(&mut self, step: &str, detail: impl Display) {
        self.line("✔", step, &detail);
    }

    fn skip(&mut self, step: &str, detail: impl Display) {
        self.line("·", step, &detail);
    }

    fn fail(&mut self, step: &str, detail: impl Display, hint: Option<&str>, code: u8) {
        self.line("✘", step, &detail);
        if let Some(hint) = hint {
            let hint = crate::output::printable(hint);
            let _ = writeln!(std::io::stdout(), "  {:<15} hint: {hint}", "");
        }
        self.status = self.status.max(code);
    }

    /// A failed step from a crate error: its sentence (with its own hint), and `hint` when the
    /// error has none.
    fn fail_with(&mut self, step: &str, err: &auth_core::Error, hint: Option<&str>) {
        let code = crate::failure::code_of(err);
        let hint = if err.hint().is_some() { None } else { hint };
        self.fail(step, err, hint, code);
    }
}

/// Runs every check of `settings`' vendor; the exit status is 0 when all pass.
pub(crate) async fn run(settings: &Settings, refresh: bool) -> Result<u8, Failure> {
    let mut report = Report { status: 0 };
    let vendor = settings.vendor;
    let _ = writeln!(std::io::stdout(), "vendor-auth doctor {}", vendor.name());

    // The URL tokens are requested from.
    let url_key = vendor.url_key();
    let origin = settings.origin(url_key);
    let raw = match (settings.value(url_key), vendor.default_url()) {
        (Some(url), _) => url.to_owned(),
        (None, Some(default)) => default.to_owned(),
        (None, None) => {
            report.fail(
                "url",
                format_args!("{origin} is not set"),
                Some("set it in the environment, or in a profile (--profile NAME)"),
                exit::CONFIG,
            );
            return Ok(report.status);
        }
    };
    let base = match parse_base_url(vendor.name(), &origin, &raw) {
        Ok(url) => url,
        Err(e) => {
            report.fail_with("url", &e, None);
            return Ok(report.status);
        }
    };
    let token_url = vendor.token_url(settings, &base);
    match base.scheme() {
        "https" => report.pass("url", format_args!("{} (https)", shown(&base))),
        "http" if is_loopback(&base) => report.pass(
            "url",
            format_args!("{} (plain http, allowed to loopback only)", shown(&base)),
        ),
        _ => {
            report.fail(
                "url",
                format_args!(
                    "{} is plain http to a host that is not loopback: the credentials would cross the network in the clear",
                    shown(&base)
                ),
                Some("use https://"),
                exit::CONFIG,
            );
            return Ok(report.status);
        }
    }

    // Everything else the client needs (credentials, store).
    let client = match crate::client(settings, refresh).await {
        Ok(client) => client,
        Err(failure) => {
            report.fail(
                "settings",
                failure.to_string(),
                failure.hint_text(),
                failure.code(),
            );
            return Ok(report.status);
        }
    };
    let client = &client;
    report.pass("settings", settings_summary(settings));

    // The proxy, if the environment names one for this host: then DNS and TCP are checked on
    // the proxy, and TLS and HTTP through it (the vendor's host is resolved by the proxy).
    let http = client.http_client();
    let route = http.proxy_route(&token_url);
    let via: Option<Url> = route.as_ref().and_then(|r| r.url.parse().ok());
    match &route {
        Some(route) => report.pass("proxy", route),
        None if http.has_proxy_in_code() => report.pass("proxy", "set in code"),
        None => report.skip(
            "proxy",
            "none: direct (no HTTPS_PROXY, HTTP_PROXY or ALL_PROXY for this host, NO_PROXY names it, or --no-env-proxy)",
        ),
    }

    // DNS, TCP, TLS and HTTP on the token endpoint's host (or the proxy's).
    let target = via.as_ref().unwrap_or(&base);
    let host = target.host_str().unwrap_or_default().to_owned();
    let port = target.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> =
        match tokio::time::timeout(STEP_TIMEOUT, tokio::net::lookup_host((host.as_str(), port)))
            .await
        {
            Ok(Ok(addrs)) => addrs.collect(),
            Ok(Err(_)) | Err(_) => Vec::new(),
        };
    let Some(first) = addrs.first() else {
        report.fail(
            "dns",
            format_args!("{host} does not resolve"),
            Some(&format!("check the host name in {origin}")),
            exit::REFUSED,
        );
        return Ok(report.status);
    };
    report.pass(
        "dns",
        format_args!(
            "{host} is {}{}",
            first.ip(),
            match addrs.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            }
        ),
    );
    if !connect(&mut report, vendor, settings, &host, port, &addrs).await {
        return Ok(report.status);
    }
    let probe = probe(&mut report, client, settings, &base, &host).await;
    let Some(probe) = probe else {
        return Ok(report.status);
    };

    // The token endpoint and the credentials, in one token request (or none, when the shared
    // store already has a valid token: then no new session closes anyone else's).
    let before = client.cache().stats();
    let token = {
        let _spinner = Spinner::start("asking for a token…");
        client.token().await
    };
    let after = client.cache().stats();
    let adopted = after.store_adopted > before.store_adopted;
    let remembered = after.rejections_served > before.rejections_served;
    let token = match token {
        Ok(token) if adopted => {
            report.pass(
                "token endpoint",
                "not asked: the shared store already had a valid token",
            );
            report.pass(
                "credentials",
                "not sent again (the stored token is in use); --no-store checks them afresh",
            );
            token
        }
        Ok(token) => {
            report.pass(
                "token endpoint",
                format_args!("answered at {}", shown(&token_url)),
            );
            let lifetime = token.lifetime().map_or_else(
                || "no stated expiry".to_owned(),
                |l| format!("valid for {} s", l.as_secs()),
            );
            report.pass(
                "credentials",
                format_args!("accepted: a {} token, {lifetime}", token.token_type()),
            );
            token
        }
        Err(e) => {
            credentials_failed(&mut report, vendor, settings, &token_url, &e, remembered);
            clock(&mut report, probe.date);
            return Ok(report.status);
        }
    };
    clock(&mut report, probe.date);
    next_step(&mut report, client, settings, &token).await;

    let _ = writeln!(
        std::io::stdout(),
        "{}",
        if report.status == 0 {
            "all checks passed"
        } else {
            "some checks failed: see the hints above"
        }
    );
    Ok(report.status)
}

/// A URL as it can be shown: no user name, password, query or fragment.
fn shown(url: &Url) -> String {
    format!(
        "{}{}",
        url.origin().ascii_serialization(),
        url.path().trim_end_matches('/')
    )
}

fn settings_summary(settings: &Settings) -> String {
    let store = match &settings.store {
        crate::config::StoreSpec::Nowhere => "no store".to_owned(),
        crate::config::StoreSpec::DefaultFile => "the default file store".to_owned(),
        crate::config::StoreSpec::File(dir) => format!("the file store in {}", dir.display()),
        crate::config::StoreSpec::Redis(_) => "a Redis store".to_owned(),
    };
    let sealed = if settings.sealing_key.is_some() {
        ", sealed"
    } else {
        ""
    };
    format!("credentials found; tokens shared through {store}{sealed}")
}

/// Connects to one of `addrs`; false (after reporting) when none answers.
async fn connect(
    report: &mut Report,
    vendor: Vendor,
    settings: &Settings,
    host: &str,
    port: u16,
    addrs: &[SocketAddr],
) -> bool {
    let mut refused = false;
    for addr in addrs {
        match tokio::time::timeout(STEP_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_)) => {
                report.pass("tcp", format_args!("connected to {addr}"));
                return true;
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => refused = true,
            Ok(Err(_)) | Err(_) => {}
        }
    }
    let port_hint = vendor
        .hint(Trouble::PortRefused, settings)
        .unwrap_or("check the port in the URL");
    if refused {
        report.fail(
            "tcp",
            format_args!("{host}:{port} refused the connection: nothing listens there"),
            Some(port_hint),
            exit::REFUSED,
        );
    } else {
        report.fail(
            "tcp",
            format_args!(
                "no answer from {host}:{port} within {} s",
                STEP_TIMEOUT.as_secs()
            ),
            Some("a firewall drops the connection, or the host is reachable only through a VPN"),
            exit::REFUSED,
        );
    }
    false
}

/// What the probe of the host's root learned.
struct Probe {
    /// The server's `Date`.
    date: Option<SystemTime>,
}

/// `GET /` on the host with the client's own TLS settings: the TLS step and the HTTP step.
async fn probe(
    report: &mut Report,
    client: &Client,
    settings: &Settings,
    base: &Url,
    host: &str,
) -> Option<Probe> {
    let mut root = base.clone();
    root.set_path("/");
    root.set_query(None);
    let sent = tokio::time::timeout(STEP_TIMEOUT, client.reqwest_client().get(root).send()).await;
    let https = base.scheme() == "https";
    let response = match sent {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => {
            let (what, hint) = if https {
                tls_failure(&e, host)
            } else {
                (
                    format!("{host} did not answer HTTP"),
                    "check that the URL's port is the vendor's HTTP port".to_owned(),
                )
            };
            report.fail(
                if https { "tls" } else { "http" },
                what,
                Some(&hint),
                exit::REFUSED,
            );
            return None;
        }
        Err(_) => {
            report.fail(
                if https { "tls" } else { "http" },
                format_args!("{host} did not answer within {} s", STEP_TIMEOUT.as_secs()),
                Some("the server accepts connections but does not answer: check the port"),
                exit::REFUSED,
            );
            return None;
        }
    };
    if !https {
        report.skip("tls", "plain http (loopback): no TLS");
    } else if settings.insecure {
        report.pass(
            "tls",
            "handshake done; the certificate was NOT checked (--insecure)",
        );
    } else {
        report.pass("tls", format_args!("the certificate is valid for {host}"));
    }
    let version = response.version();
    let protocol = format!("{version:?}");
    let note = settings.vendor.http_note(version).unwrap_or_default();
    report.pass("http", format_args!("{protocol}{note}"));
    let date = response
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|d| d.to_str().ok())
        .and_then(|d| httpdate::parse_http_date(d).ok());
    Some(Probe { date })
}

/// What a failed TLS connection means, and what to do about it.
fn tls_failure(err: &reqwest::Error, host: &str) -> (String, String) {
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(cause) = source {
        chain.push_str(&cause.to_string().to_ascii_lowercase());
        chain.push(' ');
        source = cause.source();
    }
    let has = |needles: &[&str]| needles.iter().any(|n| chain.contains(n));
    if has(&[
        "unknownissuer",
        "self signed",
        "self-signed",
        "unknown ca",
        "local issuer",
    ]) {
        (
            format!("the certificate of {host} is self-signed or from an unknown authority"),
            "on a play or test tenant, trust its certificate with --ca-file FILE, or skip the check with --insecure (never for production)".to_owned(),
        )
    } else if has(&["expired", "notvalidyet", "not valid yet"]) {
        (
            format!("the certificate of {host} has expired (or is not valid yet)"),
            "the server's certificate must be renewed (check this machine's clock too); --insecure skips the check on a test tenant only".to_owned(),
        )
    } else if has(&[
        "notvalidforname",
        "not valid for",
        "hostname",
        "name mismatch",
    ]) {
        (
            format!("the certificate is not for {host}"),
            "use the host name the certificate was issued for".to_owned(),
        )
    } else if has(&[
        "wrong version number",
        "corrupt message",
        "invalidcontenttype",
        "record overflow",
        "invalid message",
    ]) {
        (
            format!("{host} does not speak TLS on this port"),
            "use http:// for a local plain-HTTP server, or check the port".to_owned(),
        )
    } else {
        (
            format!("the TLS handshake with {host} failed"),
            "run with -v for the cause".to_owned(),
        )
    }
}

/// Reports a failed token request: the endpoint step or the credentials step, by what failed.
fn credentials_failed(
    report: &mut Report,
    vendor: Vendor,
    settings: &Settings,
    token_url: &Url,
    err: &auth_core::Error,
    remembered: bool,
) {
    if remembered {
        report.pass(
            "token endpoint",
            "not asked: a refusal of these credentials is remembered in the shared store",
        );
        report.fail("credentials", err, Some(crate::REMEMBERED), exit::REFUSED);
        return;
    }
    match err.kind() {
        ErrorKind::UnexpectedStatus {
            status: 404 | 405, ..
        } => {
            let hint = vendor.hint(Trouble::NoTokenEndpoint, settings);
            report.fail(
                "token endpoint",
                format_args!(
                    "no token endpoint at {} (it answered {})",
                    shown(token_url),
                    match err.kind() {
                        ErrorKind::UnexpectedStatus { status, .. } => *status,
                        _ => 0,
                    }
                ),
                hint,
                exit::REFUSED,
            );
        }
        ErrorKind::Transport { .. } | ErrorKind::Timeout { .. } | ErrorKind::Throttled { .. } => {
            report.fail_with("token endpoint", err, None);
        }
        ErrorKind::UnexpectedStatus { .. } | ErrorKind::MalformedResponse { .. } => {
            report.fail_with(
                "token endpoint",
                err,
                Some("the URL answers, but not as a token endpoint: check the base URL"),
            );
        }
        _ => {
            report.pass(
                "token endpoint",
                format_args!("answered at {}", shown(token_url)),
            );
            let hint = vendor.hint(Trouble::CredentialsRefused, settings);
            report.fail_with("credentials", err, hint);
        }
    }
}

/// Compares our clock with the server's `Date`.
fn clock(report: &mut Report, date: Option<SystemTime>) {
    let Some(server) = date else {
        report.skip("clock", "the server sent no Date header: not compared");
        return;
    };
    let now = SystemTime::now();
    let (skew, ours) = match now.duration_since(server) {
        Ok(ahead) => (ahead, "ahead of"),
        Err(e) => (e.duration(), "behind"),
    };
    // Date has a resolution of one second.
    if skew <= MAX_SKEW {
        report.pass(
            "clock",
            format_args!("within {} s of the server's", skew.as_secs().max(1)),
        );
    } else {
        report.fail(
            "clock",
            format_args!(
                "this machine's clock is {} s {ours} the server's",
                skew.as_secs()
            ),
            Some("synchronise the clock (NTP): expiry dates would be misread"),
            exit::REFUSED,
        );
    }
}

/// The vendor's own next steps after a token.
async fn next_step(report: &mut Report, client: &Client, settings: &Settings, token: &Token) {
    for check in client.checks(token, settings).await {
        match check.outcome {
            Outcome::Passed(what) => report.pass(check.step, what),
            Outcome::Skipped(why) => report.skip(check.step, why),
            Outcome::Failed { what, hint, config } => report.fail(
                check.step,
                what,
                hint.as_deref(),
                if config { exit::CONFIG } else { exit::REFUSED },
            ),
            _ => report.skip(check.step, "a check this tool does not know"),
        }
    }
}
