//! Where a command's settings come from: a named profile, the environment (with the `_FILE`
//! convention of container secrets), and `--password-file` or `--password-stdin`. The result is
//! what the vendor crates' `from_vars` read, plus the tool's own settings (store, TLS).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use auth_core::Secret;
use auth_http::ProxySettings;
use auth_http::env::EnvLookup;

use crate::cli::Global;
use crate::failure::Failure;
use crate::vendor::Vendor;

/// The most bytes read from a secret file, stdin or the config file.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Where tokens are shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreSpec {
    /// `--no-store`: a one-off token, kept nowhere.
    Nowhere,
    /// `file:DIR`.
    File(PathBuf),
    /// The per-user default directory.
    DefaultFile,
    /// `redis://…` or `rediss://…` (may hold a password: never printed).
    Redis(String),
}

impl StoreSpec {
    /// Parses `file:DIR`, `redis://…` or `rediss://…`.
    pub(crate) fn parse(spec: &str, from: &str) -> Result<Self, Failure> {
        let spec = spec.trim();
        if let Some(dir) = spec.strip_prefix("file:") {
            if dir.is_empty() {
                return Err(
                    Failure::config(format!("the store from {from} names no directory"))
                        .hint("write file:DIR, e.g. file:/var/cache/vendor-auth"),
                );
            }
            return Ok(Self::File(PathBuf::from(dir)));
        }
        if spec.starts_with("redis://") || spec.starts_with("rediss://") {
            return Ok(Self::Redis(spec.to_owned()));
        }
        Err(Failure::config(format!(
            "the store from {from} is neither file:DIR nor a Redis URL"
        ))
        .hint("write file:DIR, redis://HOST[:PORT][/DB] or rediss://…"))
    }
}

/// Everything a command needs to build a client.
pub(crate) struct Settings {
    /// The vendor.
    pub(crate) vendor: Vendor,
    vars: HashMap<String, String>,
    /// Where tokens are shared.
    pub(crate) store: StoreSpec,
    /// The key that seals stored tokens, if one is configured.
    pub(crate) sealing_key: Option<Secret>,
    /// Extra trusted certificates (PEM).
    pub(crate) ca_pem: Option<Vec<u8>>,
    /// Accept any certificate.
    pub(crate) insecure: bool,
    /// HTTP/1.1 only.
    pub(crate) http1_only: bool,
    /// The proxies of the environment, unless `--no-env-proxy` (or the profile) turned them off.
    pub(crate) proxies: ProxySettings,
    /// Where each setting came from, for messages (`P21_BASE_URL`, `profile p21.prod`).
    origins: HashMap<String, String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("vendor", &self.vendor)
            .field("variables", &self.vars.keys().collect::<Vec<_>>())
            .field("insecure", &self.insecure)
            .field("proxies", &self.proxies)
            .finish_non_exhaustive()
    }
}

impl EnvLookup for Settings {
    fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
}

