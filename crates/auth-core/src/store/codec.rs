//! The stored form of a record: a versioned JSON object holding a token (with its wall-clock
//! times and the vendor's details, through the source's codec) or a remembered rejection.
//! Secrets are written from [`Secret::expose_secret`] and read back into [`Secret`]s; nothing
//! goes through `Debug`. A record of another key, another format, another verifier (a cache
//! holding another secret) or that does not parse is treated as absent, and what a record claims
//! is held to what a genuine one can: expiry within the token's own JWT `exp` and
//! [`MAX_LIFETIME`](crate::clock::MAX_LIFETIME) from now; a rejection claiming to last longer than
//! the rejection memory is not obeyed.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use zeroize::{Zeroize, Zeroizing};

use super::StoreKey;
use crate::clock::{
    Clock, MAX_LIFETIME, instant_from_system_time, later, system_time_from_instant,
};
use crate::error::{Error, ErrorKind};
use crate::secret::Secret;
use crate::source::TokenSource;
use crate::token::Token;

const FORMAT: u64 = 1;

/// What a record holds once read.
pub(crate) enum Stored {
    Token(Token),
    /// A rejection of the credentials, returned without asking the vendor until `until`.
    Rejected {
        error: Error,
        until: Instant,
    },
}

fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn from_unix_ms(ms: u64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

/// Wipes the strings of a record's members (the secrets among them) before it is dropped.
fn wipe(value: &mut Value) {
    if let Some(map) = value.as_object_mut() {
        for (_, v) in map.iter_mut() {
            if let Value::String(s) = v {
                s.zeroize();
            }
        }
    }
}

/// Serialises `value`, then wipes the secrets it held.
fn finish(mut value: Value) -> Zeroizing<Vec<u8>> {
    let bytes = Zeroizing::new(serde_json::to_vec(&value).unwrap_or_default());
    wipe(&mut value);
    bytes
}

/// The stored form of `token` under `key`, with the verifier of the secret that obtained it.
pub(crate) fn encode_token(
    key: &StoreKey,
    verifier: Option<&str>,
    token: &Token,
    source: &dyn TokenSource,
    clock: &dyn Clock,
) -> Zeroizing<Vec<u8>> {
    let expires = token
        .expires_at()
        .and_then(|at| system_time_from_instant(clock, at));
    let value = json!({
        "format": FORMAT,
        "key": key.as_str(),
        "verifier": verifier,
        "access_token": token.access_token().expose_secret(),
        "token_type": token.token_type(),
        "obtained_at_ms": system_time_from_instant(clock, token.obtained_at()).map(unix_ms),
        "expires_at_ms": expires.map(unix_ms),
        "scope": token.scope(),
        "refresh_token": token.refresh_token().map(Secret::expose_secret),
        "details": source.encode_details(token),
    });
    finish(value)
}

/// The stored form of a rejection of the credentials, remembered until `until`; `None` for any
/// other error (only rejections are shared).
pub(crate) fn encode_rejection(
    key: &StoreKey,
    verifier: Option<&str>,
    err: &Error,
    until: Instant,
    clock: &dyn Clock,
) -> Option<Zeroizing<Vec<u8>>> {
    let ErrorKind::Rejected {
        status,
        code,
        description,
    } = err.kind()
    else {
        return None;
    };
    Some(finish(json!({
        "format": FORMAT,
        "key": key.as_str(),
        "verifier": verifier,
        "rejected_until_ms": system_time_from_instant(clock, until).map(unix_ms),
        "status": status,
        "code": code,
        "description": description,
    })))
}

/// Reads a record written by [`encode_token`] or [`encode_rejection`] under `key` and
/// `verifier`; a rejection is remembered for `rejection_ttl` at most.
pub(crate) fn decode(
    key: &StoreKey,
    verifier: Option<&str>,
    bytes: &[u8],
    source: &dyn TokenSource,
    clock: &dyn Clock,
    rejection_ttl: Duration,
) -> Option<Stored> {
    let mut value: Value = serde_json::from_slice(bytes).ok()?;
    let map = value.as_object()?;
    let ours = map.get("format")?.as_u64()? == FORMAT
        && map.get("key")?.as_str()? == key.as_str()
        && map.get("verifier").and_then(Value::as_str) == verifier;
    let stored = ours
        .then(|| decode_map(map, source, clock, rejection_ttl))
        .flatten();
    wipe(&mut value);
    stored
}

fn decode_map(
    map: &Map<String, Value>,
    source: &dyn TokenSource,
    clock: &dyn Clock,
    rejection_ttl: Duration,
) -> Option<Stored> {
    let text = |name: &str| map.get(name).and_then(Value::as_str);
    let time = |name: &str| -> Option<Option<Instant>> {
        match map.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(v) => {
                let at = from_unix_ms(v.as_u64()?)?;
                Some(Some(instant_from_system_time(clock, at)?))
            }
        }
    };
    if map.contains_key("rejected_until_ms") {
        let until = time("rejected_until_ms")??;
        let status = map
            .get("status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok());
        let error = Error::rejected(
            source.vendor(),
            status,
            text("code").map(str::to_owned),
            text("description").map(str::to_owned),
        );
        // Written at most `rejection_ttl` ago: a rejection lasting longer was not written by a
        // cache (or by one remembering longer than this one would), and is not obeyed.
        return (until <= later(clock.now(), rejection_ttl))
            .then_some(Stored::Rejected { error, until });
    }
    let access = text("access_token").filter(|t| crate::token::is_sendable(t))?;
    let now = clock.now();
    let obtained = time("obtained_at_ms")?.map_or(now, |at| at.min(now));
    // Never past the token's own `exp`, nor further than any token lives.
    let exp = crate::token::jwt_claims_unverified(access)
        .ok()
        .and_then(|claims| claims.get("exp")?.as_u64())
        .and_then(|secs| UNIX_EPOCH.checked_add(Duration::from_secs(secs)));
    let cap = [exp, clock.system_now().checked_add(MAX_LIFETIME)];
    let expires = match map.get("expires_at_ms") {
        None | Some(Value::Null) => exp,
        Some(v) => Some(from_unix_ms(v.as_u64()?)?),
    }
    .map(|at| cap.into_iter().flatten().fold(at, SystemTime::min));
    let on_clock = |at| instant_from_system_time(clock, at).ok_or(());
    let mut token = Token::builder(Secret::new(access))
        .token_type(text("token_type").unwrap_or("Bearer"))
        .expires_at(obtained, expires.map(on_clock).transpose().ok()?)
        .expires_at_system(expires)
        .refresh_token(text("refresh_token").map(Secret::new));
    if let Some(scope) = text("scope") {
        token = token.scope(scope);
    }
    let details = map.get("details").filter(|d| !d.is_null());
    Some(Stored::Token(
        source.decode_details(token, details)?.build(),
    ))
}
