//! The signature schemes: each provider's own proof that a delivery came from it,
//! checked on the raw bytes before anything is parsed or stored.
//!
//! Every comparison of something derived from a secret is constant-time (`subtle`), so
//! the time an answer takes says nothing about how much of a forged signature was
//! right. Reasons for a refusal name what was wrong, never a secret or a digest.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use p256::ecdsa::signature::Verifier;
use p256::pkcs8::DecodePublicKey;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::catalog::{DigestEncoding, HmacFormat, SignatureScheme, Webhooks};

/// What a scheme looks at: the request as the provider sent it.
pub struct Signed<'a> {
    /// The HTTP method, upper case.
    pub method: &'a str,
    /// The URL the provider called (scheme, host, path and query), for the schemes that
    /// sign it (Twilio, HubSpot).
    pub url: &'a str,
    /// The request's headers, as received.
    pub headers: &'a HeaderMap,
    /// The raw body, exactly as received.
    pub body: &'a [u8],
    /// Unix seconds, from the injected clock.
    pub now: i64,
}

/// Why a delivery was refused (answered 401, or 429 past the limit). Safe to log; the
/// answer does not say it (every refusal answers alike, see `http::hooks`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// Something the scheme needs is absent (a header, a field of the body), named.
    #[error("missing {0}")]
    Missing(String),
    /// Something the scheme needs does not parse (a header, a digest, a key), named.
    #[error("malformed {0}")]
    Malformed(String),
    /// The signature (or shared secret) is not the one the integration's secret gives.
    #[error("the signature does not match")]
    Mismatch,
    /// The signed timestamp is too old or too far ahead: outside the window, in
    /// seconds.
    #[error("the signed timestamp is outside the accepted window of {0} s")]
    Stale(i64),
    /// The integration has no value for the credential field the scheme needs (named).
    #[error("no webhook secret is set for this integration (credential field {0})")]
    NoSecret(String),
    /// No such project or integration, or its provider sends no webhooks.
    #[error("no webhook endpoint at this URL")]
    UnknownTarget,
    /// Not checked: too many failed verifications for this webhook URL this minute.
    #[error("not checked: too many failed verifications for this webhook URL this minute")]
    Unchecked,
}

/// What a successful check learned that later steps need.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Mailgun's single-use signature token: recorded so it is never accepted twice.
    pub token: Option<String>,
}

pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // new_from_slice never fails for HMAC (any key length is valid).
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable_hmac());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

pub fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable_hmac());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn unreachable_hmac<T>() -> T {
    // HMAC accepts keys of every length; hmac's error type exists for other MACs.
    panic!("HMAC refused a key, which it never does")
}

