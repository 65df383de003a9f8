//! Value-based redaction: every secret value in use is masked wherever output is made.
//!
//! While credentials are open (see [`crate::vault::Credentials`]) their values are
//! registered here; the log writer ([`RedactingWriter`]) and the API's error responses
//! pass their text through [`redact`]. Code that records provider traffic (traces,
//! errors) also masks with the exact credentials it holds ([`Redactor`]), so a
//! provider that echoes a key back in a body or an error never gets it into output.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{OnceLock, RwLock};

use serde_json::Value;

/// What a secret value is replaced with, in output and in sandbox requests.
pub const MASK: &str = "[redacted]";
/// Shorter values are not masked: replacing "1" everywhere would garble output while
/// protecting nothing (no real secret is that short; fields enforce their own minimum).
const MIN_SECRET_LEN: usize = 6;

fn registry() -> &'static RwLock<HashMap<String, usize>> {
    static REGISTRY: OnceLock<RwLock<HashMap<String, usize>>> = OnceLock::new();
    REGISTRY.get_or_init(|| RwLock::new(HashMap::new()))
}

/// Keeps values registered until dropped.
#[derive(Default)]
pub struct Registration(Vec<String>);

impl Registration {
    /// Registers the values (those of 6 characters or more) for masking until the
    /// registration is dropped; a value registered twice stays until both are dropped.
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let values: Vec<String> = values
            .into_iter()
            .filter(|v| v.len() >= MIN_SECRET_LEN)
            .collect();
        let mut map = registry().write().unwrap_or_else(|p| p.into_inner());
        for v in &values {
            *map.entry(v.clone()).or_default() += 1;
        }
        Self(values)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut map = registry().write().unwrap_or_else(|p| p.into_inner());
        for v in self.0.drain(..) {
            if let Some(count) = map.get_mut(&v) {
                *count -= 1;
                if *count == 0 {
                    map.remove(&v);
                }
            }
            zeroize::Zeroize::zeroize(&mut v.into_bytes());
        }
    }
}

/// Masks every registered secret in `text`.
pub fn redact(text: &str) -> String {
    let map = registry().read().unwrap_or_else(|p| p.into_inner());
    mask(text, map.keys().map(String::as_str))
}

fn mask<'a>(text: &str, secrets: impl Iterator<Item = &'a str>) -> String {
    let mut out = text.to_owned();
    // Longest first, so a secret that contains another is masked whole.
    let mut secrets: Vec<&str> = secrets.collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in secrets {
        if out.contains(secret) {
            out = out.replace(secret, MASK);
        }
        // Providers echo keys in encoded forms too: URL-encoded in a query string,
        // JSON-escaped in a body.
        let escaped = serde_json::to_string(secret).unwrap_or_default();
        let escaped = escaped.trim_matches('"');
        if escaped != secret && out.contains(escaped) {
            out = out.replace(escaped, MASK);
        }
    }
    out
}

/// Masks a fixed set of secrets: the credentials one step or verification holds.
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for these values (those of 6 characters or more), with their
    /// URL-encoded and base64 forms.
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = values
            .into_iter()
            .filter(|v| v.len() >= MIN_SECRET_LEN)
            .collect();
        let encoded: Vec<String> = secrets
            .iter()
            .flat_map(|s| {
                let form: String = url_encode(s);
                let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
                [form, b64]
            })
            .filter(|e| !secrets.contains(e))
            .collect();
        secrets.extend(encoded);
        Self { secrets }
    }

    /// The text with every secret masked (longest first, JSON-escaped forms too).
    pub fn text(&self, text: &str) -> String {
        mask(text, self.secrets.iter().map(String::as_str))
    }

    /// Masks every string in a JSON value (keys included).
    pub fn json(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.json(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.text(k), self.json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

impl Drop for Redactor {
    fn drop(&mut self) {
        for s in &mut self.secrets {
            zeroize::Zeroize::zeroize(s);
        }
    }
}

fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A log writer that masks registered secrets in every line before it is written.
pub struct RedactingWriter<W: Write>(pub W);

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_are_masked_until_their_registration_drops() {
        let secret = "sk_test_canary_4242424242".to_owned();
        let registration = Registration::new([secret.clone()]);
        assert_eq!(
            redact(&format!("Bearer {secret} failed")),
            "Bearer [redacted] failed"
        );
        drop(registration);
        assert!(redact(&format!("x {secret}")).contains(&secret));
    }

    #[test]
    fn a_redactor_masks_plain_url_encoded_base64_and_json_escaped_forms() {
        let secret = "p@ss/word+\"quoted\"";
        let r = Redactor::new([secret.to_owned()]);
        let echoed = serde_json::json!({
            "error": format!("invalid key {secret}"),
            "url": format!("https://x.example/?key={}", url_encode(secret)),
            "auth": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, secret),
            secret: "as a key",
        });
        let masked = r.json(&echoed).to_string();
        assert!(!masked.contains("ss/word"), "{masked}");
        assert!(!masked.contains(&url_encode(secret)), "{masked}");
        assert!(masked.contains(MASK));
        let escaped = serde_json::to_string(&echoed).expect("json");
        assert!(
            !r.text(&escaped).contains("ss/word+\\\"quoted"),
            "{}",
            r.text(&escaped)
        );
    }

    #[test]
    fn short_values_are_left_alone() {
        let r = Redactor::new(["abc".to_owned()]);
        assert_eq!(r.text("abcabc"), "abcabc");
    }
}
