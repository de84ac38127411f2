//! `vendor-auth` run as a program against the sandbox: what it prints for each vendor, one
//! token request for many runs through the store, the doctor's verdicts, exit statuses, and no
//! secret anywhere it should not be.

use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;
use auth_sandbox::{Endpoint, Sandbox};
use auth_testkit::{TlsServer, http_reply};

const PASSWORD: &str = "pw-Zq8-unguessable";
const SECRET: &str = "personify-secret-Kx7";
const SEALING_KEY: &str = "8f1e0d2c3b4a59687766554433221100ffeeddccbbaa99887766554433221100";

/// A sandbox with an account of each kind, on a runtime of its own, and a private home
/// directory (store, config) for the runs of one test.
struct World {
    sandbox: Sandbox,
    home: PathBuf,
    _runtime: tokio::runtime::Runtime,
}

impl World {
    fn new(name: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let sandbox = runtime.block_on(Sandbox::start()).expect("sandbox");
        sandbox.p21().add_user("api_user", PASSWORD);
        let _ = sandbox
            .p21()
            .add_user("no_perms", PASSWORD)
            .without_api_permission();
        sandbox
            .personify()
            .add_client("members-app", SECRET, &["idp_api"], &["acme"]);
        sandbox.apinizer().add_user("admin", PASSWORD);
        sandbox
            .bydesign()
            .add_company("SandboxCo", &["SandboxCart"]);
        sandbox.bydesign().add_rep("SandboxCo", "1001", PASSWORD);
        let home =
            std::env::temp_dir().join(format!("vendor-auth-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).expect("home");
        Self {
            sandbox,
            home,
            _runtime: runtime,
        }
    }

    /// `vendor-auth` with only this world's settings in its environment.
    fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vendor-auth"));
        cmd.env_clear()
            .env("HOME", &self.home)
            .env("XDG_CACHE_HOME", self.home.join("cache"))
            .env("XDG_CONFIG_HOME", self.home.join("config"))
            .timeout(std::time::Duration::from_secs(60));
        cmd
    }

    /// `vendor-auth` configured for `vendor` through its environment variables.
    fn vendor(&self, vendor: &str) -> Command {
        let mut cmd = self.cmd();
        for (k, v) in self.vars(vendor) {
            cmd.env(k, v);
        }
        cmd
    }

    fn vars(&self, vendor: &str) -> Vec<(&'static str, String)> {
        let s = &self.sandbox;
        match vendor {
            "p21" => vec![
                ("P21_BASE_URL", s.p21_base_url()),
                ("P21_USERNAME", "api_user".into()),
                ("P21_PASSWORD", PASSWORD.into()),
            ],
            "personify" => vec![
                ("PERSONIFY_TOKEN_URL", s.personify_token_url()),
                ("PERSONIFY_CLIENT_ID", "members-app".into()),
                ("PERSONIFY_CLIENT_SECRET", SECRET.into()),
                ("PERSONIFY_SCOPE", "idp_api".into()),
                ("PERSONIFY_TENANT_ID", "acme".into()),
                ("PERSONIFY_API_BASE_URL", s.personify_api_url("")),
            ],
            "apinizer" => vec![
                ("APINIZER_BASE_URL", s.apinizer_base_url()),
                ("APINIZER_USERNAME", "admin".into()),
                ("APINIZER_PASSWORD", PASSWORD.into()),
            ],
            "bydesign" => vec![
                ("BYDESIGN_BASE_URL", s.bydesign_base_url("SandboxCo")),
                ("BYDESIGN_CLIENT_ID", "SandboxCart".into()),
                ("BYDESIGN_REP_ID", "1001".into()),
                ("BYDESIGN_PASSWORD", PASSWORD.into()),
            ],
            other => panic!("no vendor {other}"),
        }
    }

    fn token_requests(&self, endpoint: Endpoint) -> u64 {
        self.sandbox.stats().requests(endpoint)
    }

    fn store_files(&self) -> Vec<PathBuf> {
        let dir = self.home.join("cache").join("vendor-auth");
        std::fs::read_dir(&dir)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `cmd`, expecting exit status `code`; returns stdout and stderr.
fn run(cmd: &mut Command, code: i32) -> (String, String) {
    let out: Output = cmd.output().expect("runs");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit status\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

fn assert_no_secret(texts: &[&str]) {
    for text in texts {
        for secret in [PASSWORD, SECRET, SEALING_KEY] {
            assert!(!text.contains(secret), "a secret leaked into:\n{text}");
        }
    }
}

#[test]
fn every_vendor_prints_its_token_and_nothing_else() {
    let world = World::new("token");
    for (vendor, endpoint) in [
        ("p21", Endpoint::P21TokenV2),
        ("personify", Endpoint::PersonifyToken),
        ("apinizer", Endpoint::ApinizerToken),
        ("bydesign", Endpoint::ByDesignToken),
    ] {
        let (stdout, stderr) = run(world.vendor(vendor).args(["token", vendor]), 0);
        let token = stdout.strip_suffix('\n').expect("ends with a newline");
        assert!(
            !token.is_empty() && !token.contains(char::is_whitespace),
            "{vendor}: {stdout:?}"
        );
        assert_eq!(stderr, "", "{vendor}");
        assert_no_secret(&[&stdout, &stderr]);
        assert_eq!(world.token_requests(endpoint), 1, "{vendor}");

        // The same token (from the store) as a header and as JSON.
        let (header, _) = run(world.vendor(vendor).args(["token", vendor, "--header"]), 0);
        let mut lines = header.lines();
        assert_eq!(
            lines.next(),
            Some(format!("Authorization: Bearer {token}").as_str())
        );
        if vendor == "personify" {
            assert_eq!(lines.next(), Some("X-Tenant-Id: acme"));
        }
        assert_eq!(lines.next(), None, "{header}");

        let (json, _) = run(world.vendor(vendor).args(["token", vendor, "--json"]), 0);
        assert_eq!(json.lines().count(), 1);
        let json: serde_json::Value = serde_json::from_str(&json).expect("one JSON object");
        assert_eq!(json["token"], token);
        assert_eq!(json["vendor"], vendor);
        assert!(
            json["token_type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
        );
        let expires = json["expires_at"].as_str().expect("an expiry");
        assert!(
            expires.len() == 20 && expires.ends_with('Z') && expires.as_bytes()[10] == b'T',
            "RFC 3339: {expires}"
        );
        match vendor {
            "p21" => assert!(json["details"]["session_id"].is_string(), "{json}"),
            "bydesign" => {
                assert_eq!(json["details"]["user_type"], "rep");
                assert_eq!(json["details"]["user_name"], "-->r_1001");
            }
            "personify" => {
                assert_eq!(json["details"]["tenant_id"], "acme");
                assert_eq!(json["scope"], "idp_api");
            }
            _ => {}
        }
        assert_eq!(
            world.token_requests(endpoint),
            1,
            "{vendor}: one request for three runs"
        );
    }
}

#[test]
fn sequential_and_concurrent_runs_make_one_token_request() {
    let world = World::new("share");
    for _ in 0..2 {
        run(world.vendor("p21").args(["token", "p21"]), 0);
    }
    assert_eq!(world.token_requests(Endpoint::P21TokenV2), 1);

    // Eight started at once on another credential (a rep of ByDesign): one request.
    let children: Vec<_> = (0..8)
        .map(|_| {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vendor-auth"));
            cmd.env_clear()
                .env("HOME", &world.home)
                .env("XDG_CACHE_HOME", world.home.join("cache"))
                .args(["token", "bydesign"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            for (k, v) in world.vars("bydesign") {
                cmd.env(k, v);
            }
            cmd.spawn().expect("spawn")
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait"))
        .collect();
    for out in &outputs {
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let first = text(&outputs[0].stdout);
    assert!(
        outputs.iter().all(|o| text(&o.stdout) == first),
        "all print the same token"
    );
    assert_eq!(world.token_requests(Endpoint::ByDesignToken), 1);

    // --no-store is a one-off: it neither reads nor keeps the shared token.
    run(world.vendor("p21").args(["token", "p21", "--no-store"]), 0);
    assert_eq!(world.token_requests(Endpoint::P21TokenV2), 2);
}

#[test]
fn the_doctor_passes_a_good_setup_of_every_vendor() {
    let world = World::new("doctor-ok");
    for vendor in ["p21", "personify", "apinizer", "bydesign"] {
        let (stdout, stderr) = run(world.vendor(vendor).args(["doctor", vendor]), 0);
        assert!(stdout.contains("all checks passed"), "{stdout}");
        assert!(!stdout.contains('✘'), "{stdout}");
        for step in [
            "url",
            "dns",
            "tcp",
            "token endpoint",
            "credentials",
            "clock",
        ] {
            assert!(
                stdout
                    .lines()
                    .any(|l| l.starts_with('✔') && step_name(l) == Some(step)),
                "{vendor}: no passed {step} step:\n{stdout}"
            );
        }
        let next = match vendor {
            "p21" => "odata",
            "personify" => "tenant",
            "apinizer" => "hello",
            _ => "user",
        };
        assert!(stdout.contains(&format!("✔ {next}")), "{vendor}:\n{stdout}");
        assert_no_secret(&[&stdout, &stderr]);
        // The token itself is not shown either.
        let (token, _) = run(world.vendor(vendor).args(["token", vendor]), 0);
        assert!(
            !stdout.contains(token.trim()),
            "{vendor}: the doctor showed the token"
        );
    }
}

/// The name of the step a doctor's report line is about (`✔ token endpoint  …`).
fn step_name(line: &str) -> Option<&str> {
    let (mark, rest) = line.split_once(' ')?;
    ["✔", "✘", "·"]
        .contains(&mark)
        .then(|| rest.get(..15).unwrap_or(rest).trim_end())
}

/// The line of `step` in a doctor's report, and the hint line after it.
fn step<'a>(report: &'a str, step: &str) -> (&'a str, &'a str) {
    let lines: Vec<&str> = report.lines().collect();
    let at = lines
        .iter()
        .position(|l| step_name(l) == Some(step))
        .unwrap_or_else(|| panic!("no {step} step in:\n{report}"));
    let hint = lines
        .get(at + 1)
        .filter(|l| l.trim_start().starts_with("hint:"));
    (lines[at], hint.copied().unwrap_or(""))
}

#[test]
fn the_doctor_names_the_failing_step_and_what_to_do() {
    let world = World::new("doctor-fail");

    // A wrong base URL path: the token endpoint step.
    let (out, _) = run(
        world
            .vendor("p21")
            .env("P21_BASE_URL", format!("{}/erp", world.sandbox.url()))
            .args(["doctor", "p21", "--no-store"]),
        1,
    );
    let (line, hint) = step(&out, "token endpoint");
    assert!(line.starts_with('✘'), "{out}");
    assert!(hint.contains("API host, not the UI host"), "{out}");

    // A wrong password: the endpoint answered, the credentials step failed.
    let (out, err) = run(
        world
            .vendor("p21")
            .env("P21_PASSWORD", "n0t-Th3-pw!")
            .args(["doctor", "p21", "--no-store"]),
        1,
    );
    assert!(step(&out, "token endpoint").0.starts_with('✔'), "{out}");
    let (line, hint) = step(&out, "credentials");
    assert!(
        line.starts_with('✘') && line.contains("user name or password"),
        "{out}"
    );
    assert!(!hint.is_empty(), "{out}");
    assert!(!out.contains("n0t-Th3-pw!") && !err.contains("n0t-Th3-pw!"));

    // Valid credentials of a user without API permissions: the OData step, with the checklist.
    let (out, _) = run(
        world
            .vendor("p21")
            .env("P21_USERNAME", "no_perms")
            .args(["doctor", "p21"]),
        1,
    );
    assert!(step(&out, "credentials").0.starts_with('✔'), "{out}");
    let (line, hint) = step(&out, "odata");
    assert!(
        line.starts_with('✘') && line.contains("not authorized"),
        "{out}"
    );
    assert!(
        hint.contains("Application Security") && hint.contains("Dataservice"),
        "{out}"
    );

    // A personify client without a tenant: the tenant step.
    let (out, _) = run(
        world
            .vendor("personify")
            .env_remove("PERSONIFY_TENANT_ID")
            .args(["doctor", "personify"]),
        2,
    );
    assert!(
        step(&out, "tenant").1.contains("PERSONIFY_TENANT_ID"),
        "{out}"
    );

    // A host with nothing listening: the TCP step.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let (out, _) = run(
        world
            .vendor("apinizer")
            .env("APINIZER_BASE_URL", format!("http://127.0.0.1:{port}"))
            .args(["doctor", "apinizer"]),
        1,
    );
    assert!(step(&out, "tcp").0.contains("refused"), "{out}");

    // A plain-http URL to a host that is not loopback: the URL step, a configuration error.
    let (out, _) = run(
        world
            .vendor("p21")
            .env("P21_BASE_URL", "http://p21.example.com")
            .args(["doctor", "p21"]),
        2,
    );
    assert!(step(&out, "url").0.starts_with('✘'), "{out}");
}

/// An https server on localhost with a self-signed certificate, answering 404 to every request.
fn self_signed_server(runtime: &tokio::runtime::Runtime) -> TlsServer {
    let reply = http_reply("404 Not Found", None);
    runtime
        .block_on(TlsServer::self_signed(&["localhost"], reply))
        .0
}

/// A certificate authority (its PEM, for `--ca-file`) and a certificate for localhost it
/// signed, valid now or expired since 2021, with its key.
fn ca_and_leaf(
    expired: bool,
) -> (
    String,
    tokio_rustls::rustls::pki_types::CertificateDer<'static>,
    Vec<u8>,
) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("CA key")).expect("CA");
    let key = KeyPair::generate().expect("key");
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    if expired {
        leaf.not_before = rcgen::date_time_ymd(2020, 1, 1);
        leaf.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let cert = leaf.signed_by(&key, &ca).expect("signed");
    (ca.pem(), cert.der().clone(), key.serialize_der())
}

/// An https server on localhost with `cert` and its `key`, answering 404 to every request.
fn tls_server(
    runtime: &tokio::runtime::Runtime,
    cert: tokio_rustls::rustls::pki_types::CertificateDer<'static>,
    key: Vec<u8>,
) -> TlsServer {
    runtime.block_on(TlsServer::start(
        cert,
        key,
        http_reply("404 Not Found", None),
    ))
}

#[test]
fn the_doctor_names_an_expired_certificate_and_trusts_a_tenants_ca() {
    let world = World::new("tls-ca");
    let ca_file = world.home.join("tenant-ca.pem");

    // The doctor against a server whose certificate the tenant's CA signed, that CA trusted
    // through --ca-file.
    let doctor = |expired: bool| {
        let (ca, cert, key) = ca_and_leaf(expired);
        std::fs::write(&ca_file, ca).expect("write CA");
        let server = tls_server(&world._runtime, cert, key);
        let port = server.port();
        run(
            world
                .vendor("p21")
                .env("P21_BASE_URL", format!("https://localhost:{port}"))
                .args(["doctor", "p21", "--no-store", "--ca-file"])
                .arg(&ca_file),
            1,
        )
        .0
    };

    let out = doctor(true);
    let (line, hint) = step(&out, "tls");
    assert!(line.starts_with('✘') && line.contains("expired"), "{out}");
    assert!(hint.contains("renewed"), "{out}");

    // A certificate that has not expired: TLS passes, and the next failure is the next step's
    // (this server has no token endpoint).
    let out = doctor(false);
    assert!(step(&out, "tls").0.starts_with('✔'), "{out}");
    let (line, hint) = step(&out, "token endpoint");
    assert!(line.starts_with('✘') && hint.contains("API host"), "{out}");
}

#[test]
fn the_doctor_names_a_self_signed_certificate_and_the_opt_out() {
    let world = World::new("tls");
    let server = self_signed_server(&world._runtime);
    let port = server.port();
    let url = format!("https://localhost:{port}");
    let (out, err) = run(
        world
            .vendor("p21")
            .env("P21_BASE_URL", &url)
            .args(["doctor", "p21", "--no-store"]),
        1,
    );
    let (line, hint) = step(&out, "tls");
    assert!(
        line.starts_with('✘') && line.contains("self-signed"),
        "{out}"
    );
    assert!(hint.contains("--insecure"), "{out}");
    assert!(
        !out.contains("token endpoint"),
        "no token request after a TLS failure:\n{out}"
    );
    assert_no_secret(&[&out, &err]);

    // The opt-out gets past TLS, loudly.
    let (out, err) = run(
        world.vendor("p21").env("P21_BASE_URL", &url).args([
            "doctor",
            "p21",
            "--no-store",
            "--insecure",
        ]),
        1,
    );
    assert!(step(&out, "tls").0.contains("NOT checked"), "{out}");
    assert!(err.contains("--insecure"), "{err}");
}

#[test]
fn the_doctor_shows_the_proxy_from_the_environment_and_never_its_password() {
    const PROXY_PASSWORD: &str = "proxy-Jw4-secret";
    let world = World::new("proxy");
    let server = self_signed_server(&world._runtime);
    let port = server.port();
    let proxy = world._runtime.block_on(auth_testkit::TestProxy::start());
    // A host only the proxy resolves (it tunnels every name to loopback).
    let url = format!("https://p21.test:{port}");
    let doctor = |extra: &[&str]| {
        let out: Output = world
            .vendor("p21")
            .env("P21_BASE_URL", &url)
            .env(
                "HTTPS_PROXY",
                proxy.url(Some(("proxy-user", PROXY_PASSWORD))),
            )
            .args(["doctor", "p21", "--no-store", "--insecure"])
            .args(extra)
            .output()
            .expect("runs");
        let (out, err) = (text(&out.stdout), text(&out.stderr));
        assert!(
            !out.contains(PROXY_PASSWORD) && !err.contains(PROXY_PASSWORD),
            "{out}{err}"
        );
        assert_no_secret(&[&out, &err]);
        out
    };
    let out = doctor(&[]);
    let (line, _) = step(&out, "proxy");
    let shown = format!(
        "http://127.0.0.1:{}/ (HTTPS_PROXY, with credentials)",
        proxy.port()
    );
    assert!(line.starts_with('✔') && line.contains(&shown), "{out}");
    assert!(
        step(&out, "tcp")
            .0
            .contains(&format!("127.0.0.1:{}", proxy.port())),
        "{out}"
    );
    assert!(step(&out, "tls").0.contains("NOT checked"), "{out}");
    let requests = proxy.requests();
    assert!(!requests.is_empty(), "{out}");
    assert!(
        requests
            .iter()
            .all(|r| r.method == "CONNECT" && r.target == format!("p21.test:{port}")),
        "{requests:?}"
    );

    // Opted out: the proxy is neither shown nor used.
    let out = doctor(&["--no-env-proxy"]);
    assert!(step(&out, "proxy").0.contains("none"), "{out}");
    assert_eq!(proxy.requests().len(), requests.len(), "{out}");
}

#[test]
fn secrets_stay_out_of_output_and_sealed_store_files() {
    let world = World::new("secrets");
    let (token, err) = run(
        world
            .vendor("p21")
            .env("VENDOR_AUTH_SEALING_KEY", SEALING_KEY)
            .args(["token", "p21", "-v"]),
        0,
    );
    assert_no_secret(&[&token, &err]);
    let files = world.store_files();
    assert!(!files.is_empty(), "the token is in the store");
    for file in &files {
        let bytes = std::fs::read(file).expect("read");
        let content = String::from_utf8_lossy(&bytes);
        assert!(
            !content.contains(token.trim()),
            "{} holds the token in plain text",
            file.display()
        );
        assert_no_secret(&[&content]);
    }
    // The sealed record is read back by the next run (no second request), and not without the key.
    let (again, _) = run(
        world
            .vendor("p21")
            .env("VENDOR_AUTH_SEALING_KEY", SEALING_KEY)
            .args(["token", "p21"]),
        0,
    );
    assert_eq!(again, token);
    assert_eq!(world.token_requests(Endpoint::P21TokenV2), 1);

    // Failures say what is wrong without the secret, even verbosely.
    let (out, err) = run(
        world
            .vendor("apinizer")
            .env("APINIZER_PASSWORD", "wrong-Zq8-password")
            .args(["token", "apinizer", "-vv", "--log", "trace"]),
        1,
    );
    assert_eq!(out, "");
    assert!(err.contains("rejected"), "{err}");
    assert!(!err.contains("wrong-Zq8-password"), "{err}");
    assert_no_secret(&[&err]);
}

#[test]
fn secrets_come_from_files_and_stdin_never_the_command_line() {
    let world = World::new("inputs");
    let file = world.home.join("p21-password");
    std::fs::write(&file, format!("{PASSWORD}\n")).expect("write");
    set_mode(&file, 0o600);
    let mut cmd = world.vendor("p21");
    cmd.env_remove("P21_PASSWORD")
        .env("P21_PASSWORD_FILE", &file);
    let (token, _) = run(cmd.args(["token", "p21", "--no-store"]), 0);
    assert!(!token.trim().is_empty());

    let mut cmd = world.vendor("p21");
    cmd.env_remove("P21_PASSWORD")
        .write_stdin(format!("{PASSWORD}\n"));
    run(
        cmd.args(["token", "p21", "--no-store", "--password-stdin"]),
        0,
    );

    let mut cmd = world.vendor("p21");
    cmd.env_remove("P21_PASSWORD")
        .args(["token", "p21", "--password-file"])
        .arg(&file);
    run(cmd.arg("--no-store"), 0);

    // A missing secret is a configuration error naming the variable and the ways to set it.
    let (_, err) = run(
        world
            .vendor("p21")
            .env_remove("P21_PASSWORD")
            .args(["token", "p21"]),
        2,
    );
    assert!(
        err.contains("P21_PASSWORD") && err.contains("--password-stdin"),
        "{err}"
    );
    // There is no flag that takes a password itself.
    run(
        world
            .vendor("p21")
            .args(["token", "p21", "--password", PASSWORD]),
        2,
    );
}

/// Sets `path`'s permission bits (Unix).
fn set_mode(path: &std::path::Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}

/// A secret file others may read is refused, however it is named, as ssh refuses a private key:
/// the message names the file, the problem and the fix, and never the secret.
#[cfg(unix)]
#[test]
fn secret_files_others_can_read_are_refused() {
    let world = World::new("secret-files");
    let file = world.home.join("p21-password");
    std::fs::write(&file, format!("{PASSWORD}\n")).expect("write");
    set_mode(&file, 0o644);
    let by_variable = |cmd: &mut Command| {
        cmd.env_remove("P21_PASSWORD")
            .env("P21_PASSWORD_FILE", &file)
            .args(["token", "p21", "--no-store"]);
    };
    let by_flag = |cmd: &mut Command| {
        cmd.env_remove("P21_PASSWORD")
            .args(["token", "p21", "--no-store", "--password-file"])
            .arg(&file);
    };
    let config = format!(
        "[p21.files]\nbase_url = \"{}\"\nusername = \"api_user\"\npassword_file = \"{}\"\n",
        world.sandbox.p21_base_url(),
        file.display()
    );
    write_config(&world, &config, 0o600);
    let by_profile = |cmd: &mut Command| {
        cmd.env_remove("P21_PASSWORD")
            .args(["token", "p21", "--no-store", "--profile", "files"]);
    };
    for (way, apply) in [
        ("P21_PASSWORD_FILE", &by_variable as &dyn Fn(&mut Command)),
        ("--password-file", &by_flag),
        ("password_file", &by_profile),
    ] {
        for mode in [0o644, 0o640, 0o604] {
            set_mode(&file, mode);
            let mut cmd = world.vendor("p21");
            apply(&mut cmd);
            let (out, err) = run(&mut cmd, 2);
            assert_eq!(out, "", "{way}");
            assert!(
                err.contains(&file.display().to_string())
                    && err.contains("other users")
                    && err.contains(&format!("chmod 600 {}", file.display())),
                "{way} {mode:o}: {err}"
            );
            assert_no_secret(&[&err]);
        }
        set_mode(&file, 0o600);
        let mut cmd = world.vendor("p21");
        apply(&mut cmd);
        run(&mut cmd, 0);
    }
    assert_eq!(world.token_requests(Endpoint::P21TokenV2), 3);
}

/// What the tool prints cannot be turned against the terminal: characters that reorder or hide
/// text are escaped in every output, a token that cannot be a header fails `--header`, and a
/// config key that is not a plausible name is not echoed.
#[test]
fn printed_text_cannot_reorder_or_hide_and_headers_are_checked() {
    let world = World::new("printing");
    // A user name with a right-to-left override and a line separator, as the server echoes it
    // in the token's claims and session.
    let odd = "ab\u{202E}cd\u{2028}ef";
    world.sandbox.p21().add_user(odd, PASSWORD);
    let (claims, _) = run(
        world
            .vendor("p21")
            .env("P21_USERNAME", odd)
            .args(["claims", "p21", "--no-store"]),
        0,
    );
    assert!(
        !claims.contains('\u{202E}') && !claims.contains('\u{2028}'),
        "{claims:?}"
    );
    let parsed: serde_json::Value = serde_json::from_str(&claims).expect("still JSON");
    assert_eq!(parsed["claims"]["sub"], odd);
    let (json, _) = run(
        world
            .vendor("p21")
            .env("P21_USERNAME", odd)
            .args(["token", "p21", "--json", "--no-store"]),
        0,
    );
    assert!(!json.contains('\u{202E}'), "{json:?}");

    // A personal token that cannot travel as a header value prints nothing and fails.
    let (out, err) = run(
        world
            .vendor("apinizer")
            .env_remove("APINIZER_USERNAME")
            .env_remove("APINIZER_PASSWORD")
            .env("APINIZER_TOKEN", "personal-t\u{f6}ken")
            .args(["token", "apinizer", "--header", "--no-store"]),
        1,
    );
    assert_eq!(out, "");
    assert!(err.contains("header"), "{err}");

    // An unknown key that holds an escape sequence, or a secret pasted as a key, is not echoed.
    for key in [
        "\\u001b[31mred",
        "Zq8sEcReT0000000000000000000000000000000000000000",
    ] {
        let config = format!("[p21.odd]\n\"{key}\" = \"x\"\n");
        write_config(&world, &config, 0o600);
        let (_, err) = run(world.cmd().args(["token", "p21", "--profile", "odd"]), 2);
        assert!(err.contains("unknown setting"), "{err}");
        assert!(!err.contains("red") && !err.contains("SecReT"), "{err}");
        assert!(!err.contains('\u{1b}'), "{err:?}");
    }
    let config = "[p21.odd]\nbase_ulr = \"x\"\n";
    write_config(&world, config, 0o600);
    let (_, err) = run(world.cmd().args(["token", "p21", "--profile", "odd"]), 2);
    assert!(err.contains("unknown setting `base_ulr`"), "{err}");
}

fn write_config(world: &World, text: &str, mode: u32) -> PathBuf {
    let dir = world.home.join("config").join("vendor-auth");
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    path
}

#[test]
fn profiles_work_and_a_config_file_others_can_read_is_refused() {
    let world = World::new("profiles");
    let config = format!(
        "[p21.sandbox]\nbase_url = \"{}\"\nusername = \"api_user\"\npassword = \"{PASSWORD}\"\n",
        world.sandbox.p21_base_url()
    );
    write_config(&world, &config, 0o600);
    let (token, _) = run(
        world.cmd().args(["token", "p21", "--profile", "sandbox"]),
        0,
    );
    assert!(!token.trim().is_empty());

    if cfg!(unix) {
        let path = write_config(&world, &config, 0o644);
        let (out, err) = run(
            world.cmd().args(["token", "p21", "--profile", "sandbox"]),
            2,
        );
        assert_eq!(out, "");
        assert!(
            err.contains("other users") && err.contains(&format!("chmod 600 {}", path.display())),
            "{err}"
        );
        assert_no_secret(&[&err]);
    }
}

#[test]
fn exit_statuses_and_help() {
    let world = World::new("usage");
    // Usage errors: 2.
    run(world.cmd().args(["token"]), 2);
    run(world.cmd().args(["token", "sap"]), 2);
    run(world.vendor("personify").args(["ui-url", "personify"]), 2);
    let (_, err) = run(world.vendor("p21").args(["verify", "p21"]), 2);
    assert!(err.contains("doctor p21"), "{err}");
    // The vendor said no: 1. The refusal is remembered in the store for that password (no
    // storm of requests from a loop), says so, and --refresh asks again anyway.
    let wrong = |world: &World| {
        let mut cmd = world.vendor("apinizer");
        cmd.env("APINIZER_PASSWORD", "n0pe-Wr0ng");
        cmd
    };
    run(wrong(&world).args(["verify", "apinizer"]), 1);
    let (_, err) = run(wrong(&world).args(["verify", "apinizer"]), 1);
    assert!(
        err.contains("remembered") && err.contains("--refresh"),
        "{err}"
    );
    assert_eq!(world.token_requests(Endpoint::ApinizerToken), 1);
    run(wrong(&world).args(["verify", "apinizer", "--refresh"]), 1);
    assert_eq!(world.token_requests(Endpoint::ApinizerToken), 2);
    // The right password is not refused on the wrong one's word: it asks, and works.
    run(world.vendor("apinizer").args(["verify", "apinizer"]), 0);
    assert_eq!(world.token_requests(Endpoint::ApinizerToken), 3);
    let (url, _) = run(world.vendor("p21").args(["ui-url", "p21"]), 0);
    assert!(
        url.starts_with("http://127.0.0.1:") && url.trim_end().ends_with("/uiserver0"),
        "{url}"
    );
    let (claims, err) = run(world.vendor("p21").args(["claims", "p21"]), 0);
    let claims: serde_json::Value = serde_json::from_str(&claims).expect("JSON");
    assert_eq!(claims["unverified"], true);
    assert_eq!(claims["claims"]["sub"], "api_user");
    assert!(err.contains("unverified"));
    // ByDesign tokens are opaque: no claims, and the vendor's answer is why (1).
    run(world.vendor("bydesign").args(["claims", "bydesign"]), 1);

    let (help, _) = run(world.cmd().arg("--help"), 0);
    assert!(
        help.contains("curl -H @-") && help.contains("Exit status"),
        "{help}"
    );
    for command in ["token", "claims", "ui-url", "verify", "doctor"] {
        let (help, _) = run(world.cmd().args([command, "--help"]), 0);
        assert!(
            help.contains("Examples:\n  vendor-auth "),
            "{command}:\n{help}"
        );
    }
}

#[test]
fn a_service_on_the_same_store_shares_the_token_and_the_p21_session() {
    let world = World::new("service");
    let store = auth_store::FileStore::open(world.home.join("cache").join("vendor-auth"))
        .expect("the default store of this world");
    let service = p21_auth::Client::builder()
        .base_url(world.sandbox.p21_base_url())
        .credentials(p21_auth::Credentials::user(
            "api_user",
            p21_auth::Secret::new(PASSWORD),
        ))
        .cache(auth_core::CacheOptions::default().store(store))
        .build()
        .expect("service client");
    let token = world
        ._runtime
        .block_on(service.token())
        .expect("service token");
    let session = p21_auth::Session::of(&token)
        .and_then(|s| s.session_id.clone())
        .expect("a P21 session");

    let (json, _) = run(world.vendor("p21").args(["token", "p21", "--json"]), 0);
    let json: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(json["token"], token.access_token().expose_secret());
    assert_eq!(json["details"]["session_id"], session.as_str());
    assert_eq!(
        world.token_requests(Endpoint::P21TokenV2),
        1,
        "the tool asked for nothing"
    );
    assert_eq!(
        world.sandbox.p21().sessions_replaced(),
        0,
        "the service is still signed in"
    );
}