/// Constant-time equality of a digest and a candidate (lengths are not secret).
fn same(expected: &[u8], candidate: &[u8]) -> bool {
    expected.len() == candidate.len() && bool::from(expected.ct_eq(candidate))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, Rejected> {
    headers
        .get(name)
        .ok_or_else(|| Rejected::Missing(format!("{name} header")))?
        .to_str()
        .map(str::trim)
        .map_err(|_| Rejected::Malformed(format!("{name} header")))
}

fn unix_seconds(raw: &str, what: &str) -> Result<i64, Rejected> {
    raw.trim()
        .parse::<i64>()
        .map_err(|_| Rejected::Malformed(what.to_owned()))
}

/// Refuses a timestamp further than `window` seconds from now, either way (a clock a
/// little ahead is as suspicious as one far behind).
fn within(timestamp: i64, now: i64, window: i64) -> Result<(), Rejected> {
    // `abs_diff`: a timestamp is the sender's text, and may be any i64 (a subtraction
    // would overflow at either end of the range).
    if now.abs_diff(timestamp) > window.unsigned_abs() {
        Err(Rejected::Stale(window))
    } else {
        Ok(())
    }
}

/// Checks a delivery against the provider's scheme.
///
/// `secret` is the credential named by `secret_fields`; `max_age` bounds signed
/// timestamps the provider gives no window for (SendGrid, Mailgun), so that a replay
/// is refused once its dedupe marker has expired; `signature_header` is the header
/// the scheme reads (FHIR's comes from config).
pub fn verify(
    hooks: &Webhooks,
    signature_header: Option<&str>,
    secret: &str,
    request: &Signed<'_>,
    max_age: i64,
) -> Result<Verified, Rejected> {
    let named = |default: &str| signature_header.unwrap_or(default).to_owned();
    let window = |default: i64| hooks.tolerance_secs.map(|t| t as i64).unwrap_or(default);
    let key = secret.as_bytes();
    match hooks.signature {
        SignatureScheme::StripeV1 => stripe_v1(
            header(request.headers, &named("Stripe-Signature"))?,
            key,
            request,
            window(300),
        ),
        SignatureScheme::SlackV0 => {
            let stamp = hooks.timestamp_header.as_deref();
            let timestamp = header(
                request.headers,
                stamp.unwrap_or("X-Slack-Request-Timestamp"),
            )?;
            let signature = header(request.headers, &named("X-Slack-Signature"))?;
            slack_v0(signature, timestamp, key, request, window(300))
        }
        SignatureScheme::Twilio => twilio(
            header(request.headers, &named("X-Twilio-Signature"))?,
            key,
            request,
        ),
        SignatureScheme::HubspotV3 => {
            let timestamp = header(
                request.headers,
                hooks
                    .timestamp_header
                    .as_deref()
                    .unwrap_or("X-HubSpot-Request-Timestamp"),
            )?;
            let signature = header(request.headers, &named("X-HubSpot-Signature-v3"))?;
            hubspot_v3(signature, timestamp, key, request, window(300))
        }
        SignatureScheme::SendgridEcdsa => {
            let timestamp = header(
                request.headers,
                hooks
                    .timestamp_header
                    .as_deref()
                    .unwrap_or("X-Twilio-Email-Event-Webhook-Timestamp"),
            )?;
            let signature = header(
                request.headers,
                &named("X-Twilio-Email-Event-Webhook-Signature"),
            )?;
            sendgrid_ecdsa(signature, timestamp, secret, request, window(max_age))
        }
        SignatureScheme::Linear => linear(
            header(request.headers, &named("Linear-Signature"))?,
            key,
            request,
            window(60),
        ),
        SignatureScheme::Notion => {
            let signature = header(request.headers, &named("X-Notion-Signature"))?;
            prefixed_hmac_sha256(signature, "sha256=", key, request.body)
        }
        SignatureScheme::HubSignatureSha1 => {
            let signature = header(request.headers, &named("X-Hub-Signature"))?;
            let hex_digest = signature
                .strip_prefix("sha1=")
                .ok_or_else(|| Rejected::Malformed("X-Hub-Signature (sha1=...)".into()))?;
            let candidate = hex::decode(hex_digest)
                .map_err(|_| Rejected::Malformed("X-Hub-Signature digest".into()))?;
            if same(&hmac_sha1(key, &[request.body]), &candidate) {
                Ok(Verified::default())
            } else {
                Err(Rejected::Mismatch)
            }
        }
        SignatureScheme::MailgunBody => mailgun(key, request, window(max_age)),
        SignatureScheme::BasicAuth => {
            basic_auth(header(request.headers, &named("Authorization"))?, key)
        }
        SignatureScheme::HeaderSecret => {
            let value = header(request.headers, &named("Authorization"))?;
            let bearer = value
                .get(..7)
                .filter(|p| p.eq_ignore_ascii_case("bearer "))
                .map(|_| &value[7..]);
            // The Subscription declares the whole header value; people store either it
            // or the token after "Bearer ".
            if same(key, value.as_bytes()) || bearer.is_some_and(|b| same(key, b.trim().as_bytes()))
            {
                Ok(Verified::default())
            } else {
                Err(Rejected::Mismatch)
            }
        }
        SignatureScheme::HmacSha256 => {
            let format = hooks.hmac.clone().unwrap_or(HmacFormat {
                encoding: DigestEncoding::Hex,
                prefix: String::new(),
                signed: "{body}".into(),
            });
            let timestamp = match &hooks.timestamp_header {
                Some(name) => Some(header(request.headers, name)?),
                None => None,
            };
            declared_hmac(
                header(request.headers, &named("X-Signature"))?,
                timestamp,
                &format,
                key,
                request,
                window(300),
            )
        }
    }
}

/// The refusals that need no secret: a missing signature header, or a timestamp the
/// scheme carries in a header outside its window. Run before the secret is decrypted,
/// so a stale replay or an unsigned request costs no decryption and no audit record;
/// [`verify`] checks everything again, signature first.
pub fn precheck(
    hooks: &Webhooks,
    signature_header: Option<&str>,
    request: &Signed<'_>,
    max_age: i64,
) -> Result<(), Rejected> {
    if let Some(name) = signature_header {
        header(request.headers, name)?;
    }
    let window = |default: i64| hooks.tolerance_secs.map(|t| t as i64).unwrap_or(default);
    let timestamp = |default: &str| {
        header(
            request.headers,
            hooks.timestamp_header.as_deref().unwrap_or(default),
        )
    };
    match hooks.signature {
        SignatureScheme::StripeV1 => {
            let value = header(
                request.headers,
                signature_header.unwrap_or("Stripe-Signature"),
            )?;
            let t = value
                .split(',')
                .find_map(|item| item.trim().strip_prefix("t="))
                .ok_or_else(|| Rejected::Malformed("Stripe-Signature (no t=)".into()))?;
            within(
                unix_seconds(t, "Stripe-Signature timestamp")?,
                request.now,
                window(300),
            )
        }
        SignatureScheme::SlackV0 => within(
            unix_seconds(
                timestamp("X-Slack-Request-Timestamp")?,
                "X-Slack-Request-Timestamp",
            )?,
            request.now,
            window(300),
        ),
        SignatureScheme::HubspotV3 => within(
            unix_seconds(
                timestamp("X-HubSpot-Request-Timestamp")?,
                "X-HubSpot-Request-Timestamp",
            )?
            .div_euclid(1000),
            request.now,
            window(300),
        ),
        SignatureScheme::SendgridEcdsa => within(
            unix_seconds(
                timestamp("X-Twilio-Email-Event-Webhook-Timestamp")?,
                "X-Twilio-Email-Event-Webhook-Timestamp",
            )?,
            request.now,
            window(max_age),
        ),
        _ => Ok(()),
    }
}

/// Stripe: `t=<unix>,v1=<hex>[,v1=<hex>...]` over `"{t}.{body}"`. Several v1 entries
/// appear while a secret is being rolled; any one matching is enough.
fn stripe_v1(
    value: &str,
    key: &[u8],
    request: &Signed<'_>,
    window: i64,
) -> Result<Verified, Rejected> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for item in value.split(',') {
        match item.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t),
            Some(("v1", v)) => candidates.push(v),
            _ => {}
        }
    }
    let timestamp =
        timestamp.ok_or_else(|| Rejected::Malformed("Stripe-Signature (no t=)".into()))?;
    if candidates.is_empty() {
        return Err(Rejected::Malformed("Stripe-Signature (no v1=)".into()));
    }
    let expected = hmac_sha256(key, &[timestamp.as_bytes(), b".", request.body]);
    let matched = candidates
        .iter()
        .filter_map(|c| hex::decode(c).ok())
        .fold(false, |found, c| found | same(&expected, &c));
    if !matched {
        return Err(Rejected::Mismatch);
    }
    within(
        unix_seconds(timestamp, "Stripe-Signature timestamp")?,
        request.now,
        window,
    )?;
    Ok(Verified::default())
}

