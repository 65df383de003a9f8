//! The schemes against the published and SDK-made vectors of
//! `tests/data/webhooks/vectors.json` (see `generate.py` beside it for where each comes
//! from), and each vector spoiled one way at a time: a changed body, a wrong secret, a
//! stale clock.

use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::verify::{Rejected, Signed, verify};
use crate::catalog::Webhooks;

struct Vector {
    name: String,
    hooks: Webhooks,
    secret: String,
    now: i64,
    method: String,
    url: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

fn vectors() -> Vec<Vector> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/webhooks/vectors.json");
    let text = std::fs::read_to_string(&path).expect("tests/data/webhooks/vectors.json");
    let doc: Value = serde_json::from_str(&text).expect("vectors.json parses");
    doc["vectors"]
        .as_array()
        .expect("vectors")
        .iter()
        .map(|v| {
            let mut hooks = json!({"signature": v["scheme"], "event_id": "/id"});
            if let Some(h) = v.get("hmac") {
                hooks["hmac"] = h.clone();
            }
            if let Some(t) = v.get("timestamp_header") {
                hooks["timestamp_header"] = t.clone();
            }
            let hooks: Webhooks = serde_json::from_value(hooks).expect("webhooks");
            let mut headers = HeaderMap::new();
            for (name, value) in v["headers"].as_object().expect("headers") {
                headers.insert(
                    HeaderName::from_bytes(name.as_bytes()).expect("name"),
                    HeaderValue::from_str(value.as_str().expect("str")).expect("value"),
                );
            }
            let body = match v.get("form") {
                Some(form) => {
                    headers.insert(
                        "content-type",
                        HeaderValue::from_static("application/x-www-form-urlencoded"),
                    );
                    let mut out = form_urlencoded::Serializer::new(String::new());
                    for pair in form.as_array().expect("pairs") {
                        out.append_pair(
                            pair[0].as_str().expect("name"),
                            pair[1].as_str().expect("value"),
                        );
                    }
                    out.finish().into_bytes()
                }
                None => v["body"].as_str().unwrap_or_default().as_bytes().to_vec(),
            };
            if let Some(ct) = v.get("content_type").and_then(Value::as_str) {
                headers.insert("content-type", HeaderValue::from_str(ct).expect("ct"));
            }
            Vector {
                name: v["name"].as_str().expect("name").to_owned(),
                hooks,
                secret: v["secret"].as_str().expect("secret").to_owned(),
                now: v["now"].as_i64().expect("now"),
                method: v["method"].as_str().unwrap_or("POST").to_owned(),
                url: v["url"]
                    .as_str()
                    .unwrap_or("https://hooks.example.com/hooks/clinic/x")
                    .to_owned(),
                headers,
                body,
            }
        })
        .collect()
}

fn check(v: &Vector, secret: &str, body: &[u8], now: i64) -> Result<(), Rejected> {
    let signed = Signed {
        method: &v.method,
        url: &v.url,
        headers: &v.headers,
        body,
        now,
    };
    let header = v.hooks.header.as_deref();
    verify(&v.hooks, header, secret, &signed, super::DEDUPE_TTL_SECS).map(|_| ())
}

#[test]
fn every_vector_verifies() {
    let all = vectors();
    assert!(all.len() >= 20, "{} vectors", all.len());
    let schemes: std::collections::BTreeSet<String> = all
        .iter()
        .map(|v| format!("{:?}", v.hooks.signature))
        .collect();
    assert_eq!(
        schemes.len(),
        11,
        "every scheme but header_secret has vectors: {schemes:?}"
    );
    for v in &all {
        assert_eq!(check(v, &v.secret, &v.body, v.now), Ok(()), "{}", v.name);
    }
}

#[test]
fn a_changed_body_is_refused_wherever_the_scheme_signs_it() {
    for v in vectors() {
        use crate::catalog::SignatureScheme::*;
        let mut body = v.body.clone();
        match v.hooks.signature {
            // Basic auth signs nothing, and Mailgun only its timestamp and token: for
            // Mailgun, a changed token is the forgery to refuse.
            BasicAuth => continue,
            MailgunBody => {
                let text = String::from_utf8(body).expect("utf8");
                body = text.replacen("e0b5477167", "e0b5477168", 1).into_bytes();
            }
            // A parameter added to a form body, a byte changed in any other.
            _ if v.body.contains(&b'&') || v.headers.get("x-twilio-signature").is_some() => {
                body.extend_from_slice(b"&Extra=1");
            }
            _ => {
                let at = body
                    .iter()
                    .position(|b| b.is_ascii_alphanumeric())
                    .expect("a letter");
                body[at] ^= 0x01;
            }
        }
        assert_eq!(
            check(&v, &v.secret, &body, v.now),
            Err(Rejected::Mismatch),
            "{}",
            v.name
        );
    }
}

