//! Property tests: whatever a stranger sends to a webhook URL (any bytes, any headers,
//! signatures and timestamps of any shape), the verifiers and the parsers answer
//! without panicking, for every scheme the catalog uses.
//!
//! The default run is small (32 cases per property, for 2-core CI); `PROPTEST_CASES`
//! sets a deeper one (`PROPTEST_CASES=5000 cargo test -p studio-shared --lib proptests`).

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use serde_json::json;

use super::events::{draft, event_id, key_safe, read, split};
use super::notion::handshake_token;
use super::verify::{Signed, hubspot_uri, precheck, twilio_signed_text, verify};
use crate::catalog::Webhooks;
use crate::domain::RequestId;

/// 32 cases unless `PROPTEST_CASES` says otherwise.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 32;
    }
    config
}

/// Every webhook declaration the catalog has, and the declared HMAC of Custom HTTP in
/// its shapes (hex and base64, with and without a timestamp header), and a shared
/// header secret.
fn declarations() -> Vec<Webhooks> {
    let mut all: Vec<Webhooks> = crate::catalog::catalog()
        .expect("catalog")
        .providers()
        .filter_map(|p| p.webhooks.clone())
        .collect();
    for extra in [
        json!({"signature": "hmac_sha256", "event_id": "/id",
               "hmac": {"encoding": "hex", "prefix": "sha256=", "signed": "{timestamp}.{body}"},
               "timestamp_header": "X-Timestamp"}),
        json!({"signature": "hmac_sha256", "event_id": "/id",
               "hmac": {"encoding": "base64", "prefix": "", "signed": "{body}"}}),
        json!({"signature": "header_secret", "event_id": "/id", "header": "X-Secret"}),
    ] {
        all.push(serde_json::from_value(extra).expect("declaration"));
    }
    all
}

/// The header names the schemes read, and a few they do not.
const NAMES: &[&str] = &[
    "stripe-signature",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-twilio-signature",
    "x-hubspot-signature-v3",
    "x-hubspot-request-timestamp",
    "x-twilio-email-event-webhook-signature",
    "x-twilio-email-event-webhook-timestamp",
    "linear-signature",
    "x-notion-signature",
    "x-hub-signature",
    "authorization",
    "x-signature",
    "x-timestamp",
    "x-secret",
    "content-type",
    "x-goog-channel-id",
    "x-goog-resource-state",
    "x-request-id",
];

/// Timestamps as a stranger may write them: the extremes, any, and plausible ones.
fn timestamp() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MIN),
        Just(i64::MAX),
        any::<i64>(),
        0..4_000_000_000_000i64,
    ]
}

/// Now, as a clock may say it: from 1970 to 2100.
fn now() -> impl Strategy<Value = i64> {
    prop_oneof![Just(1_795_953_000i64), 0..4_102_444_800i64]
}

/// Header values: arbitrary bytes a header can hold, and signature-shaped texts with
/// arbitrary parts (huge and negative timestamps, odd digests, repeated entries).
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    let text = "[ -~]{0,40}";
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        (timestamp(), text).prop_map(|(t, v)| format!("t={t},v1={v},v1=").into_bytes()),
        (timestamp(), "[0-9a-f]{0,70}").prop_map(|(t, h)| format!("t={t},v1={h}").into_bytes()),
        "(v0=|sha256=|sha1=|Basic |Bearer |basic )[ -~]{0,80}".prop_map(String::into_bytes),
        timestamp().prop_map(|t| t.to_string().into_bytes()),
        "application/(json|x-www-form-urlencoded)[ -~]{0,10}".prop_map(String::into_bytes),
    ]
}

fn headers() -> impl Strategy<Value = HeaderMap> {
    proptest::collection::vec((proptest::sample::select(NAMES), header_value()), 0..8).prop_map(
        |pairs| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                if let Ok(value) = HeaderValue::from_bytes(&value) {
                    map.append(HeaderName::from_static(name), value);
                }
            }
            map
        },
    )
}

/// Bodies: arbitrary bytes, and JSON and form shapes with arbitrary contents where the
/// schemes and parsers look (Mailgun's signature object, Linear's timestamp, batches).
fn body() -> impl Strategy<Value = Vec<u8>> {
    let text = "[ -~]{0,30}";
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        (text, text, timestamp()).prop_map(|(token, signature, timestamp)| {
            json!({"signature": {"timestamp": timestamp, "token": token, "signature": signature},
                   "event-data": {"id": token, "event": signature}})
            .to_string()
            .into_bytes()
        }),
        (text, timestamp(), any::<f64>()).prop_map(|(id, ms, time)| {
            json!([{"id": id, "webhookTimestamp": ms, "type": id, "created": time,
                    "data": {"object": {"id": id}}, "action": "update"},
                   null, 7, {"verification_token": id}])
            .to_string()
            .into_bytes()
        }),
        (text, text).prop_map(|(k, v)| {
            form_urlencoded::Serializer::new(String::new())
                .append_pair(&k, &v)
                .append_pair("MessageSid", &v)
                .finish()
                .into_bytes()
        }),
        text.prop_map(|token| json!({"verification_token": token})
            .to_string()
            .into_bytes()),
    ]
}