/// Slack: `v0=<hex>` of `"v0:{timestamp}:{body}"`.
fn slack_v0(
    signature: &str,
    timestamp: &str,
    key: &[u8],
    request: &Signed<'_>,
    window: i64,
) -> Result<Verified, Rejected> {
    let seconds = unix_seconds(timestamp, "X-Slack-Request-Timestamp")?;
    within(seconds, request.now, window)?;
    let digest = signature
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or_else(|| Rejected::Malformed("X-Slack-Signature (v0=<hex>)".into()))?;
    let expected = hmac_sha256(key, &[b"v0:", timestamp.as_bytes(), b":", request.body]);
    if same(&expected, &digest) {
        Ok(Verified::default())
    } else {
        Err(Rejected::Mismatch)
    }
}

/// Twilio's signed text: the URL, then every parameter name followed by its value,
/// names sorted, a name's values sorted (duplicates once), as Twilio's libraries do.
pub fn twilio_signed_text(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> =
        Default::default();
    for (name, value) in params {
        sorted.entry(name).or_default().insert(value);
    }
    let mut text = url.to_owned();
    for (name, values) in sorted {
        for value in values {
            text.push_str(name);
            text.push_str(value);
        }
    }
    text
}

/// The same URL with the scheme's default port written out, and without it: Twilio
/// signs the URL as configured, and a proxy may add or drop the port on the way.
fn port_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Ok(mut parsed) = url::Url::parse(url) else {
        return variants;
    };
    let default = match parsed.scheme() {
        "https" => 443,
        "http" => 80,
        _ => return variants,
    };
    // Url hides a default port, so an explicit one is spliced in by hand.
    let without = {
        let _ = parsed.set_port(None);
        parsed.to_string()
    };
    let host = parsed.host_str().unwrap_or_default().to_owned();
    let with = without.replacen(&format!("://{host}"), &format!("://{host}:{default}"), 1);
    for candidate in [without, with] {
        if !variants.contains(&candidate) {
            variants.push(candidate);
        }
    }
    variants
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// Whether a delivery's body is a form (`application/x-www-form-urlencoded`).
pub(super) fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
}