#[test]
fn a_wrong_secret_is_refused() {
    // Another P-256 key, from sendgrid-python's test_verify_bad_key.
    let other_key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==";
    for v in vectors() {
        let wrong = match v.hooks.signature {
            crate::catalog::SignatureScheme::SendgridEcdsa => other_key.to_owned(),
            _ => format!("{}x", v.secret),
        };
        assert_eq!(
            check(&v, &wrong, &v.body, v.now),
            Err(Rejected::Mismatch),
            "{}",
            v.name
        );
    }
}

#[test]
fn signed_timestamps_outside_their_window_are_refused() {
    use crate::catalog::SignatureScheme::*;
    for v in vectors() {
        let window = match v.hooks.signature {
            StripeV1 | SlackV0 | HubspotV3 | HmacSha256 => 300,
            Linear => 60,
            SendgridEcdsa | MailgunBody => super::DEDUPE_TTL_SECS,
            // No signed timestamp: only the dedupe marker stands against a replay.
            Twilio | Notion | HubSignatureSha1 | BasicAuth | HeaderSecret => continue,
        };
        if v.hooks
            .hmac
            .as_ref()
            .is_some_and(|h| !h.signed.contains("{timestamp}"))
        {
            continue;
        }
        for now in [v.now + window + 30, v.now - window - 30] {
            assert_eq!(
                check(&v, &v.secret, &v.body, now),
                Err(Rejected::Stale(window)),
                "{} at {now}",
                v.name
            );
        }
    }
}

#[test]
fn deliveries_without_their_signature_are_refused() {
    for v in vectors() {
        let mut bare = HeaderMap::new();
        if let Some(ct) = v.headers.get("content-type") {
            bare.insert("content-type", ct.clone());
        }
        let signed = Signed {
            method: &v.method,
            url: &v.url,
            headers: &bare,
            body: if v.hooks.signature == crate::catalog::SignatureScheme::MailgunBody {
                b"{\"event-data\": {}}"
            } else {
                &v.body
            },
            now: v.now,
        };
        let result = verify(&v.hooks, None, &v.secret, &signed, super::DEDUPE_TTL_SECS);
        assert!(
            matches!(result, Err(Rejected::Missing(_))),
            "{}: {result:?}",
            v.name
        );
    }
}

#[test]
fn a_header_secret_matches_the_whole_value_or_the_bearer_token_only() {
    let hooks: Webhooks =
        serde_json::from_value(json!({"signature": "header_secret", "event_id": "/id"}))
            .expect("webhooks");
    let attempt = |value: &str, secret: &str| {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-subscription-auth",
            HeaderValue::from_str(value).expect("v"),
        );
        let signed = Signed {
            method: "POST",
            url: "https://h/x",
            headers: &headers,
            body: b"",
            now: 0,
        };
        verify(&hooks, Some("X-Subscription-Auth"), secret, &signed, 1).map(|_| ())
    };
    assert_eq!(attempt("Bearer s3cr3t-value", "s3cr3t-value"), Ok(()));
    assert_eq!(
        attempt("Bearer s3cr3t-value", "Bearer s3cr3t-value"),
        Ok(())
    );
    assert_eq!(attempt("s3cr3t-value", "s3cr3t-value"), Ok(()));
    assert_eq!(
        attempt("Bearer s3cr3t-valuf", "s3cr3t-value"),
        Err(Rejected::Mismatch)
    );
    assert_eq!(attempt("s3cr3t", "s3cr3t-value"), Err(Rejected::Mismatch));
}

#[test]
fn the_signing_helpers_agree_with_the_published_vectors() {
    use super::signing;
    // Slack's documented example and Twilio's documentation example.
    let slack_body = vectors()
        .into_iter()
        .find(|v| v.name.starts_with("Slack's documented"))
        .expect("slack vector");
    assert_eq!(
        signing::slack(
            "8f742231b10e8888abcd99yyyzzz85a5",
            1531420618,
            &slack_body.body
        ),
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    );
    let params: Vec<(String, String)> = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(
        signing::twilio(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            &params
        ),
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    );
    assert_eq!(
        signing::hubspot_v3(
            "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
            "POST",
            "https://www.example.com/webhook_uri",
            b"{'example_field':'example_value'}",
            15000000
        ),
        "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="
    );
    assert_eq!(
        signing::basic("Aladdin", "open sesame"),
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    );
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode("x"),
        "eA==",
        "sanity"
    );
}
