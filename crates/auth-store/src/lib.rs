#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// One host's shared store (`file`) and sealing records at rest (`seal`), each a leaf on top of
// the kernel's store trait; the Redis store seals with `seal` too.

mod file;
#[cfg(feature = "sealing")]
mod seal;

pub use file::FileStore;
#[cfg(feature = "sealing")]
#[cfg_attr(docsrs, doc(cfg(feature = "sealing")))]
pub use seal::{KeyError, SealedStore, Sealing, SealingKey};
