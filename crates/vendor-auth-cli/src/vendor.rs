//! The four vendors behind one shape: their settings (the variables of each crate's
//! `from_env()`), and one [`Client`] over the four crates' clients.

use auth_core::{CacheOptions, Error, Token, TokenCache};
use auth_http::HttpClient;
use auth_http::env::EnvLookup;
use serde_json::{Map, Value, json};

/// A vendor, as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Vendor {
    /// Epicor Prophet 21
    P21,
    /// Personify
    Personify,
    /// Apinizer (Management API)
    Apinizer,
    /// ByDesign
    #[value(name = "bydesign")]
    ByDesign,
}

impl Vendor {
    /// The name on the command line and in profiles (`[p21.NAME]`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Vendor::P21 => p21_auth::VENDOR,
            Vendor::Personify => personify_auth::VENDOR,
            Vendor::Apinizer => apinizer_auth::VENDOR,
            Vendor::ByDesign => bydesign_auth::VENDOR,
        }
    }

    /// The prefix of the vendor crate's environment variables.
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Vendor::P21 => "P21",
            Vendor::Personify => "PERSONIFY",
            Vendor::Apinizer => "APINIZER",
            Vendor::ByDesign => "BYDESIGN",
        }
    }

    /// The settings the vendor crate's `from_env()` reads, as profile keys (the variable is
    /// the prefix and the key in capitals), each with whether it holds a secret.
    pub(crate) fn keys(self) -> &'static [(&'static str, bool)] {
        match self {
            Vendor::P21 => &[
                ("base_url", false),
                ("username", false),
                ("password", true),
                ("consumer_key", true),
            ],
            Vendor::Personify => &[
                ("token_url", false),
                ("client_id", false),
                ("client_secret", true),
                ("scope", false),
                ("tenant_id", false),
                ("api_base_url", false),
            ],
            Vendor::Apinizer => &[
                ("base_url", false),
                ("username", false),
                ("password", true),
                ("token", true),
            ],
            Vendor::ByDesign => &[
                ("base_url", false),
                ("client_id", false),
                ("rep_id", false),
                ("customer_id", false),
                ("password", true),
                ("refresh_token", true),
                ("token_path", false),
            ],
        }
    }

    /// The key `--password-file` and `--password-stdin` fill.
    pub(crate) fn password_key(self) -> &'static str {
        match self {
            Vendor::Personify => "client_secret",
            Vendor::P21 | Vendor::Apinizer | Vendor::ByDesign => "password",
        }
    }

    /// The key of the URL tokens are requested from (its host is the one `doctor` probes).
    pub(crate) fn url_key(self) -> &'static str {
        match self {
            Vendor::Personify => "token_url",
            Vendor::P21 | Vendor::Apinizer | Vendor::ByDesign => "base_url",
        }
    }

    /// The environment variable of `key`.
    pub(crate) fn variable(self, key: &str) -> String {
        format!("{}_{}", self.prefix(), key.to_ascii_uppercase())
    }
}

/// A client of one of the four vendor crates.
#[derive(Clone, Debug)]
pub(crate) enum Client {
    P21(p21_auth::Client),
    Personify(personify_auth::Client),
    Apinizer(apinizer_auth::Client),
    ByDesign(bydesign_auth::Client),
}

/// Calls the same method on whichever client it is.
macro_rules! each {
    ($client:expr, $c:ident => $body:expr) => {
        match $client {
            Client::P21($c) => $body,
            Client::Personify($c) => $body,
            Client::Apinizer($c) => $body,
            Client::ByDesign($c) => $body,
        }
    };
}

impl Client {
    /// The client the vendor crate's `from_vars` configures from `vars`, sending through
    /// `http`, with `cache` options.
    pub(crate) fn build(
        vendor: Vendor,
        vars: &dyn EnvLookup,
        http: HttpClient,
        cache: CacheOptions,
    ) -> Result<Self, Error> {
        Ok(match vendor {
            Vendor::P21 => Client::P21(
                p21_auth::ClientBuilder::from_vars(vars)?
                    .http_client(http)
                    .cache(cache)
                    .build()?,
            ),
            Vendor::Personify => Client::Personify(
                personify_auth::ClientBuilder::from_vars(vars)?
                    .http_client(http)
                    .cache(cache)
                    .build()?,
            ),
            Vendor::Apinizer => Client::Apinizer(
                apinizer_auth::ClientBuilder::from_vars(vars)?
                    .http_client(http)
                    .cache(cache)
                    .build()?,
            ),
            Vendor::ByDesign => Client::ByDesign(
                bydesign_auth::ClientBuilder::from_vars(vars)?
                    .http_client(http)
                    .cache(cache)
                    .build()?,
            ),
        })
    }

