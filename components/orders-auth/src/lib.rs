//! OAuth2 bearer-token (JWT) verification for the orders API.
//!
//! What the contract (`CONTRACT.md`, "JWT") asks, and how:
//!
//! - `Authorization: Bearer <jwt>`: the scheme is case-insensitive, exactly one token.
//! - The accepted algorithms come from the configuration, never from the token: HS256
//!   only when a secret is configured, RS256 / ES256 only with keys from the JWKS. The
//!   token's `alg` (and `kid`) only *select* among the configured keys, and each key
//!   verifies only with its own algorithm, so the HS/RS confusion (an HS256 token "signed"
//!   with an RSA public key as the HMAC secret) cannot verify, and `alg: none` is refused
//!   like every other unconfigured algorithm.
//! - `exp` is required, `nbf` honoured, both with [`LEEWAY_SECONDS`] of leeway.
//! - `iss` and `aud` are checked only when configured; `aud` may be a string or an array.
//! - `sub` is required (a non-empty string).
//! - Scopes come from `scope` (space separated) and / or `scp` (a string or an array).
//!
//! Pure Rust and free of I/O and clocks (the current time is a parameter), so it links
//! into a `wasm32-wasip2` component.
//!
//! ```
//! use orders_auth::{AuthConfig, AuthError};
//!
//! let config = AuthConfig::new(Some("a-long-random-hs256-secret"), None, None, None)?;
//! assert_eq!(config.verify(None, 1_700_000_000), Err(AuthError::MissingToken));
//! # Ok::<_, orders_auth::ConfigError>(())
//! ```

use std::fmt;

use jwt_compact::{
    alg::{Es256, Hs256, Hs256Key, Rsa},
    Algorithm, AlgorithmExt, Claims, Token, UntrustedToken, ValidationError,
};
use serde::Deserialize;
use serde_json::Value;

mod error;
mod jwks;
#[cfg(feature = "testing")]
pub mod testing;

pub use crate::error::{AuthError, ConfigError};
use crate::jwks::{KeySet, Keyed};

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: i64 = 60;

/// Longest token accepted (bytes). Real access tokens are well under 4 KiB; the bound
/// keeps a hostile header from costing base64 and JSON work.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// How bearer tokens are verified: the trusted keys and the expected `iss` / `aud`.
/// Built once from configuration; [`AuthConfig::verify`] is then pure.
///
/// In a component: build it from the Spin variables (`jwt_secret`, the JWKS, issuer and
/// audience; an undefined variable is `None`), take the header with
/// `req.header("authorization").and_then(|v| v.as_str())` (a non-UTF-8 value is then
/// `None`, i.e. [`AuthError::MissingToken`]), the time from `SystemTime::now()`, and
/// answer every [`AuthError`] with 401 `UNAUTHORIZED` (the message is safe to put in
/// the body, and [`AuthError::www_authenticate`] gives the `WWW-Authenticate` header).
#[derive(Clone)]
pub struct AuthConfig {
    hs256: Option<Hs256Key>,
    keys: KeySet,
    issuer: Option<String>,
    audience: Option<String>,
}

/// A verified token: who it is for and what it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The `sub` claim (non-empty).
    pub subject: String,
    /// The union of `scope` and `scp`, in token order, without duplicates.
    pub scopes: Vec<String>,
    /// The `exp` claim, in Unix seconds.
    pub expires_at: i64,
}

impl VerifiedToken {
    /// Whether the token grants `scope` (exact, case-sensitive match).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|granted| granted == scope)
    }
}

