//! URL rules: which URLs may carry credentials, base URLs from settings, endpoints under them.

use reqwest::Url;

use auth_core::error::{ConfigProblem, Error};

/// Whether `url`'s host is loopback: `localhost` (or `*.localhost`), 127.0.0.0/8 or `::1`.
#[must_use]
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Parses a base URL given in a setting, with a configuration error naming `setting` if it is not
/// an absolute http(s) URL. A query or fragment is refused (they would be lost when endpoints are
/// joined). The https rule is checked separately, by [`HttpClient::check_url`](crate::HttpClient::check_url).
///
/// # Errors
/// A configuration error naming `setting` when `value` is not an absolute http(s) URL.
pub fn parse_base_url(vendor: &'static str, setting: &str, value: &str) -> Result<Url, Error> {
    let url = Url::parse(value.trim()).map_err(|e| {
        Error::config(
            vendor,
            setting,
            ConfigProblem::Invalid(format!("not a URL ({e})")),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::config(
            vendor,
            setting,
            ConfigProblem::Invalid("expected an absolute http(s) URL".into()),
        ));
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(Error::config(
            vendor,
            setting,
            ConfigProblem::Invalid("a base URL has no query, fragment or credentials".into()),
        ));
    }
    Ok(url)
}

/// A required base URL: a configuration error naming `setting` if it was not given, else
/// [`parse_base_url`].
///
/// # Errors
/// A configuration error naming `setting` when the URL is missing or does not parse.
pub fn required_base_url(
    vendor: &'static str,
    setting: &str,
    value: Option<&str>,
) -> Result<Url, Error> {
    let value = value.ok_or_else(|| Error::config(vendor, setting, ConfigProblem::Missing))?;
    parse_base_url(vendor, setting, value)
}

/// `base` joined with `path`: any path prefix in `base` is kept, exactly one `/` separates them,
/// and `path`'s own query (after `?`) is kept.
///
/// ```
/// use auth_http::endpoint;
///
/// let base = "https://host/Company/".parse().unwrap();
/// assert_eq!(endpoint(&base, "/token").as_str(), "https://host/Company/token");
/// let base = "https://host".parse().unwrap();
/// assert_eq!(endpoint(&base, "api/ui/router/v1?urlType=external").as_str(),
///            "https://host/api/ui/router/v1?urlType=external");
/// ```
#[must_use]
pub fn endpoint(base: &Url, path: &str) -> Url {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let mut url = base.clone();
    let joined = format!(
        "{}/{}",
        base.path().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    url.set_path(&joined);
    url.set_query(query);
    url.set_fragment(None);
    url
}

/// [`HttpClient::check_url`](crate::HttpClient::check_url) as a free function.
///
/// # Errors
/// A configuration error naming `setting` for a URL that is not http(s), or plain http to a host
/// that is not loopback (unless allowed).
pub fn check_url(
    vendor: &'static str,
    setting: &str,
    url: &Url,
    allow_plain_http: bool,
) -> Result<(), Error> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_plain_http || is_loopback(url) => Ok(()),
        "http" => Err(Error::config(vendor, setting, ConfigProblem::InsecureUrl)),
        other => Err(Error::config(
            vendor,
            setting,
            ConfigProblem::Invalid(format!("scheme {other:?} is not http or https")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_core::error::ErrorKind;

    fn url(s: &str) -> Url {
        s.parse().expect("test URL")
    }

    #[test]
    fn https_rule() {
        for ok in [
            "https://example.com/t",
            "http://localhost:8080/t",
            "http://LOCALHOST/t",
            "http://api.localhost/t",
            "http://127.0.0.1:1/t",
            "http://127.8.9.10/t",
            "http://[::1]:99/t",
        ] {
            assert!(check_url("v", "URL", &url(ok), false).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/t",
            "http://10.0.0.1/t",
            "http://localhost.example.com/t",
            "http://[::2]/t",
            "http://128.0.0.1/t",
        ] {
            let err = check_url("v", "URL", &url(bad), false).expect_err(bad);
            assert!(matches!(
                err.kind(),
                ErrorKind::Configuration {
                    problem: ConfigProblem::InsecureUrl,
                    ..
                }
            ));
            assert!(
                check_url("v", "URL", &url(bad), true).is_ok(),
                "opt-in {bad}"
            );
        }
        let ftp = check_url("v", "URL", &url("ftp://example.com/"), true).expect_err("ftp");
        assert!(ftp.to_string().contains("ftp"));
    }
}