impl Settings {
    /// Resolves the settings of `vendor` from the command line, the profile it names, the
    /// environment `env`, and `stdin` for `--password-stdin`.
    pub(crate) fn resolve(
        vendor: Vendor,
        global: &Global,
        env: &dyn EnvLookup,
        stdin: &mut dyn Read,
    ) -> Result<Self, Failure> {
        let mut settings = Settings {
            vendor,
            vars: HashMap::new(),
            store: StoreSpec::DefaultFile,
            sealing_key: None,
            ca_pem: None,
            insecure: global.insecure,
            http1_only: global.http1_only,
            proxies: ProxySettings::none(),
            origins: HashMap::new(),
        };
        let mut no_env_proxy = global.no_env_proxy;
        let var = |name: &str| auth_http::env::optional_var(env, name);
        let mut store = None;
        let mut ca_file = None;
        let mut sealing_key = None;

        // 1. The profile, when one is named.
        let profile = global
            .profile
            .clone()
            .or_else(|| var("VENDOR_AUTH_PROFILE"));
        if let Some(name) = profile {
            let path = match global.config.clone() {
                Some(path) => path,
                None => match var("VENDOR_AUTH_CONFIG") {
                    Some(path) => PathBuf::from(path),
                    None => default_config_file().ok_or_else(|| {
                        Failure::config("no config directory is known for --profile")
                            .hint("name the file with --config FILE")
                    })?,
                },
            };
            let origin = format!("profile {}.{name}", vendor.name());
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            for (key, value) in load_profile(&path, vendor, &name)? {
                let text = |value: &toml::Value| match value {
                    toml::Value::String(s) => Ok(s.clone()),
                    toml::Value::Integer(i) => Ok(i.to_string()),
                    _ => Err(Failure::config(format!(
                        "`{key}` in {origin} ({}) is not text",
                        path.display()
                    ))),
                };
                let flag = |value: &toml::Value| {
                    value.as_bool().ok_or_else(|| {
                        Failure::config(format!(
                            "`{key}` in {origin} ({}) is not true or false",
                            path.display()
                        ))
                    })
                };
                let file = |value: &toml::Value| text(value).map(|p| dir.join(p));
                match key.as_str() {
                    "store" => store = Some((text(&value)?, origin.clone())),
                    "sealing_key" => sealing_key = Some(Secret::new(text(&value)?)),
                    "sealing_key_file" => {
                        sealing_key = Some(Secret::new(read_secret_file(
                            &file(&value)?,
                            &format!("sealing_key_file of {origin}"),
                        )?));
                    }
                    "ca_file" => ca_file = Some(file(&value)?),
                    "insecure" => settings.insecure |= flag(&value)?,
                    "http1_only" => settings.http1_only |= flag(&value)?,
                    "no_env_proxy" => no_env_proxy |= flag(&value)?,
                    _ => {
                        let (base, from_file) = match key.strip_suffix("_file") {
                            Some(base) => (base, true),
                            None => (key.as_str(), false),
                        };
                        if !vendor.keys().any(|(k, _)| k == base) {
                            return Err(unknown_key(vendor, &key, &origin, &path));
                        }
                        let value = if from_file {
                            read_secret_file(&file(&value)?, &format!("{key} of {origin}"))?
                        } else {
                            text(&value)?
                        };
                        settings.set(vendor.variable(base), value, &origin);
                    }
                }
            }
        }

        // 2. The environment, for what the profile left unset: VAR, or the file VAR_FILE names.
        for (key, _) in vendor.keys() {
            let variable = vendor.variable(key);
            if settings.vars.contains_key(&variable) {
                continue;
            }
            if let Some(value) = var(&variable) {
                settings.set(variable.clone(), value, &variable);
            } else if let Some(file) = var(&format!("{variable}_FILE")) {
                let origin = format!("{variable}_FILE");
                let value = read_secret_file(Path::new(&file), &origin)?;
                settings.set(variable, value, &origin);
            }
        }
        if sealing_key.is_none() {
            sealing_key = match (
                var("VENDOR_AUTH_SEALING_KEY"),
                var("VENDOR_AUTH_SEALING_KEY_FILE"),
            ) {
                (Some(key), _) => Some(Secret::new(key)),
                (None, Some(file)) => Some(Secret::new(read_secret_file(
                    Path::new(&file),
                    "VENDOR_AUTH_SEALING_KEY_FILE",
                )?)),
                (None, None) => None,
            };
        }
        settings.sealing_key = sealing_key;
        if !no_env_proxy {
            settings.proxies = ProxySettings::from_vars(env)?;
        }

        // 3. The command line.
        let password = vendor.variable(vendor.password_key());
        if let Some(file) = &global.password_file {
            let value = read_secret_file(file, "--password-file")?;
            settings.set(password, value, "--password-file");
        } else if global.password_stdin {
            let value = read_secret(stdin, "--password-stdin")?;
            if value.is_empty() {
                return Err(Failure::config("--password-stdin read nothing from stdin")
                    .hint("pipe the password in: cat FILE | vendor-auth ... --password-stdin"));
            }
            settings.set(password, value, "--password-stdin");
        }
        settings.store = if global.no_store {
            StoreSpec::Nowhere
        } else if let Some(spec) = &global.store {
            StoreSpec::parse(spec, "--store")?
        } else if let Some((spec, origin)) = store {
            StoreSpec::parse(&spec, &origin)?
        } else if let Some(spec) = var("VENDOR_AUTH_STORE") {
            StoreSpec::parse(&spec, "VENDOR_AUTH_STORE")?
        } else {
            StoreSpec::DefaultFile
        };
        let ca_file = global
            .ca_file
            .clone()
            .or(ca_file)
            .or_else(|| var("VENDOR_AUTH_CA_FILE").map(PathBuf::from));
        if let Some(file) = ca_file {
            settings.ca_pem = Some(read_limited(&file).map_err(|e| {
                Failure::config(format!(
                    "cannot read the certificates in {}",
                    file.display()
                ))
                .cause(&e)
            })?);
        }
        Ok(settings)
    }