impl AuthConfig {
    /// Builds the configuration.
    ///
    /// - `hs256_secret`: the `jwt_secret` variable; HS256 is accepted only when it is set.
    /// - `jwks`: a JWKS JSON document (`{"keys":[...]}`, or a single JWK) with the RS256
    ///   / ES256 public keys of the identity provider(s); `kid` is optional.
    /// - `issuer` / `audience`: checked only when set.
    ///
    /// A blank value (empty or whitespace) counts as absent, so Spin variables with a
    /// `default = ""` work. At least one of `hs256_secret` and `jwks` must be set; a
    /// JWKS that is set must hold at least one usable key (see [`ConfigError`]).
    pub fn new(
        hs256_secret: Option<&str>,
        jwks: Option<&str>,
        issuer: Option<&str>,
        audience: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let hs256 = non_blank(hs256_secret).map(|secret| Hs256Key::new(secret.as_bytes()));
        let keys = match non_blank(jwks) {
            Some(jwks) => KeySet::parse(jwks)?,
            None => KeySet::default(),
        };
        if hs256.is_none() && keys.rs256.is_empty() && keys.es256.is_empty() {
            return Err(ConfigError::NoVerificationKey);
        }
        Ok(Self {
            hs256,
            keys,
            issuer: non_blank(issuer).map(str::to_owned),
            audience: non_blank(audience).map(str::to_owned),
        })
    }

    /// The algorithms this configuration accepts, e.g. for logging at start-up.
    pub fn algorithms(&self) -> Vec<&'static str> {
        let mut algorithms = Vec::new();
        if self.hs256.is_some() {
            algorithms.push("HS256");
        }
        if !self.keys.rs256.is_empty() {
            algorithms.push("RS256");
        }
        if !self.keys.es256.is_empty() {
            algorithms.push("ES256");
        }
        algorithms
    }

    /// Verifies the value of a request's `Authorization` header (`None` when the
    /// request has none; a caller that sees the header more than once should refuse the
    /// request or pass the values joined with `", "`, which is refused as malformed).
    ///
    /// `now_unix_seconds` is the current time; `exp` and `nbf` are checked against it
    /// with [`LEEWAY_SECONDS`] of leeway.
    pub fn verify(
        &self,
        authorization_header: Option<&str>,
        now_unix_seconds: i64,
    ) -> Result<VerifiedToken, AuthError> {
        let token = bearer_token(authorization_header)?;
        let untrusted =
            UntrustedToken::<HeaderExtras>::try_from(token).map_err(|_| AuthError::Malformed)?;
        if untrusted.header().other_fields.crit.is_some() {
            // RFC 7515 section 4.1.11: extensions we would have to understand; we don't.
            return Err(AuthError::Malformed);
        }
        let kid = untrusted.header().key_id.as_deref();

        // The configured keys for the token's `alg`; each verifies with that algorithm
        // only. The token never supplies key material or picks a key type by itself.
        let token = match untrusted.algorithm() {
            "HS256" => {
                let key = self.hs256.as_ref().ok_or(AuthError::UnsupportedAlgorithm)?;
                validate(&Hs256, key, &untrusted)?
            }
            "RS256" => verify_with_any(&Rsa::rs256(), &self.keys.rs256, kid, &untrusted)?,
            "ES256" => verify_with_any(&Es256, &self.keys.es256, kid, &untrusted)?,
            _ => return Err(AuthError::UnsupportedAlgorithm),
        };
        self.check_claims(token.claims(), now_unix_seconds)
    }

    fn check_claims(
        &self,
        claims: &Claims<TokenClaims>,
        now: i64,
    ) -> Result<VerifiedToken, AuthError> {
        let expires_at = claims
            .expiration
            .ok_or(AuthError::MissingExpiry)?
            .timestamp();
        if now > expires_at.saturating_add(LEEWAY_SECONDS) {
            return Err(AuthError::Expired);
        }
        if let Some(not_before) = claims.not_before {
            if now < not_before.timestamp().saturating_sub(LEEWAY_SECONDS) {
                return Err(AuthError::NotYetValid);
            }
        }

        let custom = &claims.custom;
        if let Some(issuer) = &self.issuer {
            if custom.iss.as_ref().and_then(Value::as_str) != Some(issuer.as_str()) {
                return Err(AuthError::WrongIssuer);
            }
        }
        if let Some(audience) = &self.audience {
            let matches = match &custom.aud {
                Some(Value::String(aud)) => aud == audience,
                Some(Value::Array(auds)) => auds.iter().any(|aud| aud.as_str() == Some(audience)),
                _ => false,
            };
            if !matches {
                return Err(AuthError::WrongAudience);
            }
        }
        let subject = match &custom.sub {
            Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
            _ => return Err(AuthError::MissingSubject),
        };

        let mut scopes = Vec::new();
        collect_scopes(custom.scope.as_ref(), &mut scopes)?;
        collect_scopes(custom.scp.as_ref(), &mut scopes)?;
        Ok(VerifiedToken {
            subject,
            scopes,
            expires_at,
        })
    }
}

