//! JWKS parsing: the RS256 and ES256 public keys a deployment trusts.

use jwt_compact::{
    alg::{Es256, RsaPublicKey},
    jwk::JsonWebKey,
    Algorithm,
};
use serde_json::{Map, Value};

use crate::ConfigError;

/// An ES256 verifying key (a P-256 point), named through jwt-compact so that this crate
/// needs no direct `p256` dependency.
pub(crate) type EcPublicKey = <Es256 as Algorithm>::VerifyingKey;

/// RFC 7518 section 3.3: RSA keys for RS256 must be at least 2048 bits.
const MIN_RSA_BITS: usize = 2048;

/// JWK members that only a private key has (RFC 7518 sections 6.2.2 and 6.3.2).
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

/// One trusted key and the `kid` it was published under, if any.
#[derive(Clone)]
pub(crate) struct Keyed<K> {
    pub(crate) kid: Option<String>,
    pub(crate) key: K,
}

/// The keys of a JWKS that this service can use, by algorithm.
#[derive(Clone, Default)]
pub(crate) struct KeySet {
    pub(crate) rs256: Vec<Keyed<RsaPublicKey>>,
    pub(crate) es256: Vec<Keyed<EcPublicKey>>,
}

impl KeySet {
    /// Parses a JWKS document (`{"keys":[...]}`), or a single JWK object.
    ///
    /// A key is used for RS256 when `kty` is `RSA` and `alg`, if present, is `RS256`; for
    /// ES256 when `kty` is `EC`, `crv` is `P-256` and `alg`, if present, is `ES256`. Keys
    /// for other algorithms, for encryption (`use` other than `sig`, or `key_ops`
    /// without `verify`), and of other types (`oct`, `OKP`, ...) are skipped: a real
    /// identity provider's set may hold such keys. A symmetric (`oct`) key is never
    /// used, so a JWKS can never turn into an HMAC secret.
    pub(crate) fn parse(jwks: &str) -> Result<Self, ConfigError> {
        let document: Value =
            serde_json::from_str(jwks).map_err(|err| ConfigError::JwksNotJson {
                line: err.line(),
                column: err.column(),
            })?;
        let keys: Vec<Value> = match document {
            Value::Object(mut object) => match object.remove("keys") {
                Some(Value::Array(keys)) => keys,
                Some(_) => return Err(ConfigError::JwksShape("`keys` is not an array")),
                None if object.contains_key("kty") => vec![Value::Object(object)],
                None => return Err(ConfigError::JwksShape("no `keys` member")),
            },
            _ => return Err(ConfigError::JwksShape("not a json object")),
        };

        let mut set = Self::default();
        for (index, key) in keys.into_iter().enumerate() {
            let Value::Object(jwk) = key else {
                return Err(invalid(index, "not a json object"));
            };
            set.add(index, jwk)?;
        }
        if set.rs256.is_empty() && set.es256.is_empty() {
            return Err(ConfigError::NoUsableJwk);
        }
        Ok(set)
    }

    fn add(&mut self, index: usize, jwk: Map<String, Value>) -> Result<(), ConfigError> {
        let kty =
            string_member(&jwk, index, "kty")?.ok_or_else(|| invalid(index, "no `kty` member"))?;
        let kid = string_member(&jwk, index, "kid")?.map(str::to_owned);
        let alg = string_member(&jwk, index, "alg")?;
        if PRIVATE_MEMBERS
            .iter()
            .any(|member| jwk.contains_key(*member))
        {
            return Err(ConfigError::PrivateKeyInJwks { index });
        }
        if !usable_for_signatures(&jwk, index)? {
            return Ok(());
        }

        match kty {
            "RSA" if alg.is_none_or(|alg| alg == "RS256") => {
                let key = RsaPublicKey::try_from(&json_web_key(jwk, index)?)
                    .map_err(|_| invalid(index, "invalid rsa public key"))?;
                let bits = rsa_modulus_bits(&key);
                if bits < MIN_RSA_BITS {
                    return Err(ConfigError::WeakRsaKey { index, bits });
                }
                self.rs256.push(Keyed { kid, key });
            }
            "EC" if alg.is_none_or(|alg| alg == "ES256") => {
                if string_member(&jwk, index, "crv")? != Some("P-256") {
                    // ES384 / ES512 / secp256k1 keys: not ours to use.
                    return Ok(());
                }
                let key = EcPublicKey::try_from(&json_web_key(jwk, index)?)
                    .map_err(|_| invalid(index, "invalid p-256 public key"))?;
                self.es256.push(Keyed { kid, key });
            }
            // Other algorithms (RS384, PS256, ES384, ...) and key types: skipped.
            _ => {}
        }
        Ok(())
    }
}

fn invalid(index: usize, reason: &'static str) -> ConfigError {
    ConfigError::InvalidJwk { index, reason }
}

/// A member that must be a string when present.
fn string_member<'a>(
    jwk: &'a Map<String, Value>,
    index: usize,
    name: &'static str,
) -> Result<Option<&'a str>, ConfigError> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(ConfigError::InvalidJwk {
            index,
            reason: match name {
                "kty" => "`kty` is not a string",
                "kid" => "`kid` is not a string",
                "alg" => "`alg` is not a string",
                _ => "a member is not a string",
            },
        }),
    }
}

/// `use` and `key_ops` (RFC 7517 sections 4.2, 4.3): whether the key may verify
/// signatures.
fn usable_for_signatures(jwk: &Map<String, Value>, index: usize) -> Result<bool, ConfigError> {
    if let Some(key_use) = string_member(jwk, index, "use")? {
        if key_use != "sig" {
            return Ok(false);
        }
    }
    match jwk.get("key_ops") {
        None => Ok(true),
        Some(Value::Array(ops)) => Ok(ops.iter().any(|op| op.as_str() == Some("verify"))),
        Some(_) => Err(invalid(index, "`key_ops` is not an array")),
    }
}

fn json_web_key(jwk: Map<String, Value>, index: usize) -> Result<JsonWebKey<'static>, ConfigError> {
    serde_json::from_value(Value::Object(jwk))
        .map_err(|_| invalid(index, "missing or malformed key parameters"))
}

/// Bit length of the modulus, read back from the key's JWK form (big-endian `n`).
fn rsa_modulus_bits(key: &RsaPublicKey) -> usize {
    let JsonWebKey::Rsa { modulus, .. } = JsonWebKey::from(key) else {
        return 0;
    };
    let first_significant = modulus.iter().position(|byte| *byte != 0);
    match first_significant {
        None => 0,
        Some(start) => {
            let leading_zero_bits = modulus[start].leading_zeros() as usize;
            (modulus.len() - start) * 8 - leading_zero_bits
        }
    }
}