    fn set(&mut self, variable: String, value: String, origin: &str) {
        self.origins.insert(variable.clone(), origin.to_owned());
        self.vars.insert(variable, value);
    }

    /// The value of a profile key (`base_url`), wherever it came from.
    pub(crate) fn value(&self, key: &str) -> Option<&str> {
        self.vars
            .get(&self.vendor.variable(key))
            .map(String::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// Where a profile key's value came from (`P21_BASE_URL`, `profile p21.prod`), or the
    /// variable to set when it is missing.
    pub(crate) fn origin(&self, key: &str) -> String {
        let variable = self.vendor.variable(key);
        self.origins.get(&variable).cloned().unwrap_or(variable)
    }
}

/// `config.toml` in a `vendor-auth` directory of the user's config directory
/// (`$XDG_CONFIG_HOME` or `~/.config` on Linux and other Unixes, `~/Library/Application Support`
/// on macOS, `%APPDATA%` on Windows).
pub(crate) fn default_config_file() -> Option<PathBuf> {
    dirs::config_dir().map(|dir| dir.join("vendor-auth").join("config.toml"))
}

/// The keys of profile `[vendor.name]` in the config file at `path`, which must be readable by
/// its owner alone.
fn load_profile(
    path: &Path,
    vendor: Vendor,
    name: &str,
) -> Result<Vec<(String, toml::Value)>, Failure> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| {
        Failure::config(format!(
            "cannot read the config file {shown} (needed for the profile {}.{name})",
            vendor.name()
        ))
        .hint(format!(
            "create it with a [{}.{name}] table (see vendor-auth --help), or name another with --config",
            vendor.name()
        ))
        .cause(&e)
    })?;
    crate::trust::check_config_file(path, &meta)?;
    let text =
        String::from_utf8(read_limited(path).map_err(|e| {
            Failure::config(format!("cannot read the config file {shown}")).cause(&e)
        })?)
        .map_err(|_| Failure::config(format!("the config file {shown} is not UTF-8 text")))?;
    // The parser's own message may quote the line, which may hold a secret: say where only.
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e.span().map_or(0, |s| {
            text[..s.start.min(text.len())].lines().count().max(1)
        });
        Failure::config(format!(
            "the config file {shown} is not valid TOML (line {line})"
        ))
    })?;
    let profiles = table.get(vendor.name()).and_then(toml::Value::as_table);
    let Some(profile) = profiles
        .and_then(|p| p.get(name))
        .and_then(toml::Value::as_table)
    else {
        let known: Vec<&str> = profiles
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let hint = if known.is_empty() {
            format!("add a [{}.{name}] table", vendor.name())
        } else {
            format!(
                "the {} profiles there are: {}",
                vendor.name(),
                known.join(", ")
            )
        };
        return Err(Failure::config(format!(
            "there is no profile [{}.{name}] in {shown}",
            vendor.name()
        ))
        .hint(hint));
    };
    Ok(profile
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect())
}

