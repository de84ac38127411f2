//! What one emulated vendor registers ([`Vendor`]): its endpoints, its routes and handler, its
//! gauges, its flags and demo accounts for the binary, and the environment its crate's
//! `from_env()` reads for them. The sandbox, its binary and the tools built on it loop over the
//! one list of these in `lib.rs`; no other code names a vendor.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::time::Duration;

use crate::{Answer, Endpoint, Req, Sandbox, State};

/// One emulated vendor.
pub(crate) struct Vendor {
    /// Its short name: the path prefix it is served under (`/p21/...`), its gauges' group.
    pub(crate) name: &'static str,
    /// Every endpoint it serves.
    pub(crate) endpoints: &'static [Endpoint],
    /// Which endpoint `method` and the path's segments after the prefix reach.
    pub(crate) route: fn(method: &str, segments: &[&str]) -> Option<Endpoint>,
    /// Answers a request that reached one of its endpoints.
    pub(crate) handle: fn(&mut State, Endpoint, &Req) -> Answer,
    /// Its gauges (live sessions, refresh tokens...), by name.
    pub(crate) gauges: fn(&mut State) -> Vec<(&'static str, u64)>,
    /// Sets the lifetime of the tokens it issues from now on.
    pub(crate) set_token_lifetime: fn(&Sandbox, Duration),
    /// The binary's flags that configure it.
    pub(crate) flags: &'static [Flag],
    /// The flags (and values) that set up its demo accounts when no account flag is given.
    pub(crate) demo: &'static [(&'static str, &'static str)],
    /// One line describing the demo accounts, for the binary's banner.
    pub(crate) demo_text: &'static str,
    /// Where it is served, for the binary's banner: a label and a URL.
    pub(crate) location: fn(&Sandbox) -> (&'static str, String),
    /// The variables the vendor crate's `from_env()` reads, set for the demo accounts.
    pub(crate) demo_env: fn(&Sandbox) -> Vec<(&'static str, String)>,
}

/// A flag of the binary: `--NAME VALUE` (or `--NAME` alone when it takes no value).
pub(crate) struct Flag {
    /// The flag without its dashes.
    pub(crate) name: &'static str,
    /// What its value looks like (`NAME:PASSWORD`), or `None` for a switch.
    pub(crate) value: Option<&'static str>,
    /// One line of help.
    pub(crate) help: &'static str,
    /// Whether it adds an account (any account flag turns the demo accounts off).
    pub(crate) account: bool,
    /// Applies it (a switch gets ""); may return a line to print.
    pub(crate) apply: fn(&Sandbox, &str) -> Result<Option<String>, String>,
}

/// `value` split at ':' into exactly `N` parts, the last taking the rest.
pub(crate) fn split<const N: usize>(flag: &str, value: &str) -> Result<[String; N], String> {
    let parts: Vec<String> = value.splitn(N, ':').map(str::to_owned).collect();
    parts
        .try_into()
        .map_err(|_| format!("--{flag} takes {N} parts separated by ':'"))
}

/// Each vendor's own state, created on first use.
#[derive(Default)]
pub(crate) struct States(HashMap<TypeId, Box<dyn Any + Send>>);

impl States {
    /// The state of type `T` (one vendor's), created empty the first time.
    pub(crate) fn of<T: Default + Send + 'static>(&mut self) -> &mut T {
        self.0
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()))
            .downcast_mut()
            .unwrap_or_else(|| unreachable!("entries are keyed by their own type"))
    }
}

/// Fresh, obviously fake identifiers (`sandbox-p21-session-7`), numbered across vendors.
#[derive(Default)]
pub(crate) struct Ids(u64);

impl Ids {
    /// The next number.
    pub(crate) fn bump(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }

    /// A fresh identifier with `prefix`.
    pub(crate) fn next(&mut self, prefix: &str) -> String {
        format!("sandbox-{prefix}-{}", self.bump())
    }
}