impl fmt::Debug for AuthConfig {
    /// Shows what is configured, never a secret.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("AuthConfig")
            .field("hs256_secret", &self.hs256.as_ref().map(|_| "<redacted>"))
            .field("rs256_keys", &self.keys.rs256.len())
            .field("es256_keys", &self.keys.es256.len())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// Header parameters beyond the ones jwt-compact reads.
#[derive(Debug, Clone, Deserialize)]
struct HeaderExtras {
    #[serde(default)]
    crit: Option<Value>,
}

/// The claims checked here besides `exp` / `nbf` (which jwt-compact's `Claims` reads).
/// Kept as raw JSON so that a claim of the wrong type maps to the right error.
#[derive(Debug, Deserialize)]
struct TokenClaims {
    #[serde(default)]
    sub: Option<Value>,
    #[serde(default)]
    iss: Option<Value>,
    #[serde(default)]
    aud: Option<Value>,
    #[serde(default)]
    scope: Option<Value>,
    #[serde(default)]
    scp: Option<Value>,
}

fn non_blank(value: Option<&str>) -> Option<&str> {
    value.filter(|value| !value.trim().is_empty())
}

/// The token of `Authorization: Bearer <token>` (RFC 6750 section 2.1).
fn bearer_token(header: Option<&str>) -> Result<&str, AuthError> {
    const SPACE: [char; 2] = [' ', '\t'];
    let value = header.map(|value| value.trim_matches(SPACE)).unwrap_or("");
    let (scheme, rest) = value.split_once(SPACE).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MissingToken);
    }
    let token = rest.trim_start_matches(SPACE);
    if token.is_empty() {
        return Err(AuthError::MissingToken);
    }
    // Exactly one token, in the JWS compact alphabet (base64url and dots).
    let well_formed = token.len() <= MAX_TOKEN_BYTES
        && token
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'));
    if !well_formed {
        return Err(AuthError::Malformed);
    }
    Ok(token)
}

fn validate<A: Algorithm>(
    algorithm: &A,
    key: &A::VerifyingKey,
    token: &UntrustedToken<'_, HeaderExtras>,
) -> Result<Token<TokenClaims, HeaderExtras>, AuthError> {
    algorithm
        .validator::<TokenClaims>(key)
        .validate(token)
        .map_err(|err| match err {
            ValidationError::InvalidSignature
            | ValidationError::InvalidSignatureLen { .. }
            | ValidationError::MalformedSignature(_)
            | ValidationError::AlgorithmMismatch { .. } => AuthError::BadSignature,
            _ => AuthError::Malformed,
        })
}

/// Verifies with the configured keys of one algorithm. With a `kid`, the keys published
/// under that `kid` (falling back to the keys published without one); without, every
/// key of the algorithm. No key of the algorithm at all: the algorithm is not accepted.
fn verify_with_any<A: Algorithm>(
    algorithm: &A,
    keys: &[Keyed<A::VerifyingKey>],
    kid: Option<&str>,
    token: &UntrustedToken<'_, HeaderExtras>,
) -> Result<Token<TokenClaims, HeaderExtras>, AuthError> {
    if keys.is_empty() {
        return Err(AuthError::UnsupportedAlgorithm);
    }
    let candidates: Vec<&A::VerifyingKey> = match kid {
        None => keys.iter().map(|keyed| &keyed.key).collect(),
        Some(kid) => {
            let named: Vec<_> = keys
                .iter()
                .filter(|keyed| keyed.kid.as_deref() == Some(kid))
                .map(|keyed| &keyed.key)
                .collect();
            if named.is_empty() {
                keys.iter()
                    .filter(|keyed| keyed.kid.is_none())
                    .map(|keyed| &keyed.key)
                    .collect()
            } else {
                named
            }
        }
    };
    if candidates.is_empty() {
        return Err(AuthError::UnknownKey);
    }
    let mut outcome = Err(AuthError::BadSignature);
    for key in candidates {
        outcome = validate(algorithm, key, token);
        if !matches!(outcome, Err(AuthError::BadSignature)) {
            break;
        }
    }
    outcome
}

