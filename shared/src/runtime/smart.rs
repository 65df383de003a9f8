//! SMART on FHIR Backend Services: access tokens from a client-credentials grant whose
//! client authenticates with a JWT signed by its private key (SMART App Launch 2.x,
//! "Backend Services" and "Client Authentication: Asymmetric").
//!
//! Only the request differs from an OAuth2 refresh: the token is obtained, stored and
//! shared by the same machinery ([`super::oauth::ensure_token`]). It is sealed into the
//! credential envelope as a new version with `token_expires_at`, audited as a token
//! refresh, and reused by every step until a minute before it expires; concurrent steps
//! wait for the one that holds the integration's lock instead of asking too. The
//! private key never leaves this process: each request carries a fresh assertion
//! (unique `jti`, valid for four minutes) that is registered for redaction while the
//! request is in flight.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use chrono::{DateTime, Utc};
use p384::ecdsa::signature::Signer;
use pkcs8::der::asn1::UintRef;
use pkcs8::der::{Decode, Header, SliceReader, Tag};
use pkcs8::{DecodePrivateKey, ObjectIdentifier, PrivateKeyInfo};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA384, RsaKeyPair};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use super::oauth::{self, Grant, OAuthError, TokenForm};
use crate::catalog::{Auth, Provider};
use crate::domain::{Integration, ProjectId};
use crate::ports::Deps;
use crate::vault::Credentials;

/// RFC 7523's client assertion type, the only one SMART Backend Services use.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The assertion's lifetime. The spec allows at most five minutes; four leave room
/// for a token server whose clock is behind ours.
const ASSERTION_SECS: i64 = 240;
/// SMART tokens usually live five minutes; assume no more when the answer does not say.
const DEFAULT_TOKEN_SECS: i64 = 300;
const MIN_RSA_BITS: usize = 2048;
/// ring signs with RSA keys of at most 4096 bits.
const MAX_RSA_BITS: usize = 4096;

const RSA_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P384_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P256_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P521_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const SECP256K1_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.10");
const ED25519_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const ED448_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");

/// Why no SMART Backend Services access token was obtained.
#[derive(Debug, thiserror::Error)]
pub enum SmartError {
    /// The integration's config gives no token URL to ask; nothing was sent.
    #[error("SMART backend services: the integration has no token URL (config.token_url)")]
    NoTokenUrl,
    /// The stored credentials cannot sign an assertion; nothing was sent.
    #[error("SMART backend services: {0}")]
    Credentials(String),
    #[error(
        "the FHIR server's token endpoint refused the client assertion ({0}); check the client id, and the public key (or JWKS) and key id registered with the EHR"
    )]
    /// The token endpoint refused the client assertion (with its reason), usually
    /// because the client id, key or key id registered with the EHR does not match;
    /// retrying does not help.
    Refused(String),
    /// The token request failed otherwise (no answer, an unreadable one); it may
    /// succeed later.
    #[error("SMART backend services token request failed: {0}")]
    Failed(String),
}

impl From<OAuthError> for SmartError {
    fn from(e: OAuthError) -> Self {
        match e {
            OAuthError::Refused(reason) => SmartError::Refused(reason),
            OAuthError::Failed(reason) => SmartError::Failed(reason),
            OAuthError::Unusable(problem) => SmartError::Credentials(problem),
        }
    }
}

