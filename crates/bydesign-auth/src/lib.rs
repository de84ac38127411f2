#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub use auth_core::{Error, ErrorKind, Result, Secret, Token};
