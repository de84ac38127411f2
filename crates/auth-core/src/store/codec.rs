//! The stored form of a record: a versioned JSON object holding a token (with its wall-clock
//! times and the vendor's details, through the source's codec) or a remembered rejection.
//! Secrets are written from [`Secret::expose_secret`] and read back into [`Secret`]s; nothing
//! goes through `Debug`. A record of another key, another format or that does not parse is
//! treated as absent.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use zeroize::{Zeroize, Zeroizing};

use super::StoreKey;
use crate::clock::{Clock, instant_from_system_time, system_time_from_instant};
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

/// The stored form of `token` under `key`.
pub(crate) fn encode_token(
    key: &StoreKey,
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
        "rejected_until_ms": system_time_from_instant(clock, until).map(unix_ms),
        "status": status,
        "code": code,
        "description": description,
    })))
}

/// Reads a record written by [`encode_token`] or [`encode_rejection`] under `key`.
pub(crate) fn decode(
    key: &StoreKey,
    bytes: &[u8],
    source: &dyn TokenSource,
    clock: &dyn Clock,
) -> Option<Stored> {
    let mut value: Value = serde_json::from_slice(bytes).ok()?;
    let stored = decode_map(key, value.as_object()?, source, clock);
    wipe(&mut value);
    stored
}

fn decode_map(
    key: &StoreKey,
    map: &Map<String, Value>,
    source: &dyn TokenSource,
    clock: &dyn Clock,
) -> Option<Stored> {
    if map.get("format")?.as_u64()? != FORMAT || map.get("key")?.as_str()? != key.as_str() {
        return None;
    }
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
        return Some(Stored::Rejected { error, until });
    }
    let access = text("access_token").filter(|t| crate::token::is_sendable(t))?;
    let obtained = time("obtained_at_ms")?.unwrap_or_else(|| clock.now());
    let expires_ms = map.get("expires_at_ms").and_then(Value::as_u64);
    let mut token = Token::builder(Secret::new(access))
        .token_type(text("token_type").unwrap_or("Bearer"))
        .expires_at(obtained, time("expires_at_ms")?)
        .expires_at_system(expires_ms.and_then(from_unix_ms))
        .refresh_token(text("refresh_token").map(Secret::new));
    if let Some(scope) = text("scope") {
        token = token.scope(scope);
    }
    let details = map.get("details").filter(|d| !d.is_null());
    Some(Stored::Token(
        source.decode_details(token, details)?.build(),
    ))
}
