//! The command line: commands, options and the examples `--help` shows.

use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};

use crate::vendor::Vendor;

const ABOUT: &str = "Access tokens for the vendors of the vendor-auth crates (each command's --help lists them), cached and shared with every process on this host";

const LONG_ABOUT: &str = "\
Access tokens for the vendors of the vendor-auth crates (each command's --help lists them),
cached and shared with every process on this host.

Settings are the vendor crates' environment variables (P21_BASE_URL, P21_USERNAME, ...), or a
named profile. Secrets never go on the command line: they come from the environment, from a file
(--password-file, or any variable with _FILE added, as container secrets are mounted), or from
stdin (--password-stdin).

Tokens are kept in a token store shared with everything else on the host that uses it: by
default a `vendor-auth` directory in your cache directory. A loop that calls `vendor-auth token
p21` a hundred times makes one token request, and a service configured with the same store
shares the same token (and, for P21, the same session).

Exit status: 0 success; 1 the vendor or the network said no (or a doctor check failed);
2 a usage or configuration error.";

const EXAMPLES: &str = "\
Examples:
  # a P21 token from the environment, for curl
  export P21_BASE_URL=https://acme-api.epicordistribution.com P21_USERNAME=api_user
  export P21_PASSWORD_FILE=/run/secrets/p21_password
  vendor-auth token p21 --header | curl -H @- \"$P21_BASE_URL/odataservice/odata/table/supplier\"

  # why is P21 saying no?
  vendor-auth doctor p21

  # a named profile from ~/.config/vendor-auth/config.toml ([p21.prod])
  vendor-auth token p21 --profile prod --json";

const PROFILES: &str = "\
Profiles (--profile NAME) are tables named [VENDOR.NAME] in the config file (--config FILE,
VENDOR_AUTH_CONFIG, default config.toml in a `vendor-auth` directory of your config directory).
Keys are the variables' names without the vendor prefix, in lower case; any secret may be given
as KEY_file instead; a profile may also set store, sealing_key_file, ca_file, insecure,
http1_only and no_env_proxy:

  [p21.prod]
  base_url = \"https://acme-api.epicordistribution.com\"
  username = \"api_user\"
  password_file = \"/run/secrets/p21_password\"

The file must be readable by you alone (chmod 600). A profile's values come before the
environment's.";

/// The `vendor-auth` command line.
#[derive(Debug, Parser)]
#[command(
    name = "vendor-auth",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXAMPLES,
    after_long_help = format!("{EXAMPLES}\n\n{PROFILES}"),
    propagate_version = true
)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub(crate) command: Command,
    #[command(flatten)]
    pub(crate) global: Global,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Prints an access token and a newline on stdout, nothing else
    #[command(after_help = "\
Examples:
  vendor-auth token p21
  vendor-auth token personify --header | curl -H @- https://api.example.org/api/v1/members
  vendor-auth token bydesign --json | jq -r .expires_at
  cat /run/secrets/p21 | vendor-auth token p21 --password-stdin")]
    Token {
        /// The vendor
        #[arg(value_parser = Vendor::parser())]
        vendor: Vendor,
        /// Prints `Authorization: Bearer …` (and Personify's `X-Tenant-Id: …`), for `curl -H @-`
        #[arg(long, conflicts_with = "json")]
        header: bool,
        /// Prints one JSON object: the token, its type, expiry (RFC 3339), scope and the vendor's
        /// non-secret details
        #[arg(long)]
        json: bool,
    },
    /// Prints the token's JWT claims as JSON, unverified (the signature is not checked)
    #[command(after_help = "\
Examples:
  vendor-auth claims p21
  vendor-auth claims p21 | jq .claims.exp")]
    Claims {
        /// The vendor
        #[arg(value_parser = Vendor::parser())]
        vendor: Vendor,
    },
    /// Prints P21's UI server URL (for the Interactive and Transaction APIs)
    #[command(after_help = "\
Examples:
  vendor-auth ui-url p21
  curl -H \"$(vendor-auth token p21 --header)\" \"$(vendor-auth ui-url p21)/api/v2/...\"")]
    UiUrl {
        /// The vendor (p21)
        #[arg(value_parser = Vendor::parser())]
        vendor: Vendor,
    },
    /// Checks that the token works with Apinizer's hello endpoint
    #[command(after_help = "\
Examples:
  vendor-auth verify apinizer && echo the token works")]
    Verify {
        /// The vendor (apinizer)
        #[arg(value_parser = Vendor::parser())]
        vendor: Vendor,
    },
    /// Checks the setup step by step (URL, DNS, TCP, TLS, token endpoint, credentials, clock,
    /// the vendor's next step) and says what to fix; never shows a secret or the token
    #[command(after_help = "\
Examples:
  vendor-auth doctor p21
  vendor-auth doctor personify --profile staging")]
    Doctor {
        /// The vendor
        #[arg(value_parser = Vendor::parser())]
        vendor: Vendor,
    },
}

/// Options every command takes.
#[derive(Debug, clap::Args)]
pub(crate) struct Global {
    /// A named profile ([VENDOR.NAME] in the config file); also VENDOR_AUTH_PROFILE
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) profile: Option<String>,
    /// The config file of profiles; also VENDOR_AUTH_CONFIG
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Where tokens are shared: file:DIR or redis://… (also VENDOR_AUTH_STORE); default: a
    /// `vendor-auth` directory in your cache directory
    #[arg(long, global = true, value_name = "STORE")]
    pub(crate) store: Option<String>,
    /// Neither reads nor keeps a shared token (a one-off token request)
    #[arg(long, global = true, conflicts_with = "store")]
    pub(crate) no_store: bool,
    /// Drops the shared token (or a remembered refusal) and asks the vendor again; for P21 this
    /// opens a new session, which closes the one other processes share
    #[arg(long, global = true, conflicts_with = "no_store")]
    pub(crate) refresh: bool,
    /// Reads the password (Personify: the client secret) from FILE
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        conflicts_with = "password_stdin"
    )]
    pub(crate) password_file: Option<PathBuf>,
    /// Reads the password (Personify: the client secret) from stdin
    #[arg(long, global = true)]
    pub(crate) password_stdin: bool,
    /// Trusts the PEM certificates in FILE (a tenant's own certificate) besides the system's
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) ca_file: Option<PathBuf>,
    /// DANGEROUS: accepts any TLS certificate (self-signed play and test tenants only; anyone on
    /// the network path can then read the password)
    #[arg(long, global = true)]
    pub(crate) insecure: bool,
    /// Speaks only HTTP/1.1 (some P21 middleware mishandles HTTP/2)
    #[arg(long, global = true)]
    pub(crate) http1_only: bool,
    /// Connects directly: ignores HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY (read by
    /// default, lower-case forms too; loopback hosts are always reached directly)
    #[arg(long, global = true)]
    pub(crate) no_env_proxy: bool,
    /// Shows the causes of an error (repeatable)
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Logs to stderr with a RUST_LOG-style filter (e.g. `debug`, `p21_auth=trace`); also
    /// VENDOR_AUTH_LOG
    #[arg(long, global = true, value_name = "FILTER")]
    pub(crate) log: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn every_command_has_an_example() {
        for sub in Args::command().get_subcommands() {
            let help = sub.get_after_help().map(ToString::to_string);
            assert!(
                help.as_deref()
                    .is_some_and(|h| h.contains("Examples:") && h.contains("vendor-auth ")),
                "{} has no example",
                sub.get_name()
            );
        }
    }
}