/// Twilio: base64 HMAC-SHA1 (auth token) of the URL and the sorted form parameters.
/// A JSON body is signed through the URL instead: its SHA-256 is in the `bodySHA256`
/// query parameter, and no parameters are appended.
fn twilio(signature: &str, key: &[u8], request: &Signed<'_>) -> Result<Verified, Rejected> {
    let candidate = B64
        .decode(signature)
        .map_err(|_| Rejected::Malformed("X-Twilio-Signature".into()))?;
    let body_hash = url::Url::parse(request.url).ok().and_then(|u| {
        u.query_pairs()
            .find(|(k, _)| k == "bodySHA256")
            .map(|(_, v)| v.into_owned())
    });
    let params = match &body_hash {
        Some(_) => Vec::new(),
        None if is_form(request.headers) || request.body.is_empty() => form_pairs(request.body),
        // A body that is neither form fields nor covered by bodySHA256 is not signed.
        None => {
            return Err(Rejected::Missing(
                "bodySHA256 query parameter for a non-form body".into(),
            ));
        }
    };
    let signed = port_variants(request.url)
        .into_iter()
        .fold(false, |ok, url| {
            let text = twilio_signed_text(&url, &params);
            ok | same(&hmac_sha1(key, &[text.as_bytes()]), &candidate)
        });
    if !signed {
        return Err(Rejected::Mismatch);
    }
    if let Some(expected) = body_hash {
        let actual = hex::encode(Sha256::digest(request.body));
        if !same(actual.as_bytes(), expected.to_ascii_lowercase().as_bytes()) {
            return Err(Rejected::Mismatch);
        }
    }
    Ok(Verified::default())
}

/// HubSpot decodes these escapes in the URI before signing (its v3 documentation).
pub fn hubspot_uri(url: &str) -> String {
    const DECODED: [(&str, &str); 12] = [
        ("%3A", ":"),
        ("%2F", "/"),
        ("%3F", "?"),
        ("%40", "@"),
        ("%21", "!"),
        ("%24", "$"),
        ("%27", "'"),
        ("%28", "("),
        ("%29", ")"),
        ("%2A", "*"),
        ("%2C", ","),
        ("%3B", ";"),
    ];
    let mut out = url.to_owned();
    for (from, to) in DECODED {
        out = out
            .replace(from, to)
            .replace(&from.to_ascii_lowercase(), to);
    }
    out
}

