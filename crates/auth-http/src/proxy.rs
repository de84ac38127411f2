//! [`ProxySettings`]: proxies from the environment, and the route a request takes.

use std::fmt;
use std::net::IpAddr;

use reqwest::Url;

use auth_core::error::{ConfigProblem, Error, ErrorKind};

use crate::env::{EnvLookup, optional_var};
use crate::is_loopback;

/// Where requests go through a proxy: the proxies and exceptions read from the environment, or
/// none.
///
/// The variables are read as curl and reqwest read them: `https_proxy` / `HTTPS_PROXY` for https URLs, `http_proxy` / `HTTP_PROXY` for http URLs
/// (`HTTP_PROXY` not in a CGI program, where a request's `Proxy:` header would set it),
/// `all_proxy` / `ALL_PROXY` for both, and `no_proxy` / `NO_PROXY` for the hosts that are
/// reached directly; the lower-case form first. Loopback hosts are always reached directly.
///
/// Through a proxy, an https request travels inside a `CONNECT` tunnel: the proxy sees the host
/// and port, never the request, its credentials or its token. A proxy's own credentials
/// (`http://user:password@proxy:3128`) go only to the proxy, and are never shown: not in an
/// error, a `Debug` print, a log line or [`ProxyRoute`].
///
/// ```
/// use auth_http::ProxySettings;
///
/// let vars = |name: &str| match name {
///     "HTTPS_PROXY" => Some("http://user:s3cret@proxy.internal:3128".to_owned()),
///     "NO_PROXY" => Some(".corp.example,10.0.0.0/8".to_owned()),
///     _ => None,
/// };
/// let proxies = ProxySettings::from_vars(&vars)?;
/// let route = proxies.route(&"https://api.vendor.example/token".parse().unwrap()).unwrap();
/// assert_eq!(route.to_string(), "http://proxy.internal:3128/ (HTTPS_PROXY, with credentials)");
/// assert!(proxies.route(&"https://erp.corp.example/".parse().unwrap()).is_none());
/// assert!(proxies.route(&"https://10.1.2.3/".parse().unwrap()).is_none());
/// assert!(proxies.route(&"https://127.0.0.1:8443/".parse().unwrap()).is_none());
/// assert!(!format!("{proxies:?}").contains("s3cret"));
/// # Ok::<(), auth_core::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct ProxySettings {
    http: Option<Target>,
    https: Option<Target>,
    no_proxy: Vec<Exception>,
}

#[derive(Clone)]
struct Target {
    /// With its credentials: what reqwest connects with.
    url: Url,
    variable: &'static str,
}

#[derive(Clone, Debug, PartialEq)]
enum Exception {
    All,
    Domain(String),
    Ip(IpAddr),
    Network(IpAddr, u8),
}

/// The proxy a request goes through, without its credentials: what `vendor-auth doctor` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyRoute {
    /// The proxy's URL without user name or password.
    pub url: String,
    /// The environment variable it came from.
    pub variable: &'static str,
    /// Whether the URL carried credentials (sent to the proxy only).
    pub with_credentials: bool,
}

impl fmt::Display for ProxyRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}", self.url, self.variable)?;
        if self.with_credentials {
            f.write_str(", with credentials")?;
        }
        f.write_str(")")
    }
}

impl fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxySettings")
            .field("http", &self.http.as_ref().map(Target::route))
            .field("https", &self.https.as_ref().map(Target::route))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl Target {
    fn route(&self) -> ProxyRoute {
        let mut url = self.url.clone();
        let with_credentials = !url.username().is_empty() || url.password().is_some();
        let _ = url.set_username("");
        let _ = url.set_password(None);
        ProxyRoute {
            url: url.to_string(),
            variable: self.variable,
            with_credentials,
        }
    }
}

impl ProxySettings {
    /// No proxy: every request goes directly to its host.
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// The proxies of the process environment.
    ///
    /// # Errors
    /// A configuration error naming the variable whose value is not a proxy URL (the value
    /// itself is not quoted: it may hold a password).
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(&crate::env::process())
    }

    /// The proxies of `vars` (a map in tests).
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_vars(vars: &dyn EnvLookup) -> Result<Self, Error> {
        let first = |names: &[&'static str]| -> Result<Option<Target>, Error> {
            for &name in names {
                if let Some(value) = optional_var(vars, name) {
                    return parse_target(name, &value).map(Some);
                }
            }
            Ok(None)
        };
        let cgi = optional_var(vars, "REQUEST_METHOD").is_some();
        let http_names: &[&'static str] = if cgi {
            &["http_proxy"]
        } else {
            &["http_proxy", "HTTP_PROXY"]
        };
        let all = first(&["all_proxy", "ALL_PROXY"])?;
        let no_proxy = ["no_proxy", "NO_PROXY"]
            .iter()
            .find_map(|name| optional_var(vars, name))
            .map(|list| parse_exceptions(&list))
            .unwrap_or_default();
        Ok(Self {
            http: first(http_names)?.or_else(|| all.clone()),
            https: first(&["https_proxy", "HTTPS_PROXY"])?.or(all),
            no_proxy,
        })
    }

    /// Whether no request goes through a proxy.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.http.is_none() && self.https.is_none()
    }

    /// The proxy a request to `url` goes through, without its credentials; `None` when it goes
    /// directly (no proxy for its scheme, a loopback host, or a host `NO_PROXY` names).
    #[must_use]
    pub fn route(&self, url: &Url) -> Option<ProxyRoute> {
        self.target(url).map(Target::route)
    }

    fn target(&self, url: &Url) -> Option<&Target> {
        let target = match url.scheme() {
            "https" => self.https.as_ref(),
            "http" => self.http.as_ref(),
            _ => None,
        }?;
        let host = url.host_str()?;
        let direct = is_loopback(url) || self.no_proxy.iter().any(|e| e.matches(host));
        (!direct).then_some(target)
    }

    /// The `reqwest::Proxy` that sends requests as these settings say, if any does.
    pub(crate) fn to_reqwest(&self) -> Option<reqwest::Proxy> {
        if self.is_empty() {
            return None;
        }
        let settings = self.clone();
        Some(reqwest::Proxy::custom(move |url| {
            settings.target(url).map(|t| t.url.clone())
        }))
    }
}

