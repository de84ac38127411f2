//! The TLS settings of an [`HttpClient`](crate::HttpClient), with each backend's way of reading PEM.

use auth_core::error::{ConfigProblem, Error, ErrorKind};
use auth_core::secret::Secret;

fn invalid(setting: &str, why: &str) -> Error {
    Error::unattributed(ErrorKind::config(
        setting,
        ConfigProblem::Invalid(why.into()),
    ))
}

#[cfg(any(
    feature = "rustls-ring",
    feature = "rustls-aws-lc-rs",
    feature = "native-tls"
))]
pub(crate) fn configure(
    mut builder: reqwest::ClientBuilder,
    roots: &[Vec<u8>],
    platform_verifier: bool,
    identity: Option<&Secret>,
    accept_invalid_certs: bool,
) -> Result<reqwest::ClientBuilder, Error> {
    let mut certificates = Vec::new();
    for pem in roots {
        let parsed = reqwest::Certificate::from_pem_bundle(pem)
            .ok()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                invalid(
                    "root certificates",
                    "not one or more PEM certificates (-----BEGIN CERTIFICATE-----)",
                )
            })?;
        certificates.extend(parsed);
    }
    builder = if platform_verifier {
        builder.tls_certs_merge(certificates)
    } else {
        builder.tls_certs_only(certificates)
    };
    if let Some(pem) = identity {
        builder = builder.identity(identity_from_pem(pem.expose_secret().as_bytes())?);
    }
    Ok(builder.tls_danger_accept_invalid_certs(accept_invalid_certs))
}

#[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc-rs"))]
fn identity_from_pem(pem: &[u8]) -> Result<reqwest::Identity, Error> {
    reqwest::Identity::from_pem(pem).map_err(|_| {
        invalid(
            "identity",
            "not a PEM certificate chain with its private key",
        )
    })
}

#[cfg(all(
    feature = "native-tls",
    not(any(feature = "rustls-ring", feature = "rustls-aws-lc-rs"))
))]
fn identity_from_pem(pem: &[u8]) -> Result<reqwest::Identity, Error> {
    // The native backend wants the certificates and the key apart.
    let text = std::str::from_utf8(pem).map_err(|_| invalid("identity", "the PEM is not text"))?;
    let (mut certs, mut key) = (String::new(), String::new());
    let mut block: Option<&mut String> = None;
    for line in text.lines() {
        if line.starts_with("-----BEGIN ") {
            block = Some(if line.contains("PRIVATE KEY") {
                &mut key
            } else {
                &mut certs
            });
        }
        if let Some(into) = block.as_deref_mut() {
            into.push_str(line);
            into.push('\n');
        }
        if line.starts_with("-----END ") {
            block = None;
        }
    }
    let key = Secret::new(key);
    reqwest::Identity::from_pkcs8_pem(certs.as_bytes(), key.expose_secret().as_bytes()).map_err(
        |_| {
            invalid(
                "identity",
                "not a PEM certificate chain with its PKCS #8 key",
            )
        },
    )
}

#[cfg(not(any(
    feature = "rustls-ring",
    feature = "rustls-aws-lc-rs",
    feature = "native-tls"
)))]
pub(crate) fn configure(
    builder: reqwest::ClientBuilder,
    roots: &[Vec<u8>],
    _platform_verifier: bool,
    identity: Option<&Secret>,
    accept_invalid_certs: bool,
) -> Result<reqwest::ClientBuilder, Error> {
    if roots.is_empty() && identity.is_none() && !accept_invalid_certs {
        return Ok(builder);
    }
    Err(invalid(
        "tls",
        "this build has no TLS feature (rustls-ring, rustls-aws-lc-rs or native-tls)",
    ))
}