/// HubSpot v3: base64 HMAC-SHA256 (app client secret) of method, URI, body and the
/// timestamp header (milliseconds), refused when older than the window.
fn hubspot_v3(
    signature: &str,
    timestamp: &str,
    key: &[u8],
    request: &Signed<'_>,
    window: i64,
) -> Result<Verified, Rejected> {
    let millis = unix_seconds(timestamp, "X-HubSpot-Request-Timestamp")?;
    within(millis.div_euclid(1000), request.now, window)?;
    let candidate = B64
        .decode(signature)
        .map_err(|_| Rejected::Malformed("X-HubSpot-Signature-v3".into()))?;
    // HubSpot's documentation decodes a few escapes before signing; its Python SDK
    // signs the URI as it is. Both are accepted (both are HubSpot's).
    let decoded = hubspot_uri(request.url);
    let matches = [decoded.as_str(), request.url]
        .iter()
        .fold(false, |ok, uri| {
            let expected = hmac_sha256(
                key,
                &[
                    request.method.as_bytes(),
                    uri.as_bytes(),
                    request.body,
                    timestamp.as_bytes(),
                ],
            );
            ok | same(&expected, &candidate)
        });
    if matches {
        Ok(Verified::default())
    } else {
        Err(Rejected::Mismatch)
    }
}

