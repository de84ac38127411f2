//! Opening the token store a command shares its tokens through.

use std::sync::Arc;

use auth_core::store::TokenStore;

use auth_store::{FileStore, SealedStore, Sealing, SealingKey};

use crate::config::{Settings, StoreSpec};
use crate::failure::Failure;

/// The store `settings` name, sealed when a sealing key is configured; `None` for `--no-store`.
pub(crate) fn open(settings: &Settings) -> Result<Option<Arc<dyn TokenStore>>, Failure> {
    let key = settings
        .sealing_key
        .as_ref()
        .map(|k| {
            SealingKey::from_hex(k.expose_secret()).map_err(|e| {
                Failure::config(format!("the sealing key is not valid: {e}"))
                    .hint("make one with: openssl rand -hex 32")
            })
        })
        .transpose()?;
    let file = |store: FileStore, key: Option<SealingKey>| -> Arc<dyn TokenStore> {
        match key {
            Some(key) => Arc::new(SealedStore::new(store, Sealing::with_key(key))),
            None => Arc::new(store),
        }
    };
    let cannot = |e: auth_core::store::StoreError| {
        Failure::config(e.to_string())
            .hint("name a directory you own with --store file:DIR, or use --no-store")
    };
    match &settings.store {
        StoreSpec::Nowhere => Ok(None),
        StoreSpec::DefaultFile => Ok(Some(file(FileStore::open_default().map_err(cannot)?, key))),
        StoreSpec::File(dir) => Ok(Some(file(FileStore::open(dir).map_err(cannot)?, key))),
        StoreSpec::Redis(url) => redis(url, key),
    }
}

#[cfg(feature = "redis")]
fn redis(url: &str, key: Option<SealingKey>) -> Result<Option<Arc<dyn TokenStore>>, Failure> {
    let Some(key) = key else {
        return Err(Failure::config("a Redis store needs a sealing key").hint(
            "set VENDOR_AUTH_SEALING_KEY (or VENDOR_AUTH_SEALING_KEY_FILE) to the fleet's key, 64 hex digits (openssl rand -hex 32)",
        ));
    };
    let store = auth_store_redis::RedisStore::builder(url)
        .sealing_key(key)
        .build()
        .map_err(|e| Failure::config(e.to_string()))?;
    Ok(Some(Arc::new(store)))
}

#[cfg(not(feature = "redis"))]
fn redis(_url: &str, _key: Option<SealingKey>) -> Result<Option<Arc<dyn TokenStore>>, Failure> {
    Err(
        Failure::config("this build of vendor-auth has no Redis store")
            .hint("install it with the default features: cargo install vendor-auth-cli"),
    )
}
