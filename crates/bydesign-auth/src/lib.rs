#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod client;
mod config;
pub mod wire;

pub use auth_core::{CacheStats, Error, ErrorKind, HttpClient, Result, Secret, Token, TokenCache};
pub use client::Client;
pub use config::{ClientBuilder, Credentials, DEFAULT_TOKEN_PATH, UserType};
pub use wire::Session;

/// The vendor name in errors and logs.
pub const VENDOR: &str = "bydesign";
