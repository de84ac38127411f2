//! The vendors, from one list: each vendor crate's client, as its `auth_http::catalog::Vendor`
//! implementation describes it (its settings, its client, its hints and checks). Nothing else in
//! the tool names a vendor.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use auth_core::{CacheOptions, Error, Token, TokenCache};
use auth_http::HttpClient;
use auth_http::catalog::{self, Check, Map, Setting, Trouble, Value};
use auth_http::env::EnvLookup;
use auth_http::vendor::VendorClient;
use reqwest::Url;

/// Every vendor the tool serves, one line each.
static VENDORS: &[Entry] = &[
    Entry::of::<p21_auth::Client>(),
    Entry::of::<personify_auth::Client>(),
    Entry::of::<apinizer_auth::Client>(),
    Entry::of::<bydesign_auth::Client>(),
];

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One vendor: what its crate's `Vendor` implementation says, as plain values and functions.
struct Entry {
    name: &'static str,
    title: &'static str,
    prefix: &'static str,
    settings: &'static [Setting],
    password_key: &'static str,
    url_key: &'static str,
    default_url: Option<&'static str>,
    commands: &'static [(&'static str, &'static str)],
    build: fn(&dyn EnvLookup, HttpClient, CacheOptions) -> Result<Client, Error>,
    token_url: fn(&dyn EnvLookup, &Url) -> Url,
    hint: fn(Trouble, &dyn EnvLookup) -> Option<&'static str>,
    http_note: fn(reqwest::Version) -> Option<String>,
}

impl Entry {
    const fn of<V: catalog::Vendor>() -> Self {
        Self {
            name: V::NAME,
            title: V::TITLE,
            prefix: V::ENV_PREFIX,
            settings: V::SETTINGS,
            password_key: V::PASSWORD_KEY,
            url_key: V::URL_KEY,
            default_url: V::DEFAULT_URL,
            commands: V::COMMANDS,
            build: |vars, http, cache| Ok(Client(Arc::new(V::from_settings(vars, http, cache)?))),
            token_url: V::token_url,
            hint: V::hint,
            http_note: V::http_note,
        }
    }
}

/// A vendor, as named on the command line.
#[derive(Clone, Copy)]
pub(crate) struct Vendor(&'static Entry);

impl fmt::Debug for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name)
    }
}

impl PartialEq for Vendor {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for Vendor {}

impl Vendor {
    /// The vendor named `name`, if the tool serves it.
    pub(crate) fn named(name: &str) -> Option<Vendor> {
        VENDORS.iter().find(|e| e.name == name).map(Vendor)
    }

    /// The command line's parser of a vendor's name; `--help` lists every vendor.
    pub(crate) fn parser() -> impl clap::builder::TypedValueParser<Value = Vendor> {
        use clap::builder::TypedValueParser as _;
        let names = VENDORS
            .iter()
            .map(|e| clap::builder::PossibleValue::new(e.name).help(e.title));
        clap::builder::PossibleValuesParser::new(names).map(|name| {
            // The parser above admits only listed names.
            Vendor::named(&name).unwrap_or(Vendor(&VENDORS[0]))
        })
    }

    /// The name on the command line and in profiles (`[p21.NAME]`).
    pub(crate) fn name(self) -> &'static str {
        self.0.name
    }

    /// The prefix of the vendor crate's environment variables.
    pub(crate) fn prefix(self) -> &'static str {
        self.0.prefix
    }

    /// The settings the vendor crate's `from_env()` reads, as profile keys (the variable is
    /// the prefix and the key in capitals), each with whether it holds a secret.
    pub(crate) fn keys(self) -> impl Iterator<Item = (&'static str, bool)> {
        self.0.settings.iter().map(|s| (s.key(), s.is_secret()))
    }

    /// The key `--password-file` and `--password-stdin` fill.
    pub(crate) fn password_key(self) -> &'static str {
        self.0.password_key
    }

    /// The key of the URL tokens are requested from (its host is the one `doctor` probes).
    pub(crate) fn url_key(self) -> &'static str {
        self.0.url_key
    }

    /// That URL when it is not set, if the vendor crate has a default.
    pub(crate) fn default_url(self) -> Option<&'static str> {
        self.0.default_url
    }

    /// Whether the vendor has its own command `name` (P21's `ui-url`).
    pub(crate) fn has_command(self, name: &str) -> bool {
        self.0.commands.iter().any(|(n, _)| *n == name)
    }

    /// The token endpoint's URL for these settings, as the vendor crate builds it.
    pub(crate) fn token_url(self, vars: &dyn EnvLookup, base: &Url) -> Url {
        (self.0.token_url)(vars, base)
    }

    /// The vendor's advice for `trouble`.
    pub(crate) fn hint(self, trouble: Trouble, vars: &dyn EnvLookup) -> Option<&'static str> {
        (self.0.hint)(trouble, vars)
    }

    /// What the vendor says of the HTTP version its server speaks.
    pub(crate) fn http_note(self, version: reqwest::Version) -> Option<String> {
        (self.0.http_note)(version)
    }

    /// The environment variable of `key`.
    pub(crate) fn variable(self, key: &str) -> String {
        format!("{}_{}", self.prefix(), key.to_ascii_uppercase())
    }

    /// The client the vendor crate's `from_vars` configures from `vars`, sending through
    /// `http`, with `cache` options.
    pub(crate) fn client(
        self,
        vars: &dyn EnvLookup,
        http: HttpClient,
        cache: CacheOptions,
    ) -> Result<Client, Error> {
        (self.0.build)(vars, http, cache)
    }
}