fn unknown_key(vendor: Vendor, key: &str, origin: &str, path: &Path) -> Failure {
    let mut known: Vec<String> = vendor.keys().map(|(k, _)| k.to_owned()).collect();
    known.extend(
        vendor
            .keys()
            .filter(|(_, secret)| *secret)
            .map(|(k, _)| format!("{k}_file")),
    );
    known.extend(
        [
            "store",
            "sealing_key_file",
            "ca_file",
            "insecure",
            "http1_only",
            "no_env_proxy",
        ]
        .map(str::to_owned),
    );
    // A name is echoed only if it looks like one: a secret pasted as a key, or a name full of
    // escape sequences, is not shown.
    let plausible = !key.is_empty()
        && key.len() <= 40
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let named = if plausible {
        format!("`{key}`")
    } else {
        format!(
            "with a name of {} characters that no setting has (not shown: it may be a secret)",
            key.chars().count()
        )
    };
    Failure::config(format!(
        "unknown setting {named} in {origin} ({})",
        path.display()
    ))
    .hint(format!("the settings are: {}", known.join(", ")))
}

/// At most [`MAX_FILE_BYTES`] of `path`.
fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES)
        .read_to_end(&mut out)?;
    Ok(out)
}

/// A secret kept in the file at `path` (one trailing line break dropped), for `what`.
fn read_secret_file(path: &Path, what: &str) -> Result<String, Failure> {
    crate::trust::check_secret_file(path, what)?;
    let bytes = read_limited(path).map_err(|e| {
        Failure::config(format!("cannot read {what} ({})", path.display())).cause(&e)
    })?;
    secret_text(bytes, what)
}

/// A secret read from `input` (one trailing line break dropped).
fn read_secret(input: &mut dyn Read, what: &str) -> Result<String, Failure> {
    let mut bytes = Vec::new();
    input
        .take(MAX_FILE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::config(format!("cannot read {what}")).cause(&e))?;
    secret_text(bytes, what)
}