/// Why a private key cannot sign. The messages are fixed text: none repeats any part
/// of the key it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text holds no PEM block (or a damaged one).
    #[error("the private key is not a PEM block (-----BEGIN PRIVATE KEY----- ...)")]
    NotPem,
    /// The key is encrypted with a passphrase, which the integration cannot give.
    #[error("the private key is encrypted: give it unencrypted, as PKCS#8 or PKCS#1 PEM")]
    Encrypted,
    /// The PEM block is something else (a public key, a certificate), named.
    #[error("the PEM block is {0}, not a private key")]
    NotPrivate(&'static str),
    #[error(
        "the private key is {0}; RS384 needs an RSA key (2048 to 4096 bits), ES384 an EC P-384 key"
    )]
    /// The key's algorithm or curve (named) cannot sign RS384 or ES384.
    Unsupported(&'static str),
    /// The RSA key has fewer than 2048 bits (how many it has).
    #[error("the RSA key has {0} bits; RS384 needs {MIN_RSA_BITS} or more")]
    TooShort(usize),
    /// The RSA key is longer than 4096 bits, or its primes are not a multiple of 512
    /// bits long (how many bits the key has).
    #[error("the RSA key has {0} bits; RS384 signs with RSA keys of 2048, 3072 or 4096 bits")]
    RsaSize(usize),
    /// The PEM block's label promises a key of this kind, but its content does not
    /// parse.
    #[error("the private key does not parse as {0}")]
    Malformed(&'static str),
    /// The key parsed but signing failed.
    #[error("the client assertion could not be signed")]
    Signing,
}

/// The SMART Backend Services settings of an integration: where to ask, for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendServices {
    /// The token endpoint, with the integration's config filled in.
    pub token_url: String,
    /// The scopes to ask for (`system/Patient.read`...).
    pub scopes: Vec<String>,
}

/// The integration's SMART Backend Services settings if its auth scheme (resolved
/// through a choice such as FHIR's `auth_type`) is `smart_backend_services`.
pub fn backend_services(
    provider: &Provider,
    config: &Map<String, Value>,
) -> Option<Result<BackendServices, SmartError>> {
    match oauth::chosen_auth(provider, config)? {
        Auth::SmartBackendServices { token_url, scopes } => Some(
            oauth::render_url(token_url, config)
                .map(|token_url| BackendServices {
                    token_url,
                    scopes: scopes.clone(),
                })
                .ok_or(SmartError::NoTokenUrl),
        ),
        _ => None,
    }
}

/// Credentials with a usable access token: the ones given if their token is fresh,
/// else a new token from the token endpoint (or the one another step is getting).
pub async fn ensure_token(
    deps: &Deps,
    project: &ProjectId,
    integration: &Integration,
    service: &BackendServices,
    credentials: Credentials,
    cause: Value,
) -> Result<(Integration, Credentials), SmartError> {
    let grant = ClientAssertionGrant {
        scopes: &service.scopes,
    };
    oauth::ensure_token(
        deps,
        project,
        integration,
        &service.token_url,
        &grant,
        credentials,
        cause,
    )
    .await
    .map_err(SmartError::from)
}

/// The client-credentials grant with a signed JWT client assertion.
struct ClientAssertionGrant<'a> {
    scopes: &'a [String],
}

impl Grant for ClientAssertionGrant<'_> {
    fn name(&self) -> &'static str {
        "SMART token request"
    }

    fn form(
        &self,
        credentials: &Credentials,
        token_url: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenForm, String> {
        let field = |name: &str| {
            credentials
                .get(name)
                .map(|s| s.expose_secret().trim())
                .filter(|s| !s.is_empty())
        };
        let client_id = field("client_id").ok_or("credentials.client_id is not set")?;
        let pem = field("private_key").ok_or("credentials.private_key is not set")?;
        let key = SigningKey::from_pem(pem).map_err(|e| e.to_string())?;
        let assertion = client_assertion(&key, client_id, field("key_id"), token_url, now)
            .map_err(|e| e.to_string())?;
        let mut fields = vec![("grant_type", "client_credentials".to_owned())];
        if !self.scopes.is_empty() {
            fields.push(("scope", self.scopes.join(" ")));
        }
        fields.push(("client_assertion_type", ASSERTION_TYPE.to_owned()));
        fields.push(("client_assertion", assertion.to_string()));
        Ok(TokenForm {
            fields,
            secrets: vec![assertion.to_string()],
        })
    }

    /// The runtime sends the token as `Authorization: Bearer`: a token of another
    /// type (DPoP...) would be refused by the FHIR server with a less clear message.
    fn check(&self, answer: &Value) -> Result<(), String> {
        match answer.get("token_type").and_then(Value::as_str) {
            Some(kind) if !kind.eq_ignore_ascii_case("bearer") => Err(format!(
                "the token endpoint issued a {:?} token, not a bearer token",
                kind.chars().take(32).collect::<String>()
            )),
            _ => Ok(()),
        }
    }

    fn default_lifetime(&self) -> i64 {
        DEFAULT_TOKEN_SECS
    }
}