fn parse_target(variable: &'static str, value: &str) -> Result<Target, Error> {
    let invalid = |why: &str| {
        Error::unattributed(ErrorKind::config(
            variable,
            ConfigProblem::Invalid(why.to_owned()),
        ))
    };
    let value = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    let url = Url::parse(&value)
        .map_err(|_| invalid("not a proxy URL (http://[user:password@]host:port)"))?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => Ok(Target { url, variable }),
        "http" | "https" => Err(invalid("the proxy URL has no host")),
        _ => Err(invalid("only http:// and https:// proxies are supported")),
    }
}

/// `NO_PROXY`'s entries: `*`, host names and domains (`example.com` and `.example.com` both
/// match the domain and every name under it), IP addresses and networks (`10.0.0.0/8`). A port
/// after a name is ignored.
fn parse_exceptions(list: &str) -> Vec<Exception> {
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .filter_map(|entry| {
            if entry == "*" {
                return Some(Exception::All);
            }
            if let Some((net, bits)) = entry.split_once('/') {
                let net: IpAddr = net.trim_matches(['[', ']']).parse().ok()?;
                return Some(Exception::Network(net, bits.parse().ok()?));
            }
            if let Ok(ip) = entry.trim_matches(['[', ']']).parse::<IpAddr>() {
                return Some(Exception::Ip(ip));
            }
            let name = entry.split(':').next().unwrap_or(entry);
            let name = name.trim_start_matches("*.").trim_start_matches('.');
            Some(Exception::Domain(name.to_ascii_lowercase()))
        })
        .collect()
}

impl Exception {
    fn matches(&self, host: &str) -> bool {
        let host = host.trim_matches(['[', ']']);
        match self {
            Exception::All => true,
            Exception::Ip(ip) => host.parse::<IpAddr>().is_ok_and(|h| h == *ip),
            Exception::Network(net, bits) => host
                .parse::<IpAddr>()
                .is_ok_and(|h| in_network(h, *net, *bits)),
            Exception::Domain(domain) => {
                let host = host.trim_end_matches('.').to_ascii_lowercase();
                host == *domain
                    || host
                        .strip_suffix(domain.as_str())
                        .is_some_and(|rest| rest.ends_with('.'))
            }
        }
    }
}

fn in_network(host: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (host, net) {
        (IpAddr::V4(h), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(h) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(h), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(h) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<ProxySettings, Error> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ProxySettings::from_vars(&move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    fn via(s: &ProxySettings, url: &str) -> Option<&'static str> {
        s.route(&url.parse().expect("url")).map(|r| r.variable)
    }

    #[test]
    fn each_scheme_takes_its_variable_lower_case_first_then_all_proxy() {
        let s = settings(&[
            ("https_proxy", "http://lower:3128"),
            ("HTTPS_PROXY", "http://upper:3128"),
            ("ALL_PROXY", "http://all:3128"),
        ])
        .expect("settings");
        assert_eq!(via(&s, "https://api.example.com/"), Some("https_proxy"));
        assert_eq!(via(&s, "http://api.example.com/"), Some("ALL_PROXY"));
        let s = settings(&[("HTTPS_PROXY", "proxy:3128")]).expect("settings");
        assert_eq!(via(&s, "http://api.example.com/"), None);
        let route = s.route(&"https://a.example/".parse().expect("url"));
        assert_eq!(route.expect("route").url, "http://proxy:3128/");
    }

    #[test]
    fn http_proxy_is_not_read_from_a_cgi_request() {
        let s = settings(&[("HTTP_PROXY", "http://evil:80"), ("REQUEST_METHOD", "GET")]);
        assert!(s.expect("settings").is_empty());
    }

    #[test]
    fn no_proxy_names_domains_addresses_and_networks() {
        let s = settings(&[
            ("HTTPS_PROXY", "http://proxy:3128"),
            (
                "no_proxy",
                "internal.example, .corp.example:443,192.168.1.7,10.0.0.0/8,fd00::/8",
            ),
        ])
        .expect("settings");
        for direct in [
            "https://internal.example/",
            "https://a.internal.example/",
            "https://corp.example/",
            "https://x.y.corp.example/",
            "https://192.168.1.7/",
            "https://10.200.3.4/",
            "https://[fd12::1]/",
            "https://localhost:8443/",
            "https://[::1]/",
        ] {
            assert_eq!(via(&s, direct), None, "{direct}");
        }
        for proxied in [
            "https://notinternal.example/",
            "https://192.168.1.8/",
            "https://11.0.0.1/",
            "https://[fe80::1]/",
        ] {
            assert_eq!(via(&s, proxied), Some("HTTPS_PROXY"), "{proxied}");
        }
        let all = settings(&[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "*")]).expect("ok");
        assert_eq!(via(&all, "https://anything.example/"), None);
    }

    #[test]
    fn a_bad_proxy_url_names_its_variable_without_quoting_it() {
        for value in [
            "socks5://user:hunter2@p:1080",
            "http://user:hunter2@:3128",
            "http://[user:hunter2",
        ] {
            let err = settings(&[("HTTPS_PROXY", value)]).expect_err(value);
            let shown = format!("{err} {err:?}");
            assert!(shown.contains("HTTPS_PROXY"), "{shown}");
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }
}