/// Adds the scopes of a `scope` or `scp` claim: a space-separated string, or an array
/// of strings.
fn collect_scopes(claim: Option<&Value>, scopes: &mut Vec<String>) -> Result<(), AuthError> {
    let mut add = |scope: &str| {
        if !scope.is_empty() && !scopes.iter().any(|known| known == scope) {
            scopes.push(scope.to_owned());
        }
    };
    match claim {
        None => {}
        Some(Value::String(list)) => list.split_ascii_whitespace().for_each(add),
        Some(Value::Array(items)) => {
            for item in items {
                add(item.as_str().ok_or(AuthError::Malformed)?);
            }
        }
        Some(_) => return Err(AuthError::Malformed),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_takes_one_token() {
        assert_eq!(bearer_token(Some("Bearer a.b.c")), Ok("a.b.c"));
        assert_eq!(bearer_token(Some("bearer a.b.c")), Ok("a.b.c"));
        assert_eq!(bearer_token(Some("  BEARER \t a.b.c  ")), Ok("a.b.c"));
        assert_eq!(bearer_token(Some("Bearer")), Err(AuthError::MissingToken));
        assert_eq!(
            bearer_token(Some("Bearer   ")),
            Err(AuthError::MissingToken)
        );
        assert_eq!(bearer_token(Some("")), Err(AuthError::MissingToken));
        assert_eq!(
            bearer_token(Some("Basic dXNlcjpwYXNz")),
            Err(AuthError::MissingToken)
        );
        assert_eq!(
            bearer_token(Some("Bearera.b.c")),
            Err(AuthError::MissingToken)
        );
        assert_eq!(
            bearer_token(Some("Bearer a.b.c d.e.f")),
            Err(AuthError::Malformed)
        );
        assert_eq!(
            bearer_token(Some("Bearer a.b.c, Bearer d.e.f")),
            Err(AuthError::Malformed)
        );
        assert_eq!(
            bearer_token(Some("Bearer a.b+c")),
            Err(AuthError::Malformed)
        );
        let huge = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES + 1));
        assert_eq!(bearer_token(Some(&huge)), Err(AuthError::Malformed));
    }

    #[test]
    fn scopes_are_split_merged_and_deduplicated() {
        let mut scopes = Vec::new();
        collect_scopes(Some(&Value::from("a  b a")), &mut scopes).unwrap();
        collect_scopes(Some(&serde_json::json!(["b", "c", ""])), &mut scopes).unwrap();
        assert_eq!(scopes, ["a", "b", "c"]);
        assert_eq!(
            collect_scopes(Some(&serde_json::json!(["a", 1])), &mut scopes),
            Err(AuthError::Malformed)
        );
        assert_eq!(
            collect_scopes(Some(&serde_json::json!(7)), &mut scopes),
            Err(AuthError::Malformed)
        );
    }

    #[test]
    fn debug_output_redacts_the_secret() {
        let config = AuthConfig::new(Some("super-secret-value"), None, Some("iss"), None).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("super-secret-value"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }

    #[test]
    fn www_authenticate_follows_rfc_6750() {
        assert_eq!(AuthError::MissingToken.www_authenticate(), "Bearer");
        assert_eq!(
            AuthError::Expired.www_authenticate(),
            "Bearer error=\"invalid_token\", error_description=\"token expired\""
        );
    }
}