/// SendGrid: ECDSA P-256 / SHA-256 over the timestamp header's value followed by the
/// body; the signature is base64 DER, the verification key base64 DER
/// (SubjectPublicKeyInfo, as SendGrid shows it) or PEM.
fn sendgrid_ecdsa(
    signature: &str,
    timestamp: &str,
    public_key: &str,
    request: &Signed<'_>,
    window: i64,
) -> Result<Verified, Rejected> {
    let seconds = unix_seconds(timestamp, "X-Twilio-Email-Event-Webhook-Timestamp")?;
    let key_b64: String = public_key
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>()
        .split_whitespace()
        .collect();
    let key_der = B64
        .decode(key_b64)
        .map_err(|_| Rejected::Malformed("webhook verification key (not base64)".into()))?;
    let key = p256::ecdsa::VerifyingKey::from_public_key_der(&key_der).map_err(|_| {
        Rejected::Malformed("webhook verification key (not a P-256 public key)".into())
    })?;
    let der = B64
        .decode(signature)
        .map_err(|_| Rejected::Malformed("X-Twilio-Email-Event-Webhook-Signature".into()))?;
    let signature = p256::ecdsa::Signature::from_der(&der)
        .map_err(|_| Rejected::Malformed("X-Twilio-Email-Event-Webhook-Signature (DER)".into()))?;
    let mut signed = Vec::with_capacity(timestamp.len() + request.body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(request.body);
    key.verify(&signed, &signature)
        .map_err(|_| Rejected::Mismatch)?;
    within(seconds, request.now, window)?;
    Ok(Verified::default())
}

/// Linear: hex HMAC-SHA256 of the body; the body's `webhookTimestamp` (milliseconds,
/// covered by the signature) must be within the window.
fn linear(
    signature: &str,
    key: &[u8],
    request: &Signed<'_>,
    window: i64,
) -> Result<Verified, Rejected> {
    let candidate =
        hex::decode(signature).map_err(|_| Rejected::Malformed("Linear-Signature".into()))?;
    if !same(&hmac_sha256(key, &[request.body]), &candidate) {
        return Err(Rejected::Mismatch);
    }
    // Parsed only now that the bytes are known to be Linear's.
    let millis = serde_json::from_slice::<serde_json::Value>(request.body)
        .ok()
        .and_then(|v| {
            v.get("webhookTimestamp")
                .and_then(serde_json::Value::as_i64)
        })
        .ok_or_else(|| Rejected::Missing("webhookTimestamp in the body".into()))?;
    within(millis.div_euclid(1000), request.now, window)?;
    Ok(Verified::default())
}

fn prefixed_hmac_sha256(
    signature: &str,
    prefix: &str,
    key: &[u8],
    body: &[u8],
) -> Result<Verified, Rejected> {
    let candidate = signature
        .strip_prefix(prefix)
        .and_then(|h| hex::decode(h).ok())
        .ok_or_else(|| Rejected::Malformed(format!("signature ({prefix}<hex>)")))?;
    if same(&hmac_sha256(key, &[body]), &candidate) {
        Ok(Verified::default())
    } else {
        Err(Rejected::Mismatch)
    }
}

/// Mailgun signs inside the body: `signature.signature` is hex HMAC-SHA256 of
/// `timestamp + token`. The event data is not covered, so a token is accepted once
/// only (the caller records it) and the timestamp must be recent.
fn mailgun(key: &[u8], request: &Signed<'_>, window: i64) -> Result<Verified, Rejected> {
    let doc: serde_json::Value = serde_json::from_slice(request.body)
        .map_err(|_| Rejected::Missing("signature object (the body is not JSON)".into()))?;
    let field = |name: &str| {
        doc.pointer(&format!("/signature/{name}"))
            .and_then(|v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .ok_or_else(|| Rejected::Missing(format!("signature.{name} in the body")))
    };
    let (timestamp, token, signature) = (field("timestamp")?, field("token")?, field("signature")?);
    let candidate =
        hex::decode(&signature).map_err(|_| Rejected::Malformed("signature.signature".into()))?;
    if !same(
        &hmac_sha256(key, &[timestamp.as_bytes(), token.as_bytes()]),
        &candidate,
    ) {
        return Err(Rejected::Mismatch);
    }
    within(
        unix_seconds(&timestamp, "signature.timestamp")?,
        request.now,
        window,
    )?;
    Ok(Verified { token: Some(token) })
}

/// Basic auth on the webhook URL (Postmark): the password is compared; the user name
/// is whatever the user put in the URL.
fn basic_auth(value: &str, password: &[u8]) -> Result<Verified, Rejected> {
    let encoded = value
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("basic "))
        .map(|_| value[6..].trim())
        .ok_or_else(|| Rejected::Malformed("Authorization (Basic)".into()))?;
    let decoded = B64
        .decode(encoded)
        .map_err(|_| Rejected::Malformed("Authorization (Basic)".into()))?;
    let given = decoded
        .iter()
        .position(|b| *b == b':')
        .map(|i| &decoded[i + 1..])
        .ok_or_else(|| Rejected::Malformed("Authorization (user:password)".into()))?;
    if same(password, given) {
        Ok(Verified::default())
    } else {
        Err(Rejected::Mismatch)
    }
}

/// The bytes a declared HMAC covers: `signed` with `{timestamp}` and `{body}` filled in.
pub fn declared_signed_bytes(signed: &str, timestamp: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(signed.len() + body.len());
    let mut rest = signed;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("{body}") {
            out.extend_from_slice(body);
            rest = after;
        } else if let Some(after) = rest.strip_prefix("{timestamp}") {
            out.extend_from_slice(timestamp.unwrap_or_default().as_bytes());
            rest = after;
        } else {
            let mut chars = rest.chars();
            if let Some(c) = chars.next() {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            rest = chars.as_str();
        }
    }
    out
}

/// A Custom HTTP integration's declared HMAC-SHA256.
fn declared_hmac(
    signature: &str,
    timestamp: Option<&str>,
    format: &HmacFormat,
    key: &[u8],
    request: &Signed<'_>,
    window: i64,
) -> Result<Verified, Rejected> {
    if let Some(raw) = timestamp {
        let value = unix_seconds(raw, "timestamp header")?;
        // Milliseconds are recognised by their size.
        let seconds = if value > 100_000_000_000 {
            value / 1000
        } else {
            value
        };
        within(seconds, request.now, window)?;
    }
    let digest = signature
        .strip_prefix(format.prefix.as_str())
        .ok_or_else(|| {
            Rejected::Malformed(format!("signature (expected {}<digest>)", format.prefix))
        })?;
    let candidate = match format.encoding {
        DigestEncoding::Hex => hex::decode(digest).ok(),
        DigestEncoding::Base64 => B64.decode(digest).ok(),
    }
    .ok_or_else(|| Rejected::Malformed("signature digest".into()))?;
    let signed = declared_signed_bytes(&format.signed, timestamp, request.body);
    if same(&hmac_sha256(key, &[&signed]), &candidate) {
        Ok(Verified::default())
    } else {
        Err(Rejected::Mismatch)
    }
}
