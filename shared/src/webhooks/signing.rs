//! Signing as each provider signs: what the tests, the load test, the bench and the
//! README's examples use to make deliveries this receiver must accept. Each function
//! is the mirror of a check in [`super::verify`], written from the provider's
//! documentation rather than from that check.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::verify::{
    declared_signed_bytes, hmac_sha1, hmac_sha256, hubspot_uri, twilio_signed_text,
};
use crate::catalog::{DigestEncoding, HmacFormat};

/// `Stripe-Signature` for a body sent at `timestamp`.
pub fn stripe(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let digest = hmac_sha256(secret.as_bytes(), &[t.as_bytes(), b".", body]);
    format!("t={t},v1={}", hex::encode(digest))
}

/// `X-Slack-Signature` for a body sent with `X-Slack-Request-Timestamp: timestamp`.
pub fn slack(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let digest = hmac_sha256(secret.as_bytes(), &[b"v0:", t.as_bytes(), b":", body]);
    format!("v0={}", hex::encode(digest))
}

/// `X-Twilio-Signature` for form parameters posted to `url`.
pub fn twilio(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let text = twilio_signed_text(url, params);
    B64.encode(hmac_sha1(auth_token.as_bytes(), &[text.as_bytes()]))
}

/// `X-HubSpot-Signature-v3` for a request sent at `timestamp_ms`.
pub fn hubspot_v3(
    client_secret: &str,
    method: &str,
    url: &str,
    body: &[u8],
    timestamp_ms: i64,
) -> String {
    let uri = hubspot_uri(url);
    let t = timestamp_ms.to_string();
    B64.encode(hmac_sha256(
        client_secret.as_bytes(),
        &[method.as_bytes(), uri.as_bytes(), body, t.as_bytes()],
    ))
}

/// `Linear-Signature`: hex HMAC-SHA256 of the body.
pub fn linear(secret: &str, body: &[u8]) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), &[body]))
}

/// `X-Notion-Signature`: `sha256=` and the hex HMAC-SHA256 of the body.
pub fn notion(verification_token: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(verification_token.as_bytes(), &[body]))
    )
}

/// `X-Hub-Signature` (Intercom): `sha1=` and the hex HMAC-SHA1 of the body.
pub fn hub_sha1(secret: &str, body: &[u8]) -> String {
    format!(
        "sha1={}",
        hex::encode(hmac_sha1(secret.as_bytes(), &[body]))
    )
}

/// Mailgun's `signature.signature` for a timestamp and token.
pub fn mailgun(signing_key: &str, timestamp: &str, token: &str) -> String {
    hex::encode(hmac_sha256(
        signing_key.as_bytes(),
        &[timestamp.as_bytes(), token.as_bytes()],
    ))
}

/// An `Authorization: Basic` value.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", B64.encode(format!("{user}:{password}")))
}

/// A Custom HTTP integration's declared HMAC-SHA256 signature header value.
pub fn declared(secret: &str, format: &HmacFormat, timestamp: Option<&str>, body: &[u8]) -> String {
    let signed = declared_signed_bytes(&format.signed, timestamp, body);
    let digest = hmac_sha256(secret.as_bytes(), &[&signed]);
    let encoded = match format.encoding {
        DigestEncoding::Hex => hex::encode(digest),
        DigestEncoding::Base64 => B64.encode(digest),
    };
    format!("{}{encoded}", format.prefix)
}