fn url() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("https://hooks.example.com/hooks/clinic/x".to_owned()),
        "https?://[a-z.]{0,12}(:[0-9]{0,6})?/[ -~]{0,40}",
        "[ -~]{0,60}",
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn no_scheme_panics_on_anything_a_stranger_sends(
        headers in headers(),
        body in body(),
        url in url(),
        method in "(POST|GET|[A-Z]{0,8})",
        now in now(),
        secret in "[ -~]{0,64}",
        max_age in prop_oneof![Just(crate::domain::DEDUPE_TTL_SECS), any::<i64>()],
    ) {
        for hooks in declarations() {
            let signed = Signed { method: &method, url: &url, headers: &headers, body: &body, now };
            let header = hooks.header.as_deref();
            let _ = precheck(&hooks, header, &signed, max_age);
            let _ = verify(&hooks, header, &secret, &signed, max_age);
        }
    }

    #[test]
    fn no_parser_panics_on_any_body_or_headers(headers in headers(), body in body()) {
        for hooks in declarations() {
            let Ok(doc) = read(&hooks, &headers, &body, hooks.header.as_deref()) else {
                continue;
            };
            let Ok(events) = split(&hooks, doc) else { continue };
            for event in events {
                let id = event_id(&hooks, &headers, &event, hooks.batch);
                prop_assert!(!id.is_empty() && id.len() <= 300, "{}", id);
                let _ = draft(&hooks, event);
            }
        }
        let _ = handshake_token(&body);
    }

    #[test]
    fn ids_and_urls_from_outside_are_made_safe_without_panicking(
        text in "\\PC{0,300}",
        pairs in proptest::collection::vec(("[ -~]{0,10}", "\\PC{0,10}"), 0..6),
    ) {
        let safe = key_safe(&text);
        prop_assert!(!safe.is_empty() && safe.len() <= 200 && !safe.starts_with('#'));
        let _ = hubspot_uri(&text);
        let _ = twilio_signed_text(&text, &pairs);
        if let Ok(id) = RequestId::parse(&text) {
            prop_assert!(id.as_str().len() <= RequestId::MAX_LEN);
            prop_assert!(id.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b".:_=-".contains(&b)));
        }
    }
}

/// What the properties found: a signed timestamp at either end of `i64` made the
/// window check overflow (a panic in debug builds) before any secret was involved.
#[test]
fn timestamps_at_the_ends_of_the_range_are_refused_as_stale() {
    use super::verify::Rejected;
    for extreme in [i64::MIN, i64::MAX, i64::MIN + 1] {
        let mut headers = HeaderMap::new();
        for name in [
            "x-slack-request-timestamp",
            "x-hubspot-request-timestamp",
            "x-twilio-email-event-webhook-timestamp",
            "x-timestamp",
        ] {
            headers.insert(name, HeaderValue::from(extreme));
        }
        let stripe = format!("t={extreme},v1=00");
        headers.insert(
            "stripe-signature",
            HeaderValue::from_str(&stripe).expect("value"),
        );
        for name in [
            "x-slack-signature",
            "x-hubspot-signature-v3",
            "x-twilio-email-event-webhook-signature",
            "x-signature",
        ] {
            headers.insert(name, HeaderValue::from_static("sha256=00"));
        }
        let signed = Signed {
            method: "POST",
            url: "https://hooks.example.com/hooks/clinic/x",
            headers: &headers,
            body: b"{}",
            now: 1_795_953_000,
        };
        for hooks in declarations() {
            if hooks.timestamp_header.is_none()
                && !matches!(
                    hooks.signature,
                    crate::catalog::SignatureScheme::StripeV1
                        | crate::catalog::SignatureScheme::SlackV0
                        | crate::catalog::SignatureScheme::HubspotV3
                        | crate::catalog::SignatureScheme::SendgridEcdsa
                )
            {
                continue;
            }
            let header = hooks.header.as_deref();
            // A declared HMAC's timestamp is checked by the verification itself.
            let checked = if hooks.signature == crate::catalog::SignatureScheme::HmacSha256 {
                verify(
                    &hooks,
                    header,
                    "secret",
                    &signed,
                    crate::domain::DEDUPE_TTL_SECS,
                )
                .map(|_| ())
            } else {
                precheck(&hooks, header, &signed, crate::domain::DEDUPE_TTL_SECS)
            };
            assert!(
                matches!(checked, Err(Rejected::Stale(_))),
                "{:?} at {extreme}: {checked:?}",
                hooks.signature
            );
        }
    }
}