/// A client of one of the vendor crates.
#[derive(Clone, Debug)]
pub(crate) struct Client(Arc<dyn AnyClient>);

/// What the tool does with a vendor crate's client, whichever it is.
trait AnyClient: fmt::Debug + Send + Sync {
    fn core(&self) -> &VendorClient;
    fn authorize(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Boxed<'_, Result<reqwest::RequestBuilder, Error>>;
    fn details(&self, token: &Token) -> Map<String, Value>;
    fn checks<'a>(
        &'a self,
        token: &'a Token,
        vars: &'a (dyn EnvLookup + Sync),
    ) -> Boxed<'a, Vec<Check>>;
    fn command<'a>(&'a self, name: &'a str) -> Boxed<'a, Result<String, Error>>;
}

impl<V: catalog::Vendor> AnyClient for V {
    fn core(&self) -> &VendorClient {
        catalog::Vendor::core(self)
    }

    fn authorize(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Boxed<'_, Result<reqwest::RequestBuilder, Error>> {
        Box::pin(catalog::Vendor::authorize(self, request))
    }

    fn details(&self, token: &Token) -> Map<String, Value> {
        catalog::Vendor::details(self, token)
    }

    fn checks<'a>(
        &'a self,
        token: &'a Token,
        vars: &'a (dyn EnvLookup + Sync),
    ) -> Boxed<'a, Vec<Check>> {
        Box::pin(catalog::Vendor::checks(self, token, vars))
    }

    fn command<'a>(&'a self, name: &'a str) -> Boxed<'a, Result<String, Error>> {
        Box::pin(catalog::Vendor::command(self, name))
    }
}

impl Client {
    /// A valid access token (from the store when another process already has one).
    pub(crate) async fn token(&self) -> Result<Token, Error> {
        self.0.core().token().await
    }

    /// The headers an API call carries (`Authorization`, and any the vendor adds), as the
    /// vendor crate's `authorize` adds them.
    pub(crate) async fn api_headers(&self) -> Result<Vec<(String, String)>, Error> {
        let http = self.reqwest_client();
        // Never sent: only its headers are read.
        let request = http.get("http://127.0.0.1/");
        let request = self
            .0
            .authorize(request)
            .await?
            .build()
            .map_err(|e| Error::transport(self.vendor()).with_source(e))?;
        let mut headers = Vec::new();
        for (name, value) in request.headers() {
            // Printable ASCII only: anything else would reach `curl -H` mangled.
            let Ok(value) = value.to_str() else {
                return Err(Error::malformed(
                    self.vendor(),
                    format!(
                        "the {} header holds characters that cannot be printed as a header",
                        canonical(name.as_str())
                    ),
                    None,
                ));
            };
            headers.push((canonical(name.as_str()), value.to_owned()));
        }
        // `Authorization` first, the vendor's own headers after it.
        headers.sort_by_key(|(name, _)| name != "Authorization");
        Ok(headers)
    }

    /// The `reqwest::Client` tokens are fetched with.
    pub(crate) fn reqwest_client(&self) -> &reqwest::Client {
        self.0.core().reqwest_client()
    }

    pub(crate) fn http_client(&self) -> &auth_http::HttpClient {
        self.0.core().http_client()
    }

    /// The token cache.
    pub(crate) fn cache(&self) -> &TokenCache {
        self.0.core().cache()
    }

    /// The vendor's name.
    pub(crate) fn vendor(&self) -> &'static str {
        self.0.core().vendor()
    }

    /// What the vendor said about the token beyond the token, without a secret.
    pub(crate) fn details(&self, token: &Token) -> Map<String, Value> {
        self.0.details(token)
    }

    /// The vendor's own checks after a token was had.
    pub(crate) async fn checks(&self, token: &Token, vars: &(dyn EnvLookup + Sync)) -> Vec<Check> {
        self.0.checks(token, vars).await
    }

    /// Runs the vendor's own command `name`; what it prints.
    pub(crate) async fn command(&self, name: &str) -> Result<String, Error> {
        self.0.command(name).await
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
        let vendor = |name| Vendor::named(name).expect("a vendor of the list");
        assert_eq!(vendor("p21").variable("base_url"), "P21_BASE_URL");
        let personify = vendor("personify");
        assert_eq!(
            personify.variable(personify.password_key()),
            "PERSONIFY_CLIENT_SECRET"
        );
        assert_eq!(vendor("bydesign").variable("rep_id"), "BYDESIGN_REP_ID");
        assert!(Vendor::named("sap").is_none());
    }

    #[test]
    fn every_vendor_of_the_list_has_a_unique_name_and_prefix() {
        let mut names: Vec<_> = VENDORS.iter().map(|e| (e.name, e.prefix)).collect();
        names.sort_unstable();
        names.dedup_by(|a, b| a.0 == b.0 || a.1 == b.1);
        assert_eq!(names.len(), VENDORS.len());
    }
}