fn secret_text(bytes: Vec<u8>, what: &str) -> Result<String, Failure> {
    let mut text = String::from_utf8(bytes)
        .map_err(|_| Failure::config(format!("{what} is not UTF-8 text")))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn global(args: &[&str]) -> Global {
        let mut argv = vec!["vendor-auth", "token", "p21"];
        argv.extend_from_slice(args);
        crate::cli::Args::try_parse_from(argv)
            .expect("parses")
            .global
    }

    fn env(pairs: &[(&str, &str)]) -> impl EnvLookup + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("vendor-auth-config-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("dir");
            Self(dir)
        }

        fn write(&self, name: &str, text: &str, mode: u32) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).expect("write");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                    .expect("chmod");
            }
            path
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn resolve(args: &[&str], vars: &[(&str, &str)]) -> Result<Settings, Failure> {
        Settings::resolve(
            Vendor::named("p21").expect("a vendor"),
            &global(args),
            &env(vars),
            &mut std::io::empty(),
        )
    }

    #[test]
    fn the_environment_and_its_file_convention() {
        let dir = Dir::new("env");
        let secret = dir.write("pw", "s3cret\n", 0o600);
        let s = resolve(
            &[],
            &[
                ("P21_BASE_URL", "https://erp.example.com"),
                ("P21_USERNAME", "api"),
                ("P21_PASSWORD_FILE", secret.to_str().expect("utf-8")),
            ],
        )
        .expect("settings");
        assert_eq!(s.get("P21_PASSWORD").as_deref(), Some("s3cret"));
        assert_eq!(s.origin("password"), "P21_PASSWORD_FILE");
        assert_eq!(s.store, StoreSpec::DefaultFile);
    }

    #[test]
    fn a_profile_comes_before_the_environment_and_flags_before_both() {
        let dir = Dir::new("profile");
        let pw = dir.write("pw", "from-file", 0o600);
        let config = dir.write(
            "config.toml",
            "[p21.prod]\nbase_url = \"https://prod.example.com\"\nusername = \"svc\"\npassword_file = \"pw\"\nstore = \"file:/tmp/x\"\nhttp1_only = true\n",
            0o600,
        );
        let config = config.to_str().expect("utf-8");
        let vars = [
            ("P21_BASE_URL", "https://env.example.com"),
            ("P21_PASSWORD", "env"),
        ];
        let s = resolve(&["--profile", "prod", "--config", config], &vars).expect("settings");
        assert_eq!(s.value("base_url"), Some("https://prod.example.com"));
        assert_eq!(s.get("P21_PASSWORD").as_deref(), Some("from-file"));
        assert_eq!(s.store, StoreSpec::File(PathBuf::from("/tmp/x")));
        assert!(s.http1_only);
        let _ = pw;
        let flagged = dir.write("flag", "from-flag\n", 0o600);
        let s = resolve(
            &[
                "--profile",
                "prod",
                "--config",
                config,
                "--password-file",
                flagged.to_str().expect("utf-8"),
                "--no-store",
            ],
            &vars,
        )
        .expect("settings");
        assert_eq!(s.get("P21_PASSWORD").as_deref(), Some("from-flag"));
        assert_eq!(s.store, StoreSpec::Nowhere);
    }

    #[test]
    fn a_config_file_others_can_read_is_refused() {
        let dir = Dir::new("mode");
        let config = dir.write("config.toml", "[p21.x]\npassword = \"hunter2\"\n", 0o644);
        let err = resolve(
            &[
                "--profile",
                "x",
                "--config",
                config.to_str().expect("utf-8"),
            ],
            &[],
        )
        .expect_err("refused");
        assert_eq!(err.code(), crate::failure::exit::CONFIG);
        let text = err.render(true);
        if cfg!(unix) {
            assert!(text.contains("chmod 600"), "{text}");
        }
        assert!(!text.contains("hunter2"));
    }

    #[test]
    fn bad_profiles_are_named_without_quoting_secrets() {
        let dir = Dir::new("bad");
        let broken = dir.write("broken.toml", "[p21.x]\npassword = \"hunter2\n", 0o600);
        let err = resolve(
            &[
                "--profile",
                "x",
                "--config",
                broken.to_str().expect("utf-8"),
            ],
            &[],
        )
        .expect_err("invalid");
        let text = err.render(true);
        assert!(
            text.contains("line 2") && !text.contains("hunter2"),
            "{text}"
        );

        let unknown = dir.write("unknown.toml", "[p21.x]\npasword = \"hunter2\"\n", 0o600);
        let err = resolve(
            &[
                "--profile",
                "x",
                "--config",
                unknown.to_str().expect("utf-8"),
            ],
            &[],
        )
        .expect_err("unknown key");
        let text = err.render(true);
        assert!(
            text.contains("`pasword`") && text.contains("password_file"),
            "{text}"
        );
        assert!(!text.contains("hunter2"));

        let err = resolve(
            &[
                "--profile",
                "y",
                "--config",
                unknown.to_str().expect("utf-8"),
            ],
            &[],
        )
        .expect_err("no such profile");
        assert!(err.render(false).contains("p21 profiles there are: x"));
    }

    #[test]
    fn stdin_and_stores() {
        let s = Settings::resolve(
            Vendor::named("p21").expect("a vendor"),
            &global(&["--password-stdin", "--store", "redis://127.0.0.1:6379"]),
            &env(&[]),
            &mut &b"piped\r\n"[..],
        )
        .expect("settings");
        assert_eq!(s.get("P21_PASSWORD").as_deref(), Some("piped"));
        assert_eq!(s.store, StoreSpec::Redis("redis://127.0.0.1:6379".into()));
        assert!(StoreSpec::parse("memcached://x", "--store").is_err());
        assert!(StoreSpec::parse("file:", "--store").is_err());
        let from_env = resolve(&[], &[("VENDOR_AUTH_STORE", "file:/srv/tokens")]).expect("ok");
        assert_eq!(
            from_env.store,
            StoreSpec::File(PathBuf::from("/srv/tokens"))
        );
    }
}
