//! TLS for every outbound connection (provider APIs through the live edge, and the AWS
//! SDKs' calls to DynamoDB, KMS and EventBridge) runs on rustls with ring.
//!
//! One crypto library for TLS instead of two: the SDKs' default client would build
//! aws-lc-sys as well, 1.3 MiB of every function binary (`cargo bloat`) and a C build.

use std::sync::Once;

/// Makes ring the process's default rustls provider, which reqwest (built with
/// `rustls-no-provider`) uses. Idempotent; called before any client is built.
pub fn install_default_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means another provider was installed first (by an embedding program);
        // that one is then used, which is what installing a default means.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The HTTP client the AWS SDKs use: hyper 1 with rustls on ring, native root
/// certificates, as the SDKs' default client but for the crypto library.
pub fn aws_http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls;
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}
