//! Errors. Every `Display` message is short, lowercase and safe to show a client or to
//! log: none carries key material, a token, or a claim's value.

/// Why a request's bearer token was refused. Every variant is an HTTP 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header, an empty one, or one with another scheme than `Bearer`.
    #[error("missing bearer token")]
    MissingToken,
    /// Not a well-formed JWS compact token: structure, base64url, JSON header or claims,
    /// claim types, `crit` header parameters, more than one token in the header.
    #[error("malformed token")]
    Malformed,
    /// The header's `alg` is not one the configuration accepts (`none` never is).
    #[error("unsupported token algorithm")]
    UnsupportedAlgorithm,
    /// The signature does not verify with the selected key(s).
    #[error("invalid token signature")]
    BadSignature,
    /// The header's `kid` names no configured key for the header's `alg`.
    #[error("unknown token signing key")]
    UnknownKey,
    /// `exp` (plus the leeway) is in the past.
    #[error("token expired")]
    Expired,
    /// `nbf` (minus the leeway) is in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// No `exp` claim: tokens without an expiry are refused.
    #[error("token has no expiry")]
    MissingExpiry,
    /// `iss` differs from the configured issuer (or is missing).
    #[error("wrong token issuer")]
    WrongIssuer,
    /// The configured audience is not in `aud` (or `aud` is missing).
    #[error("wrong token audience")]
    WrongAudience,
    /// `sub` is missing, empty, or not a string.
    #[error("token has no subject")]
    MissingSubject,
}

impl AuthError {
    /// A `WWW-Authenticate` response header value for this refusal (RFC 6750 section 3):
    /// no error code when the request carried no bearer token, `invalid_token` otherwise.
    pub fn www_authenticate(&self) -> String {
        match self {
            Self::MissingToken => "Bearer".to_owned(),
            other => format!("Bearer error=\"invalid_token\", error_description=\"{other}\""),
        }
    }
}

/// Why the verification configuration could not be built. Messages name the setting and
/// the problem, never a key's or secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Neither an HS256 secret nor a JWKS was given.
    #[error("no jwt verification key configured: set jwt_secret or a jwks")]
    NoVerificationKey,
    /// The JWKS variable is not JSON.
    #[error("jwks is not valid json (line {line}, column {column})")]
    JwksNotJson {
        /// Line of the syntax error (1-based).
        line: usize,
        /// Column of the syntax error (1-based).
        column: usize,
    },
    /// The JWKS is JSON but not a JWK set (`{"keys":[...]}`) nor a single JWK.
    #[error("jwks is not a json web key set: {0}")]
    JwksShape(&'static str),
    /// One key of the set is invalid.
    #[error("jwks key #{index}: {reason}")]
    InvalidJwk {
        /// Position of the key in `keys` (0-based).
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An RSA key shorter than 2048 bits (RFC 7518 section 3.3 requires at least 2048).
    #[error("jwks key #{index}: rsa key of {bits} bits, at least 2048 required")]
    WeakRsaKey {
        /// Position of the key in `keys` (0-based).
        index: usize,
        /// The modulus length.
        bits: usize,
    },
    /// A key carries private parameters (`d`, ...): a JWKS must hold public keys only.
    #[error("jwks key #{index} contains private key material; publish public keys only")]
    PrivateKeyInJwks {
        /// Position of the key in `keys` (0-based).
        index: usize,
    },
    /// The JWKS holds no key usable for RS256 or ES256 (and no HS256 secret could have
    /// made up for it, since a JWKS was given on purpose).
    #[error("jwks has no rs256 or es256 signature key")]
    NoUsableJwk,
}