    /// A valid access token (from the store when another process already has one).
    pub(crate) async fn token(&self) -> Result<Token, Error> {
        each!(self, c => c.token().await)
    }

    /// The headers an API call carries (`Authorization`, and Personify's `X-Tenant-Id`), as
    /// the vendor crate's `authorize` adds them.
    pub(crate) async fn api_headers(&self) -> Result<Vec<(String, String)>, Error> {
        let http = self.reqwest_client();
        // Never sent: only its headers are read.
        let request = http.get("http://127.0.0.1/");
        let request = each!(self, c => c.authorize(request).await)?
            .build()
            .map_err(|e| Error::transport(self.vendor()).with_source(e))?;
        let mut headers = Vec::new();
        for (name, value) in request.headers() {
            if let Ok(value) = value.to_str() {
                headers.push((canonical(name.as_str()), value.to_owned()));
            }
        }
        // `Authorization` first, the vendor's own headers after it.
        headers.sort_by_key(|(name, _)| name != "Authorization");
        Ok(headers)
    }

    /// The `reqwest::Client` tokens are fetched with.
    pub(crate) fn reqwest_client(&self) -> &reqwest::Client {
        each!(self, c => c.reqwest_client())
    }

    /// The token cache.
    pub(crate) fn cache(&self) -> &TokenCache {
        each!(self, c => c.cache())
    }

    /// The vendor's name.
    pub(crate) fn vendor(&self) -> &'static str {
        match self {
            Client::P21(_) => p21_auth::VENDOR,
            Client::Personify(_) => personify_auth::VENDOR,
            Client::Apinizer(_) => apinizer_auth::VENDOR,
            Client::ByDesign(_) => bydesign_auth::VENDOR,
        }
    }

    /// What the vendor said about the token beyond the token, without a secret.
    pub(crate) fn details(&self, token: &Token) -> Map<String, Value> {
        let mut details = Map::new();
        match self {
            Client::P21(_) => {
                if let Some(s) = p21_auth::Session::of(token) {
                    details.insert("session_id".into(), json!(s.session_id));
                    details.insert("consumer_uid".into(), json!(s.consumer_uid));
                    details.insert("user_name".into(), json!(s.user_name));
                }
            }
            Client::ByDesign(_) => {
                if let Some(s) = bydesign_auth::Session::of(token) {
                    details.insert("user_name".into(), json!(s.user_name));
                    details.insert("user_type".into(), json!(s.user_type.as_str()));
                    details.insert("user_type_id".into(), json!(s.user_type_id));
                    details.insert("display_name".into(), json!(s.display_name));
                    details.insert("rank_type_id".into(), json!(s.rank_type_id));
                    details.insert("client_id".into(), json!(s.client_id));
                    details.insert("has_reciprocal_id".into(), json!(s.has_reciprocal_id));
                    details.insert("can_enroll_as_rep".into(), json!(s.can_enroll_as_rep));
                }
            }
            Client::Personify(_) | Client::Apinizer(_) => {}
        }
        details
    }
}

/// `x-tenant-id` as `X-Tenant-Id`, for headers printed for people and `curl`.
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_print_in_their_usual_case() {
        assert_eq!(canonical("authorization"), "Authorization");
        assert_eq!(canonical("x-tenant-id"), "X-Tenant-Id");
    }

    #[test]
    fn variables_are_the_crates_own() {
        assert_eq!(Vendor::P21.variable("base_url"), "P21_BASE_URL");
        assert_eq!(
            Vendor::Personify.variable(Vendor::Personify.password_key()),
            "PERSONIFY_CLIENT_SECRET"
        );
        assert_eq!(Vendor::ByDesign.variable("rep_id"), "BYDESIGN_REP_ID");
    }
}