/// A private key that signs client assertions: RSA for RS384, EC P-384 for ES384.
enum SigningKey {
    Rs384(Box<RsaKeyPair>),
    Es384(p384::ecdsa::SigningKey),
}

/// Names the algorithm only: the wrapped keys' own `Debug` would print them.
impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.alg())
    }
}

impl SigningKey {
    /// Reads a PEM private key: PKCS#8 (`PRIVATE KEY`, RSA or EC P-384), PKCS#1
    /// (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`, P-384).
    fn from_pem(text: &str) -> Result<Self, KeyError> {
        let pem = normalize(text)?;
        let (label, der) = pem_rfc7468::decode_vec(pem.as_bytes()).map_err(|_| KeyError::NotPem)?;
        let der = Zeroizing::new(der);
        match label {
            "PRIVATE KEY" => {
                let info = PrivateKeyInfo::try_from(der.as_slice())
                    .map_err(|_| KeyError::Malformed("a PKCS#8 private key"))?;
                let algorithm = info.algorithm.oid;
                let curve = info.algorithm.parameters_oid().ok();
                match (algorithm, curve) {
                    (RSA_OID, _) => rsa_key(info.private_key, "an RSA private key"),
                    (EC_OID, Some(P384_OID)) => p384::SecretKey::from_pkcs8_der(&der)
                        .map(|key| SigningKey::Es384(key.into()))
                        .map_err(|_| KeyError::Malformed("an EC P-384 private key")),
                    (EC_OID, Some(P256_OID)) => Err(KeyError::Unsupported("an EC P-256 key")),
                    (EC_OID, Some(P521_OID)) => Err(KeyError::Unsupported("an EC P-521 key")),
                    (EC_OID, Some(SECP256K1_OID)) => Err(KeyError::Unsupported("a secp256k1 key")),
                    (EC_OID, _) => Err(KeyError::Unsupported("an EC key on another curve")),
                    (ED25519_OID, _) => Err(KeyError::Unsupported("an Ed25519 key")),
                    (ED448_OID, _) => Err(KeyError::Unsupported("an Ed448 key")),
                    _ => Err(KeyError::Unsupported("a key of another algorithm")),
                }
            }
            "RSA PRIVATE KEY" => rsa_key(&der, "a PKCS#1 RSA private key"),
            // SEC1 names its curve inside; a key on another curve fails to parse here.
            "EC PRIVATE KEY" => p384::SecretKey::from_sec1_der(&der)
                .map(|key| SigningKey::Es384(key.into()))
                .map_err(|_| KeyError::Malformed("an EC P-384 private key (SEC1)")),
            "ENCRYPTED PRIVATE KEY" => Err(KeyError::Encrypted),
            "PUBLIC KEY" | "RSA PUBLIC KEY" | "EC PUBLIC KEY" => {
                Err(KeyError::NotPrivate("a public key"))
            }
            "CERTIFICATE" => Err(KeyError::NotPrivate("a certificate")),
            "OPENSSH PRIVATE KEY" => Err(KeyError::Unsupported(
                "in OpenSSH format (convert it to PKCS#8 PEM)",
            )),
            _ => Err(KeyError::NotPem),
        }
    }

