//! Every outbound HTTP client starts here, so TLS has one crypto provider: rustls on `ring`
//! (sqlx's Postgres TLS uses the same). reqwest's own `rustls` feature would link aws-lc, a
//! second crypto library of ~1 MB, beside it (docs/decisions.md, "Footprint, third pass").

use std::sync::Once;

/// A `reqwest` client builder with the process's TLS provider installed.
pub fn builder() -> reqwest::ClientBuilder {
    install_tls_provider();
    reqwest::Client::builder()
}

/// Installs rustls' `ring` provider as the process default, once. reqwest (built with
/// `rustls-no-provider`) panics when it builds a client without one.
pub fn install_tls_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Fails only when another provider is already installed, which then serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn builds_an_https_capable_client() {
        let client = super::builder().https_only(true).build();
        assert!(client.is_ok(), "{client:?}");
    }
}
