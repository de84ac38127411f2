//! Sealing records at rest: AES-256-GCM from `ring`, a random 96-bit nonce per record, and the
//! record's Redis key and fence as associated data, so that a sealed record cannot be moved to
//! another key or replayed under another fence without failing to open.

use std::fmt;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// The first byte of a sealed record (the format, so that it can change).
const SEALED_V1: u8 = 1;
/// The first byte of a record stored unsealed (after the explicit opt-in).
const PLAIN_V1: u8 = 0;

/// A 256-bit key that seals tokens at rest in Redis (AES-256-GCM). Every process of the fleet
/// needs the same key; keep it where you keep the credentials themselves.
///
/// ```
/// use auth_store_redis::SealingKey;
///
/// // 64 hex digits, e.g. from `openssl rand -hex 32`:
/// let key = SealingKey::from_hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")?;
/// assert_eq!(format!("{key:?}"), "SealingKey(<redacted>)");
/// assert!(SealingKey::from_hex("too short").is_err());
/// # Ok::<(), auth_store_redis::KeyError>(())
/// ```
pub struct SealingKey {
    key: LessSafeKey,
}

/// A sealing key that is not 32 bytes (64 hex digits).
#[derive(Debug)]
pub struct KeyError(());

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sealing key is 32 bytes, given as 64 hex digits")
    }
}

impl std::error::Error for KeyError {}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

impl SealingKey {
    /// A key from its 32 bytes.
    ///
    /// # Errors
    /// `bytes` is not 32 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() != 32 {
            return Err(KeyError(()));
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| KeyError(()))?;
        Ok(Self {
            key: LessSafeKey::new(key),
        })
    }

    /// A key from 64 hex digits (surrounding whitespace ignored).
    ///
    /// # Errors
    /// `hex` is not 64 hex digits.
    pub fn from_hex(hex: &str) -> Result<Self, KeyError> {
        let hex = hex.trim().as_bytes();
        if hex.len() != 64 {
            return Err(KeyError(()));
        }
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            let digit = |c: u8| (c as char).to_digit(16).ok_or(KeyError(()));
            *byte =
                u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).map_err(|_| KeyError(()))?;
        }
        Self::from_bytes(&bytes[..])
    }
}

/// How records are kept: sealed with a key (and opened with it or older ones), or plain.
pub(crate) enum Sealing {
    Sealed {
        current: Box<SealingKey>,
        older: Vec<SealingKey>,
        random: SystemRandom,
    },
    Plain,
}

impl Sealing {
    /// The stored bytes of `value` under `key` and `fence`.
    pub(crate) fn seal(&self, key: &str, fence: u64, value: &[u8]) -> Option<Vec<u8>> {
        match self {
            Sealing::Plain => {
                let mut out = Vec::with_capacity(value.len() + 1);
                out.push(PLAIN_V1);
                out.extend_from_slice(value);
                Some(out)
            }
            Sealing::Sealed {
                current, random, ..
            } => {
                let mut nonce = [0u8; NONCE_LEN];
                random.fill(&mut nonce).ok()?;
                let mut out = Vec::with_capacity(1 + NONCE_LEN + value.len() + 16);
                out.push(SEALED_V1);
                out.extend_from_slice(&nonce);
                let start = out.len();
                out.extend_from_slice(value);
                let mut body = out.split_off(start);
                current
                    .key
                    .seal_in_place_append_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(aad(key, fence)),
                        &mut body,
                    )
                    .ok()?;
                out.extend_from_slice(&body);
                Some(out)
            }
        }
    }

    /// The value stored as `stored` under `key` and `fence`; `None` if it does not open (another
    /// key, tampered with, moved, or a plain record where sealed ones are expected).
    pub(crate) fn open(&self, key: &str, fence: u64, stored: &[u8]) -> Option<Vec<u8>> {
        let (&format, rest) = stored.split_first()?;
        match (self, format) {
            (Sealing::Plain, PLAIN_V1) => Some(rest.to_vec()),
            (Sealing::Sealed { current, older, .. }, SEALED_V1) => {
                if rest.len() < NONCE_LEN {
                    return None;
                }
                let (nonce, sealed) = rest.split_at(NONCE_LEN);
                std::iter::once(&**current).chain(older).find_map(|k| {
                    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
                    let mut buf = sealed.to_vec();
                    match k
                        .key
                        .open_in_place(nonce, Aad::from(aad(key, fence)), &mut buf)
                    {
                        Ok(plain) => Some(plain.to_vec()),
                        Err(_) => {
                            zeroize::Zeroize::zeroize(&mut buf);
                            None
                        }
                    }
                })
            }
            _ => None,
        }
    }
}

fn aad(key: &str, fence: u64) -> Vec<u8> {
    format!("vendor-auth/1|{key}|{fence}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(key: u8, older: &[u8]) -> Sealing {
        Sealing::Sealed {
            current: Box::new(SealingKey::from_bytes(&[key; 32]).expect("key")),
            older: older
                .iter()
                .map(|k| SealingKey::from_bytes(&[*k; 32]).expect("key"))
                .collect(),
            random: SystemRandom::new(),
        }
    }

    #[test]
    fn sealed_records_open_only_with_the_key_the_redis_key_and_the_fence() {
        let s = sealed(1, &[]);
        let stored = s.seal("k", 7, b"secret token").expect("sealed");
        assert!(
            !stored.windows(6).any(|w| w == b"secret"),
            "not in the clear"
        );
        assert_eq!(
            s.open("k", 7, &stored).as_deref(),
            Some(&b"secret token"[..])
        );
        assert_eq!(s.open("other", 7, &stored), None, "moved to another key");
        assert_eq!(
            s.open("k", 8, &stored),
            None,
            "replayed under another fence"
        );
        assert_eq!(sealed(2, &[]).open("k", 7, &stored), None, "another key");
        assert_eq!(
            sealed(2, &[1]).open("k", 7, &stored).as_deref(),
            Some(&b"secret token"[..]),
            "an older key still opens what it sealed"
        );
        let mut tampered = stored.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert_eq!(s.open("k", 7, &tampered), None);
        assert_eq!(s.open("k", 7, &stored[..5]), None, "truncated");
        assert_ne!(
            s.seal("k", 7, b"x"),
            s.seal("k", 7, b"x"),
            "a fresh nonce each time"
        );
    }

    #[test]
    fn plain_and_sealed_records_do_not_mix() {
        let plain = Sealing::Plain.seal("k", 1, b"token").expect("plain");
        assert_eq!(
            Sealing::Plain.open("k", 1, &plain).as_deref(),
            Some(&b"token"[..])
        );
        assert_eq!(sealed(1, &[]).open("k", 1, &plain), None);
        let sealed_record = sealed(1, &[]).seal("k", 1, b"token").expect("sealed");
        assert_eq!(Sealing::Plain.open("k", 1, &sealed_record), None);
        assert_eq!(Sealing::Plain.open("k", 1, &[]), None);
    }

    #[test]
    fn keys_must_be_32_bytes() {
        assert!(SealingKey::from_bytes(&[0; 31]).is_err());
        assert!(SealingKey::from_hex(&"0".repeat(63)).is_err());
        assert!(SealingKey::from_hex(&"g".repeat(64)).is_err());
        assert!(SealingKey::from_hex(&format!(" {} ", "aB".repeat(32))).is_ok());
    }
}