    /// The JWS `alg` this key signs with.
    fn alg(&self) -> &'static str {
        match self {
            SigningKey::Rs384(_) => "RS384",
            SigningKey::Es384(_) => "ES384",
        }
    }

    /// The JWS signature of `message`: PKCS#1 v1.5 over SHA-384 for RS384 (ring's
    /// constant-time RSA), and for ES384 the raw `r || s` (96 bytes) JWS requires, not
    /// DER.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match self {
            SigningKey::Rs384(key) => {
                let mut signature = vec![0; key.public().modulus_len()];
                // PKCS#1 v1.5 padding takes no randomness; ring asks for a source anyway.
                key.sign(
                    &RSA_PKCS1_SHA384,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(|_| KeyError::Signing)?;
                Ok(signature)
            }
            SigningKey::Es384(key) => {
                let signature: p384::ecdsa::Signature =
                    key.try_sign(message).map_err(|_| KeyError::Signing)?;
                Ok(signature.to_bytes().to_vec())
            }
        }
    }
}

/// An RSA signing key from a PKCS#1 `RSAPrivateKey` (bare, or the inside of a PKCS#8
/// block); `kind` names what the PEM block promised, for the error. The key's size is
/// read first, so a key of a size ring does not sign with is refused with its size
/// rather than as unreadable: 2048 to 4096 bits, with primes a multiple of 512 bits
/// long (each prime has half the modulus's bits, rounded up).
fn rsa_key(rsa_private_key: &[u8], kind: &'static str) -> Result<SigningKey, KeyError> {
    let bits = rsa_modulus_bits(rsa_private_key).ok_or(KeyError::Malformed(kind))?;
    if bits < MIN_RSA_BITS {
        return Err(KeyError::TooShort(bits));
    }
    if bits > MAX_RSA_BITS || bits.div_ceil(2) % 512 != 0 {
        return Err(KeyError::RsaSize(bits));
    }
    RsaKeyPair::from_der(rsa_private_key)
        .map(|key| SigningKey::Rs384(Box::new(key)))
        .map_err(|_| KeyError::Malformed(kind))
}

/// The bit length of the modulus `n` of an `RSAPrivateKey` (RFC 8017 A.1.2:
/// `SEQUENCE { version, n, e, ... }`), or `None` if the DER does not start so.
fn rsa_modulus_bits(rsa_private_key: &[u8]) -> Option<usize> {
    let mut reader = SliceReader::new(rsa_private_key).ok()?;
    Header::decode(&mut reader)
        .ok()?
        .tag
        .assert_eq(Tag::Sequence)
        .ok()?;
    let _version = u8::decode(&mut reader).ok()?;
    let n = UintRef::decode(&mut reader).ok()?;
    let first = *n.as_bytes().first()?;
    Some(n.as_bytes().len() * 8 - first.leading_zeros() as usize)
}

/// Pasted keys arrive with CRLF line ends, indentation, the body on one line or `\n`
/// written out (copied from an environment file): the block is rebuilt from its label
/// and base64 before the strict RFC 7468 decoder reads it.
fn normalize(text: &str) -> Result<Zeroizing<String>, KeyError> {
    const BEGIN: &str = "-----BEGIN ";
    const DASHES: &str = "-----";
    let text = Zeroizing::new(text.replace("\\n", "\n"));
    let start = text.find(BEGIN).ok_or(KeyError::NotPem)? + BEGIN.len();
    let label_len = text[start..].find(DASHES).ok_or(KeyError::NotPem)?;
    let label = &text[start..start + label_len];
    if label.is_empty()
        || label.len() > 40
        || !label
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == ' ')
    {
        return Err(KeyError::NotPem);
    }
    let body_start = start + label_len + DASHES.len();
    let end = format!("-----END {label}-----");
    let body_len = text[body_start..].find(&end).ok_or(KeyError::NotPem)?;
    let body = &text[body_start..body_start + body_len];
    // Legacy OpenSSL encryption puts `Proc-Type:` and `DEK-Info:` headers in the block.
    if body.contains("Proc-Type:") || body.contains("DEK-Info:") {
        return Err(KeyError::Encrypted);
    }
    let base64: Zeroizing<Vec<u8>> =
        Zeroizing::new(body.bytes().filter(|b| !b.is_ascii_whitespace()).collect());
    let mut pem = Zeroizing::new(String::with_capacity(base64.len() + 128));
    pem.push_str(&format!("-----BEGIN {label}-----\n"));
    for line in base64.chunks(64) {
        pem.push_str(std::str::from_utf8(line).map_err(|_| KeyError::NotPem)?);
        pem.push('\n');
    }
    pem.push_str(&end);
    pem.push('\n');
    Ok(pem)
}

