//! Token-minting helpers for tests (cargo feature `testing`; never enable it in a
//! component). The helpers panic on bad input: they are for tests only.
//!
//! ```
//! use orders_auth::{testing, AuthConfig};
//! use serde_json::json;
//!
//! let now = 1_700_000_000;
//! let token = testing::hs256_token("test-secret", json!({"sub": "u1", "exp": now + 300}));
//! let config = AuthConfig::new(Some("test-secret"), None, None, None).unwrap();
//! let verified = config.verify(Some(&format!("Bearer {token}")), now).unwrap();
//! assert_eq!(verified.subject, "u1");
//!
//! // RS256 against a JWKS, with the bundled test key pair.
//! let jwks = testing::jwks([testing::rsa_jwk(testing::RSA_A_PRIVATE_PEM, Some("a"))]);
//! let token = testing::rs256_token(
//!     testing::RSA_A_PRIVATE_PEM,
//!     Some("a"),
//!     json!({"sub": "u2", "exp": now + 300}),
//! );
//! let config = AuthConfig::new(None, Some(&jwks), None, None).unwrap();
//! assert_eq!(config.verify(Some(&format!("Bearer {token}")), now).unwrap().subject, "u2");
//! ```

use jwt_compact::{
    alg::{Es256, Hs256, Hs256Key, Rsa, RsaPrivateKey, RsaPublicKey},
    jwk::JsonWebKey,
    AlgorithmExt, Claims, Header,
};
use p256::ecdsa::{SigningKey, VerifyingKey};
// One `pkcs8` crate serves both `rsa` and `p256`.
use rsa::{
    pkcs1::{DecodeRsaPrivateKey as _, DecodeRsaPublicKey as _},
    pkcs8::{DecodePrivateKey as _, DecodePublicKey as _},
};
use serde_json::{json, Value};

/// A test-only RSA 2048 private key (PKCS#8 PEM). Never trust it anywhere real.
pub const RSA_A_PRIVATE_PEM: &str = include_str!("../tests/fixtures/rsa-a.pem");
/// The public half of [`RSA_A_PRIVATE_PEM`] (SPKI PEM).
pub const RSA_A_PUBLIC_PEM: &str = include_str!("../tests/fixtures/rsa-a.pub.pem");
/// A second test-only RSA 2048 private key (PKCS#8 PEM).
pub const RSA_B_PRIVATE_PEM: &str = include_str!("../tests/fixtures/rsa-b.pem");
/// The public half of [`RSA_B_PRIVATE_PEM`] (SPKI PEM).
pub const RSA_B_PUBLIC_PEM: &str = include_str!("../tests/fixtures/rsa-b.pub.pem");
/// A test-only EC P-256 private key (PKCS#8 PEM).
pub const EC_P256_PRIVATE_PEM: &str = include_str!("../tests/fixtures/ec-p256.pem");
/// The public half of [`EC_P256_PRIVATE_PEM`] (SPKI PEM).
pub const EC_P256_PUBLIC_PEM: &str = include_str!("../tests/fixtures/ec-p256.pub.pem");

/// An HS256 token over `claims` (a JSON object, e.g. `{"sub","exp","scope"}`).
pub fn hs256_token(secret: &str, claims: Value) -> String {
    hs256_token_with_key(secret.as_bytes(), None, claims)
}

/// An HS256 token whose HMAC key is arbitrary bytes, with an optional `kid` header.
pub fn hs256_token_with_key(key: &[u8], kid: Option<&str>, claims: Value) -> String {
    Hs256
        .token(
            &header(kid),
            &Claims::new(object(claims)),
            &Hs256Key::new(key),
        )
        .expect("HS256 token")
}

/// An RS256 token signed with a PEM private key (PKCS#8 or PKCS#1).
pub fn rs256_token(private_key_pem: &str, kid: Option<&str>, claims: Value) -> String {
    Rsa::rs256()
        .token(
            &header(kid),
            &Claims::new(object(claims)),
            &rsa_private_key(private_key_pem),
        )
        .expect("RS256 token")
}

/// An ES256 token signed with a PEM P-256 private key (PKCS#8 or SEC1).
pub fn es256_token(private_key_pem: &str, kid: Option<&str>, claims: Value) -> String {
    Es256
        .token(
            &header(kid),
            &Claims::new(object(claims)),
            &ec_signing_key(private_key_pem),
        )
        .expect("ES256 token")
}

/// A token with the given header and claims and whatever `signature` (base64url-encoded
/// as is): for `alg: none` (`signature` empty) and other hand-made tokens.
pub fn unsigned_token(header: Value, claims: Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        base64url(serde_json::to_string(&header).expect("header").as_bytes()),
        base64url(serde_json::to_string(&claims).expect("claims").as_bytes()),
        base64url(signature)
    )
}

/// The public JWK (`kty` `RSA`, `alg` `RS256`, `use` `sig`) of a PEM RSA key, private
/// or public.
pub fn rsa_jwk(pem: &str, kid: Option<&str>) -> Value {
    let public = if pem.contains("PRIVATE KEY") {
        rsa_private_key(pem).to_public_key()
    } else {
        RsaPublicKey::from_public_key_pem(pem)
            .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem))
            .expect("RSA public key PEM")
    };
    let jwk = JsonWebKey::from(&public);
    with_metadata(&jwk, "RS256", kid)
}

/// The public JWK (`kty` `EC`, `crv` `P-256`, `alg` `ES256`, `use` `sig`) of a PEM
/// P-256 key, private or public.
pub fn ec_jwk(pem: &str, kid: Option<&str>) -> Value {
    let public = if pem.contains("PRIVATE KEY") {
        *ec_signing_key(pem).verifying_key()
    } else {
        VerifyingKey::from_public_key_pem(pem).expect("P-256 public key PEM")
    };
    let jwk = JsonWebKey::from(&public);
    with_metadata(&jwk, "ES256", kid)
}

/// A JWKS document (`{"keys":[...]}`) as the configuration takes it.
pub fn jwks(keys: impl IntoIterator<Item = Value>) -> String {
    json!({ "keys": keys.into_iter().collect::<Vec<_>>() }).to_string()
}

fn header(kid: Option<&str>) -> Header {
    let header = Header::empty().with_token_type("JWT");
    match kid {
        Some(kid) => header.with_key_id(kid),
        None => header,
    }
}

fn object(claims: Value) -> serde_json::Map<String, Value> {
    match claims {
        Value::Object(claims) => claims,
        other => panic!("claims must be a JSON object, got {other}"),
    }
}

fn rsa_private_key(pem: &str) -> RsaPrivateKey {
    RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
        .expect("RSA private key PEM (PKCS#8 or PKCS#1)")
}

fn ec_signing_key(pem: &str) -> SigningKey {
    SigningKey::from_pkcs8_pem(pem)
        .or_else(|_| p256::SecretKey::from_sec1_pem(pem).map(SigningKey::from))
        .expect("P-256 private key PEM (PKCS#8 or SEC1)")
}

fn with_metadata(jwk: &JsonWebKey<'_>, alg: &str, kid: Option<&str>) -> Value {
    let mut value = serde_json::to_value(jwk).expect("JWK");
    let members = value.as_object_mut().expect("JWK object");
    members.insert("alg".into(), alg.into());
    members.insert("use".into(), "sig".into());
    if let Some(kid) = kid {
        members.insert("kid".into(), kid.into());
    }
    value
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}