/// A client assertion: a JWT with header `{alg, typ: JWT, kid}` and claims
/// `iss = sub = client_id`, `aud = token URL`, `exp` four minutes ahead and a unique
/// `jti`, signed with the client's private key.
fn client_assertion(
    key: &SigningKey,
    client_id: &str,
    key_id: Option<&str>,
    token_url: &str,
    now: DateTime<Utc>,
) -> Result<Zeroizing<String>, KeyError> {
    let mut header = json!({"alg": key.alg(), "typ": "JWT"});
    if let Some(kid) = key_id {
        header["kid"] = json!(kid);
    }
    let claims = json!({
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "exp": now.timestamp() + ASSERTION_SECS,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    let signing_input = format!(
        "{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string())
    );
    let signature = key.sign(signing_input.as_bytes())?;
    Ok(Zeroizing::new(format!(
        "{signing_input}.{}",
        B64URL.encode(signature)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p384::ecdsa::signature::Verifier;
    use pkcs8::DecodePublicKey;
    use pkcs8::spki::SubjectPublicKeyInfoRef;
    use ring::signature::{RSA_PKCS1_2048_8192_SHA384, UnparsedPublicKey};

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/data/smart")
            .join(name);
        std::fs::read_to_string(&path).expect("tests/data/smart fixture")
    }

    fn public_der(name: &str) -> Vec<u8> {
        let pem = fixture(name);
        let (label, der) = pem_rfc7468::decode_vec(pem.as_bytes()).expect("public PEM");
        assert_eq!(label, "PUBLIC KEY");
        der
    }

    /// Whether `signature` is the RS384 signature of `input` by the fixture's RSA key.
    fn rsa_verifies(input: &str, signature: &[u8]) -> bool {
        let der = public_der("rsa-public.pem");
        let spki = SubjectPublicKeyInfoRef::try_from(der.as_slice()).expect("SPKI");
        let public = spki.subject_public_key.raw_bytes();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA384, public)
            .verify(input.as_bytes(), signature)
            .is_ok()
    }

    fn ec_verifier() -> p384::ecdsa::VerifyingKey {
        let public = p384::PublicKey::from_public_key_der(&public_der("ec-p384-public.pem"))
            .expect("public");
        public.into()
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
    }

    const TOKEN_URL: &str = "https://ehr.example.org/oauth2/token";

    /// The three parts of a compact JWS: header, claims (both parsed) and the
    /// signature bytes, with the signing input.
    fn parts(jwt: &str) -> (Value, Value, Vec<u8>, String) {
        let pieces: Vec<&str> = jwt.split('.').collect();
        assert_eq!(pieces.len(), 3, "header.claims.signature");
        for piece in &pieces {
            assert!(
                piece
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "base64url without padding: {piece}"
            );
        }
        let json = |p: &str| -> Value {
            serde_json::from_slice(&B64URL.decode(p).expect("base64url")).expect("JSON")
        };
        (
            json(pieces[0]),
            json(pieces[1]),
            B64URL.decode(pieces[2]).expect("signature"),
            format!("{}.{}", pieces[0], pieces[1]),
        )
    }

    fn assert_spec_claims(claims: &Value, client_id: &str) {
        assert_eq!(claims["iss"], client_id);
        assert_eq!(claims["sub"], client_id);
        assert_eq!(claims["aud"], TOKEN_URL);
        let exp = claims["exp"].as_i64().expect("exp is a number");
        let now = now().timestamp();
        assert!(
            exp > now && exp <= now + 300,
            "exp no more than five minutes ahead: {}",
            exp - now
        );
        assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    }

    fn assertion(pem: &str, key_id: Option<&str>) -> String {
        let key = SigningKey::from_pem(pem).expect("key");
        client_assertion(&key, "client-1", key_id, TOKEN_URL, now())
            .expect("signed")
            .to_string()
    }

    #[test]
    fn an_rs384_assertion_is_a_jwt_with_the_spec_claims_signed_by_the_key() {
        let jwt = assertion(&fixture("rsa-pkcs8.pem"), Some("test-key-1"));
        let (header, claims, signature, input) = parts(&jwt);
        assert_eq!(
            header,
            json!({"alg": "RS384", "typ": "JWT", "kid": "test-key-1"})
        );
        assert_spec_claims(&claims, "client-1");
        assert_eq!(signature.len(), 256, "a 2048-bit key signs 256 bytes");
        assert!(
            rsa_verifies(&input, &signature),
            "verifies with the public key"
        );
        let forged = input.replacen('e', "f", 1);
        assert!(
            !rsa_verifies(&forged, &signature),
            "the signature covers the header and claims"
        );
    }

    /// RS384 (PKCS#1 v1.5) is deterministic, so the signature of a fixed input is fixed:
    /// this one was made by OpenSSL from the fixture key (tests/data/smart/README.md).
    #[test]
    fn an_rs384_signature_is_byte_for_byte_the_one_openssl_makes_with_the_key() {
        const INPUT: &str = "eyJhbGciOiJSUzM4NCJ9.eyJzdWIiOiJ2ZWN0b3IifQ";
        const OPENSSL: &str = "HgbO38Pe_mccAASYNoVN3OSKPwuRDzL1lgQl2GMvkdIVTBs8KxaVu-oGDc-cfblmF9HhJ2ohNIYjpFGXo0cUcScmmdThVskVXbbsJeyQF3RPoQiAEte3zezTKiAzCbTVvv2aZcylt3Crfx349coA7CzLAuq2KaIT2ucuQPmEt7Maj-dd2GntKcO-FQ4A74FAjhXxGZ3EDUcT_8hGISBZnyHEzU2ctK8-UviGUfoatdZKjf_xTyMJRIww_-uxFIrIy9TZMlFQschbWX7ZNcK6hLWNFGIkHoQIBGvy0gA5_e3OYS-fg1ViuMvtuuT-Px612rm81XcbQulu7BPVvj8l-w";
        for file in ["rsa-pkcs8.pem", "rsa-pkcs1.pem"] {
            let key = SigningKey::from_pem(&fixture(file)).expect("key");
            let signature = key.sign(INPUT.as_bytes()).expect("signed");
            assert_eq!(B64URL.encode(signature), OPENSSL, "{file}");
        }
    }

    #[test]
    fn an_es384_assertion_carries_a_raw_96_byte_signature_that_verifies() {
        for file in ["ec-p384-pkcs8.pem", "ec-p384-sec1.pem"] {
            let jwt = assertion(&fixture(file), Some("ec-key"));
            let (header, claims, signature, input) = parts(&jwt);
            assert_eq!(
                header,
                json!({"alg": "ES384", "typ": "JWT", "kid": "ec-key"})
            );
            assert_spec_claims(&claims, "client-1");
            assert_eq!(signature.len(), 96, "{file}: r || s, not DER");
            let signature = p384::ecdsa::Signature::from_slice(&signature).expect("r || s");
            ec_verifier()
                .verify(input.as_bytes(), &signature)
                .expect("verifies with the public key");
        }
    }

    #[test]
    fn pkcs1_and_pkcs8_rsa_pems_are_the_same_key() {
        let pkcs1 = SigningKey::from_pem(&fixture("rsa-pkcs1.pem")).expect("PKCS#1");
        let pkcs8 = SigningKey::from_pem(&fixture("rsa-pkcs8.pem")).expect("PKCS#8");
        // PKCS#1 v1.5 signatures are deterministic: the same key signs alike.
        assert_eq!(
            pkcs1.sign(b"message").expect("sign"),
            pkcs8.sign(b"message").expect("sign")
        );
        let jwt = assertion(&fixture("rsa-pkcs1.pem"), None);
        let (header, _, signature, input) = parts(&jwt);
        assert_eq!(
            header,
            json!({"alg": "RS384", "typ": "JWT"}),
            "no kid without a key id"
        );
        assert!(rsa_verifies(&input, &signature), "verifies");
    }

    #[test]
    fn every_assertion_has_its_own_jti() {
        let pem = fixture("ec-p384-pkcs8.pem");
        let (_, first, ..) = parts(&assertion(&pem, None));
        let (_, second, ..) = parts(&assertion(&pem, None));
        assert_ne!(first["jti"], second["jti"]);
    }

    #[test]
    fn pasted_keys_with_crlf_indentation_one_line_or_escaped_newlines_still_parse() {
        let pem = fixture("ec-p384-pkcs8.pem");
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>();
        for variant in [
            pem.replace('\n', "\r\n"),
            pem.lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
            format!("-----BEGIN PRIVATE KEY-----{body}-----END PRIVATE KEY-----"),
            pem.replace('\n', "\\n"),
            format!("\n\n{pem}\n\n"),
        ] {
            assert!(
                SigningKey::from_pem(&variant).is_ok(),
                "should parse: {variant:?}"
            );
        }
    }

    #[test]
    fn unusable_keys_are_refused_with_a_message_that_does_not_echo_them() {
        let rsa = fixture("rsa-pkcs8.pem");
        let truncated: String =
            rsa.lines().take(8).collect::<Vec<_>>().join("\n") + "\n-----END PRIVATE KEY-----\n";
        let cases: Vec<(String, KeyError)> = vec![
            ("".into(), KeyError::NotPem),
            (
                "canary-not-a-key-but-a-password-1234".into(),
                KeyError::NotPem,
            ),
            (
                // The catalog's example value.
                "-----BEGIN PRIVATE KEY-----\nNOT-A-REAL-KEY\n-----END PRIVATE KEY-----".into(),
                KeyError::NotPem,
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----"
                    .into(),
                KeyError::Malformed("a PKCS#8 private key"),
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nMIIB\n".into(),
                KeyError::NotPem,
            ),
            (truncated, KeyError::Malformed("a PKCS#8 private key")),
            (
                fixture("rsa-public.pem"),
                KeyError::NotPrivate("a public key"),
            ),
            (fixture("ec-p384-encrypted.pem"), KeyError::Encrypted),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----".into(),
                KeyError::Encrypted,
            ),
            (
                fixture("ec-p256-pkcs8.pem"),
                KeyError::Unsupported("an EC P-256 key"),
            ),
            (
                fixture("ed25519-pkcs8.pem"),
                KeyError::Unsupported("an Ed25519 key"),
            ),
            (fixture("rsa-1024-pkcs8.pem"), KeyError::TooShort(1024)),
            (fixture("rsa-5120-pkcs8.pem"), KeyError::RsaSize(5120)),
            (fixture("rsa-2560-pkcs8.pem"), KeyError::RsaSize(2560)),
            (
                fixture("rsa-pkcs1.pem").replace("RSA PRIVATE KEY", "EC PRIVATE KEY"),
                KeyError::Malformed("an EC P-384 private key (SEC1)"),
            ),
            (
                "-----BEGIN ÉTRANGE-----\nAAAA\n-----END ÉTRANGE-----".into(),
                KeyError::NotPem,
            ),
        ];
        for (input, expected) in cases {
            let err = SigningKey::from_pem(&input).expect_err("refused");
            assert_eq!(err, expected, "{input:?}");
            let message = SmartError::Credentials(err.to_string()).to_string();
            for line in input
                .lines()
                .filter(|l| l.len() >= 8 && !l.starts_with("-----"))
            {
                assert!(!message.contains(line.trim()), "{message} echoes {line}");
            }
        }
    }

    #[test]
    fn mangled_key_bytes_are_refused_without_a_panic() {
        for file in [
            "rsa-pkcs1.pem",
            "rsa-pkcs8.pem",
            "ec-p384-pkcs8.pem",
            "ec-p384-sec1.pem",
        ] {
            let pem = fixture(file);
            let (label, der) = pem_rfc7468::decode_vec(pem.as_bytes()).expect("PEM");
            let encode = |bytes: &[u8]| {
                let body = base64::engine::general_purpose::STANDARD.encode(bytes);
                format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
            };
            // Every truncation of the short EC keys; a spread of them for RSA, whose
            // parse (with its key checks) costs more in a debug build.
            let step = if der.len() > 300 { 37 } else { 1 };
            for len in (0..der.len()).step_by(step) {
                let _ = SigningKey::from_pem(&encode(&der[..len]));
            }
            for at in (0..der.len()).step_by(step.max(3)) {
                let mut flipped = der.clone();
                flipped[at] ^= 0xff;
                let _ = SigningKey::from_pem(&encode(&flipped));
            }
        }
    }

    fn fhir() -> Provider {
        crate::catalog::catalog()
            .expect("catalog")
            .get("fhir")
            .expect("fhir")
            .clone()
    }

    fn config(value: Value) -> Map<String, Value> {
        serde_json::from_value(value).expect("object")
    }

    #[test]
    fn fhir_resolves_to_smart_backend_services_only_when_its_auth_type_says_so() {
        let smart = config(json!({"base_url": "https://ehr.example.org/r4",
            "auth_type": "smart_backend_services", "token_url": TOKEN_URL}));
        let service = backend_services(&fhir(), &smart)
            .expect("SMART")
            .expect("settings");
        assert_eq!(service.token_url, TOKEN_URL);
        assert_eq!(service.scopes, vec!["system/*.read", "system/*.write"]);
        assert!(
            oauth::token_url(&fhir(), &smart).is_none(),
            "not an OAuth2 refresh"
        );
        let bearer = config(json!({"base_url": "https://ehr.example.org/r4"}));
        assert!(
            backend_services(&fhir(), &bearer).is_none(),
            "bearer is the default"
        );
        let missing = config(json!({"auth_type": "smart_backend_services"}));
        assert!(matches!(
            backend_services(&fhir(), &missing),
            Some(Err(SmartError::NoTokenUrl))
        ));
    }

    #[test]
    fn the_token_request_is_a_client_credentials_grant_with_the_assertion() {
        let mut credentials = Credentials::new();
        credentials.insert("client_id", "client-1");
        credentials.insert("private_key", fixture("ec-p384-pkcs8.pem"));
        credentials.insert("key_id", "ec-key");
        let scopes = vec!["system/*.read".to_owned(), "system/*.write".to_owned()];
        let grant = ClientAssertionGrant { scopes: &scopes };
        let form = grant.form(&credentials, TOKEN_URL, now()).expect("form");
        let names: Vec<&str> = form.fields.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "grant_type",
                "scope",
                "client_assertion_type",
                "client_assertion"
            ]
        );
        assert_eq!(form.fields[0].1, "client_credentials");
        assert_eq!(form.fields[1].1, "system/*.read system/*.write");
        assert_eq!(form.fields[2].1, ASSERTION_TYPE);
        assert_eq!(
            form.secrets,
            vec![form.fields[3].1.clone()],
            "the assertion is masked"
        );
        let (header, claims, ..) = parts(&form.fields[3].1);
        assert_eq!(header["kid"], "ec-key");
        assert_spec_claims(&claims, "client-1");

        let mut no_key = Credentials::new();
        no_key.insert("client_id", "client-1");
        assert_eq!(
            grant.form(&no_key, TOKEN_URL, now()).err().as_deref(),
            Some("credentials.private_key is not set")
        );
        assert!(grant.check(&json!({"token_type": "Bearer"})).is_ok());
        assert!(grant.check(&json!({"token_type": "bearer"})).is_ok());
        assert!(grant.check(&json!({"token_type": "DPoP"})).is_err());
        assert_eq!(grant.default_lifetime(), 300);
    }

    #[test]
    fn a_signing_key_debug_names_the_algorithm_only() {
        let key = SigningKey::from_pem(&fixture("rsa-pkcs8.pem")).expect("key");
        assert_eq!(format!("{key:?}"), "SigningKey(RS384)");
    }
}
