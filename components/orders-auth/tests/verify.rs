//! Black-box tests of `AuthConfig::verify` against the contract's JWT rules.

use orders_auth::{testing, AuthConfig, AuthError, ConfigError, VerifiedToken, LEEWAY_SECONDS};
use rsa::{
    pkcs1::EncodeRsaPublicKey as _,
    pkcs8::{DecodePublicKey as _, EncodePublicKey as _},
    RsaPublicKey,
};
use serde_json::{json, Value};

const NOW: i64 = 1_700_000_000;
const SECRET: &str = "orders-auth-test-secret-0123456789abcdef";

fn claims() -> Value {
    json!({"sub": "user-1", "iat": NOW, "exp": NOW + 300})
}

fn with(mut base: Value, extra: Value) -> Value {
    let base_members = base.as_object_mut().expect("object");
    for (name, value) in extra.as_object().expect("object") {
        if value.is_null() {
            base_members.remove(name);
        } else {
            base_members.insert(name.clone(), value.clone());
        }
    }
    base
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn hs_config() -> AuthConfig {
    AuthConfig::new(Some(SECRET), None, None, None).expect("config")
}

fn verify(config: &AuthConfig, token: &str) -> Result<VerifiedToken, AuthError> {
    config.verify(Some(&bearer(token)), NOW)
}

fn verify_hs(claims: Value) -> Result<VerifiedToken, AuthError> {
    verify(&hs_config(), &testing::hs256_token(SECRET, claims))
}

fn rsa_a_jwk() -> Value {
    testing::rsa_jwk(testing::RSA_A_PUBLIC_PEM, Some("rsa-a"))
}

fn rsa_b_jwk() -> Value {
    testing::rsa_jwk(testing::RSA_B_PUBLIC_PEM, Some("rsa-b"))
}

fn ec_jwk() -> Value {
    testing::ec_jwk(testing::EC_P256_PUBLIC_PEM, Some("ec-1"))
}

fn jwks_config(keys: Vec<Value>) -> AuthConfig {
    AuthConfig::new(None, Some(&testing::jwks(keys)), None, None).expect("config")
}

/// The segments of a compact token.
fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

// --- HS256, the happy path and scopes ---------------------------------------------

#[test]
fn valid_hs256_token_is_accepted_with_subject_and_scope_claim() {
    let verified =
        verify_hs(with(claims(), json!({"scope": "orders:read orders:write"}))).expect("accepted");
    assert_eq!(verified.subject, "user-1");
    assert_eq!(verified.scopes, ["orders:read", "orders:write"]);
    assert_eq!(verified.expires_at, NOW + 300);
    assert!(verified.has_scope("orders:write"));
    assert!(!verified.has_scope("orders:admin"));
    assert!(!verified.has_scope("orders"));
}

#[test]
fn scopes_are_read_from_scp_as_an_array_or_a_string() {
    let verified = verify_hs(with(
        claims(),
        json!({"scp": ["orders:read", "orders:admin"]}),
    ))
    .expect("array accepted");
    assert_eq!(verified.scopes, ["orders:read", "orders:admin"]);
    assert!(verified.has_scope("orders:admin"));

    let verified =
        verify_hs(with(claims(), json!({"scp": "orders:read orders:admin"}))).expect("string");
    assert_eq!(verified.scopes, ["orders:read", "orders:admin"]);
}

#[test]
fn scope_and_scp_together_give_their_union_without_duplicates() {
    let verified =
        verify_hs(with(claims(), json!({"scope": "a b", "scp": ["b", "c"]}))).expect("accepted");
    assert_eq!(verified.scopes, ["a", "b", "c"]);
}

#[test]
fn token_without_scopes_has_none() {
    assert!(verify_hs(claims()).expect("accepted").scopes.is_empty());
}

#[test]
fn scope_claim_of_the_wrong_type_is_malformed() {
    assert_eq!(
        verify_hs(with(claims(), json!({"scope": 42}))),
        Err(AuthError::Malformed)
    );
    assert_eq!(
        verify_hs(with(claims(), json!({"scp": ["a", 1]}))),
        Err(AuthError::Malformed)
    );
}

// --- The Authorization header -------------------------------------------------------

#[test]
fn missing_authorization_header_is_missing_token() {
    assert_eq!(hs_config().verify(None, NOW), Err(AuthError::MissingToken));
    assert_eq!(
        hs_config().verify(Some(""), NOW),
        Err(AuthError::MissingToken)
    );
    assert_eq!(
        hs_config().verify(Some("   "), NOW),
        Err(AuthError::MissingToken)
    );
}

#[test]
fn non_bearer_scheme_is_missing_token() {
    let token = testing::hs256_token(SECRET, claims());
    for header in [
        format!("Basic {token}"),
        format!("Token {token}"),
        format!("Bearer{token}"),
        token.clone(),
        "Bearer".to_owned(),
        "Bearer   ".to_owned(),
    ] {
        assert_eq!(
            hs_config().verify(Some(&header), NOW),
            Err(AuthError::MissingToken),
            "{header}"
        );
    }
}

#[test]
fn bearer_scheme_is_case_insensitive() {
    let token = testing::hs256_token(SECRET, claims());
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let header = format!("{scheme} {token}");
        assert!(hs_config().verify(Some(&header), NOW).is_ok(), "{scheme}");
    }
}

#[test]
fn more_than_one_token_in_the_header_is_malformed() {
    let token = testing::hs256_token(SECRET, claims());
    for header in [
        format!("Bearer {token} {token}"),
        format!("Bearer {token}, Bearer {token}"),
    ] {
        assert_eq!(
            hs_config().verify(Some(&header), NOW),
            Err(AuthError::Malformed)
        );
    }
}

#[test]
fn garbage_token_is_malformed() {
    for garbage in [
        "garbage",
        "a.b",
        "a.b.c",
        "...",
        "a.b.c.d",
        "eyJhbGciOiJIUzI1NiJ9",
        "!!!.???.***",
        "bm90IGpzb24.eyJzdWIiOiJ4In0.c2ln",
    ] {
        assert_eq!(
            verify(&hs_config(), garbage),
            Err(AuthError::Malformed),
            "{garbage}"
        );
    }
}

#[test]
fn oversized_token_is_malformed() {
    let padding = "x".repeat(orders_auth::MAX_TOKEN_BYTES);
    let token = testing::hs256_token(SECRET, with(claims(), json!({ "padding": padding })));
    assert_eq!(verify(&hs_config(), &token), Err(AuthError::Malformed));
}

// --- Signatures -----------------------------------------------------------------------

#[test]
fn tampered_payload_is_rejected() {
    let token = testing::hs256_token(SECRET, claims());
    let forged_claims = with(claims(), json!({"sub": "admin", "scope": "orders:admin"}));
    let forged = segments(&testing::unsigned_token(json!({}), forged_claims, b""));
    let mut parts = segments(&token);
    parts[1] = forged[1].clone();
    assert_eq!(
        verify(&hs_config(), &parts.join(".")),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn tampered_signature_is_rejected() {
    let token = testing::hs256_token(SECRET, claims());
    let mut parts = segments(&token);
    let first = if parts[2].starts_with('A') { "B" } else { "A" };
    parts[2].replace_range(0..1, first);
    assert_eq!(
        verify(&hs_config(), &parts.join(".")),
        Err(AuthError::BadSignature)
    );
    // A truncated signature, too (8 characters: canonical base64url for 6 bytes).
    parts[2].truncate(8);
    assert_eq!(
        verify(&hs_config(), &parts.join(".")),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn token_signed_with_a_different_secret_is_rejected() {
    let token = testing::hs256_token("some-other-secret-0123456789abcdef", claims());
    assert_eq!(verify(&hs_config(), &token), Err(AuthError::BadSignature));
}

// --- Time ----------------------------------------------------------------------------

#[test]
fn expired_token_beyond_the_leeway_is_rejected() {
    let expired = with(claims(), json!({"exp": NOW - LEEWAY_SECONDS - 1}));
    assert_eq!(verify_hs(expired), Err(AuthError::Expired));
    assert_eq!(
        verify_hs(with(claims(), json!({"exp": NOW - 3600}))),
        Err(AuthError::Expired)
    );
}

#[test]
fn expired_token_within_the_leeway_is_accepted() {
    assert!(verify_hs(with(claims(), json!({"exp": NOW - 30}))).is_ok());
    assert!(verify_hs(with(claims(), json!({"exp": NOW - LEEWAY_SECONDS}))).is_ok());
    assert!(verify_hs(with(claims(), json!({"exp": NOW}))).is_ok());
}

#[test]
fn not_yet_valid_token_beyond_the_leeway_is_rejected() {
    let future = with(claims(), json!({"nbf": NOW + LEEWAY_SECONDS + 1}));
    assert_eq!(verify_hs(future), Err(AuthError::NotYetValid));
}

#[test]
fn not_yet_valid_token_within_the_leeway_is_accepted() {
    assert!(verify_hs(with(claims(), json!({"nbf": NOW + LEEWAY_SECONDS}))).is_ok());
    assert!(verify_hs(with(claims(), json!({"nbf": NOW - 10}))).is_ok());
}

#[test]
fn token_without_exp_is_rejected() {
    assert_eq!(
        verify_hs(with(claims(), json!({"exp": null}))),
        Err(AuthError::MissingExpiry)
    );
}

#[test]
fn exp_that_is_not_a_number_is_malformed() {
    assert_eq!(
        verify_hs(with(claims(), json!({"exp": "tomorrow"}))),
        Err(AuthError::Malformed)
    );
}

#[test]
fn the_time_comes_from_the_caller() {
    let token = testing::hs256_token(SECRET, claims());
    let header = bearer(&token);
    assert!(hs_config()
        .verify(Some(&header), NOW + 300 + LEEWAY_SECONDS)
        .is_ok());
    assert_eq!(
        hs_config().verify(Some(&header), NOW + 300 + LEEWAY_SECONDS + 1),
        Err(AuthError::Expired)
    );
}

// --- Subject -------------------------------------------------------------------------

#[test]
fn token_without_sub_is_rejected() {
    for sub in [json!(null), json!(""), json!(42), json!(["user-1"])] {
        assert_eq!(
            verify_hs(with(claims(), json!({ "sub": sub }))),
            Err(AuthError::MissingSubject),
            "{sub}"
        );
    }
}

// --- Algorithms ----------------------------------------------------------------------

#[test]
fn alg_none_token_with_an_empty_signature_is_rejected() {
    let jwks = testing::jwks([rsa_a_jwk(), ec_jwk()]);
    let both = AuthConfig::new(Some(SECRET), Some(&jwks), None, None).expect("config");
    for alg in ["none", "None", "NONE", "nOnE"] {
        let token = testing::unsigned_token(json!({"alg": alg, "typ": "JWT"}), claims(), b"");
        assert_eq!(
            verify(&both, &token),
            Err(AuthError::UnsupportedAlgorithm),
            "{alg}"
        );
    }
}

#[test]
fn alg_none_token_with_a_copied_signature_is_rejected() {
    let signature = segments(&testing::hs256_token(SECRET, claims()))[2].clone();
    let unsigned = testing::unsigned_token(json!({"alg": "none"}), claims(), b"");
    let token = format!("{unsigned}{signature}");
    assert_eq!(
        verify(&hs_config(), &token),
        Err(AuthError::UnsupportedAlgorithm)
    );
}

#[test]
fn algorithms_that_are_not_configured_are_rejected() {
    let jwks = testing::jwks([rsa_a_jwk(), ec_jwk()]);
    let both = AuthConfig::new(Some(SECRET), Some(&jwks), None, None).expect("config");
    for alg in [
        "HS384", "HS512", "RS384", "RS512", "PS256", "ES384", "ES256K", "EdDSA", "hs256", "",
    ] {
        let token = testing::unsigned_token(json!({ "alg": alg }), claims(), &[7; 64]);
        assert_eq!(
            verify(&both, &token),
            Err(AuthError::UnsupportedAlgorithm),
            "{alg}"
        );
    }
    let no_alg = testing::unsigned_token(json!({"typ": "JWT"}), claims(), &[7; 32]);
    assert_eq!(verify(&both, &no_alg), Err(AuthError::Malformed));
}

#[test]
fn hs256_token_is_rejected_when_only_a_jwks_is_configured() {
    let config = jwks_config(vec![rsa_a_jwk()]);
    let token = testing::hs256_token(SECRET, claims());
    assert_eq!(
        verify(&config, &token),
        Err(AuthError::UnsupportedAlgorithm)
    );
}

#[test]
fn hs256_token_keyed_with_the_rsa_public_key_is_rejected() {
    // The classic HS/RS confusion: the attacker knows the public key and uses its bytes
    // (PEM, SPKI DER, PKCS#1 DER, the JWK JSON) as an HMAC secret, naming its `kid`.
    let public = RsaPublicKey::from_public_key_pem(testing::RSA_A_PUBLIC_PEM).expect("pem");
    let spki_der = public.to_public_key_der().expect("der").as_bytes().to_vec();
    let pkcs1_der = public.to_pkcs1_der().expect("der").as_bytes().to_vec();
    let jwk_json = rsa_a_jwk().to_string().into_bytes();
    let hmac_keys: [&[u8]; 5] = [
        testing::RSA_A_PUBLIC_PEM.as_bytes(),
        testing::RSA_A_PUBLIC_PEM.trim_end().as_bytes(),
        &spki_der,
        &pkcs1_der,
        &jwk_json,
    ];

    let jwks = testing::jwks([rsa_a_jwk()]);
    let jwks_only = AuthConfig::new(None, Some(&jwks), None, None).expect("config");
    let jwks_and_secret = AuthConfig::new(Some(SECRET), Some(&jwks), None, None).expect("config");
    for key in hmac_keys {
        for kid in [Some("rsa-a"), None] {
            let token = testing::hs256_token_with_key(key, kid, claims());
            assert_eq!(
                verify(&jwks_only, &token),
                Err(AuthError::UnsupportedAlgorithm)
            );
            assert_eq!(
                verify(&jwks_and_secret, &token),
                Err(AuthError::BadSignature)
            );
        }
    }
    // The same configuration does accept the genuine RS256 token.
    let genuine = testing::rs256_token(testing::RSA_A_PRIVATE_PEM, Some("rsa-a"), claims());
    assert!(verify(&jwks_only, &genuine).is_ok());
    assert!(verify(&jwks_and_secret, &genuine).is_ok());
}

// --- RS256 / ES256 against a JWKS ----------------------------------------------------

#[test]
fn valid_rs256_token_is_accepted_against_a_jwks() {
    let config = jwks_config(vec![rsa_a_jwk()]);
    let token = testing::rs256_token(
        testing::RSA_A_PRIVATE_PEM,
        Some("rsa-a"),
        with(claims(), json!({"scp": ["orders:read"]})),
    );
    let verified = verify(&config, &token).expect("accepted");
    assert_eq!(verified.subject, "user-1");
    assert_eq!(verified.scopes, ["orders:read"]);
}

#[test]
fn valid_es256_token_is_accepted_against_a_jwks() {
    let config = jwks_config(vec![ec_jwk()]);
    let token = testing::es256_token(testing::EC_P256_PRIVATE_PEM, Some("ec-1"), claims());
    assert_eq!(verify(&config, &token).expect("accepted").subject, "user-1");
    // Without a `kid`, too.
    let token = testing::es256_token(testing::EC_P256_PRIVATE_PEM, None, claims());
    assert!(verify(&config, &token).is_ok());
}

#[test]
fn rs256_token_signed_by_another_key_is_rejected() {
    let config = jwks_config(vec![rsa_a_jwk()]);
    let token = testing::rs256_token(testing::RSA_B_PRIVATE_PEM, Some("rsa-a"), claims());
    assert_eq!(verify(&config, &token), Err(AuthError::BadSignature));
}

#[test]
fn tampered_rs256_and_es256_payloads_are_rejected() {
    let config = jwks_config(vec![rsa_a_jwk(), ec_jwk()]);
    let forged = segments(&testing::unsigned_token(
        json!({}),
        with(claims(), json!({"sub": "admin"})),
        b"",
    ));
    for token in [
        testing::rs256_token(testing::RSA_A_PRIVATE_PEM, Some("rsa-a"), claims()),
        testing::es256_token(testing::EC_P256_PRIVATE_PEM, Some("ec-1"), claims()),
    ] {
        let mut parts = segments(&token);
        parts[1] = forged[1].clone();
        assert_eq!(
            verify(&config, &parts.join(".")),
            Err(AuthError::BadSignature)
        );
    }
}

#[test]
fn kid_selects_the_key_when_the_jwks_has_two() {
    let config = jwks_config(vec![rsa_a_jwk(), rsa_b_jwk()]);
    let signed_by_a = testing::rs256_token(testing::RSA_A_PRIVATE_PEM, Some("rsa-a"), claims());
    let signed_by_b = testing::rs256_token(testing::RSA_B_PRIVATE_PEM, Some("rsa-b"), claims());
    assert!(verify(&config, &signed_by_a).is_ok());
    assert!(verify(&config, &signed_by_b).is_ok());

    // The kid picks exactly one key: B's signature under A's kid fails.
    let b_as_a = testing::rs256_token(testing::RSA_B_PRIVATE_PEM, Some("rsa-a"), claims());
    assert_eq!(verify(&config, &b_as_a), Err(AuthError::BadSignature));

    // An unknown kid names no key.
    let unknown = testing::rs256_token(testing::RSA_A_PRIVATE_PEM, Some("rsa-z"), claims());
    assert_eq!(verify(&config, &unknown), Err(AuthError::UnknownKey));

    // Without a kid, each key of the algorithm is tried.
    let no_kid = testing::rs256_token(testing::RSA_B_PRIVATE_PEM, None, claims());
    assert!(verify(&config, &no_kid).is_ok());
}

#[test]
fn kid_of_a_key_of_another_type_is_unknown() {
    let config = jwks_config(vec![rsa_a_jwk(), ec_jwk()]);
    let es_with_rsa_kid =
        testing::es256_token(testing::EC_P256_PRIVATE_PEM, Some("rsa-a"), claims());
    assert_eq!(
        verify(&config, &es_with_rsa_kid),
        Err(AuthError::UnknownKey)
    );
}

#[test]
fn jwks_key_without_kid_matches_any_kid() {
    let config = jwks_config(vec![testing::rsa_jwk(testing::RSA_A_PUBLIC_PEM, None)]);
    let token = testing::rs256_token(testing::RSA_A_PRIVATE_PEM, Some("whatever"), claims());
    assert!(verify(&config, &token).is_ok());
}

#[test]
fn algorithm_without_keys_in_the_jwks_is_unsupported() {
    let rsa_only = jwks_config(vec![rsa_a_jwk()]);
    let es = testing::es256_token(testing::EC_P256_PRIVATE_PEM, Some("ec-1"), claims());
    assert_eq!(verify(&rsa_only, &es), Err(AuthError::UnsupportedAlgorithm));
    let ec_only = jwks_config(vec![ec_jwk()]);
    let rs = testing::rs256_token(testing::RSA_A_PRIVATE_PEM, Some("rsa-a"), claims());
    assert_eq!(verify(&ec_only, &rs), Err(AuthError::UnsupportedAlgorithm));
}

#[test]
fn hs256_secret_and_jwks_can_be_configured_together() {
    let jwks = testing::jwks([rsa_a_jwk(), ec_jwk()]);
    let config = AuthConfig::new(Some(SECRET), Some(&jwks), None, None).expect("config");
    assert_eq!(config.algorithms(), ["HS256", "RS256", "ES256"]);
    for token in [
        testing::hs256_token(SECRET, claims()),
        testing::rs256_token(testing::RSA_A_PRIVATE_PEM, Some("rsa-a"), claims()),
        testing::es256_token(testing::EC_P256_PRIVATE_PEM, Some("ec-1"), claims()),
    ] {
        assert!(verify(&config, &token).is_ok());
    }
}

#[test]
fn critical_header_extensions_are_refused() {
    // An otherwise valid signature over a header with `crit`.
    let token = testing::rs256_token(testing::RSA_A_PRIVATE_PEM, None, claims());
    let config = jwks_config(vec![rsa_a_jwk()]);
    assert!(verify(&config, &token).is_ok());
    let crit = testing::unsigned_token(
        json!({"alg": "RS256", "crit": ["exp"], "exp": 1}),
        claims(),
        b"",
    );
    let crit = format!("{crit}{}", segments(&token)[2]);
    assert_eq!(verify(&config, &crit), Err(AuthError::Malformed));
}

// --- Issuer and audience ---------------------------------------------------------------

fn iss_aud_config(issuer: Option<&str>, audience: Option<&str>) -> AuthConfig {
    AuthConfig::new(Some(SECRET), None, issuer, audience).expect("config")
}

fn verify_with(config: &AuthConfig, claims: Value) -> Result<VerifiedToken, AuthError> {
    verify(config, &testing::hs256_token(SECRET, claims))
}

#[test]
fn wrong_issuer_is_rejected_when_an_issuer_is_configured() {
    let config = iss_aud_config(Some("https://idp.example/"), None);
    let good = with(claims(), json!({"iss": "https://idp.example/"}));
    assert!(verify_with(&config, good).is_ok());
    for iss in [
        json!("https://evil.example/"),
        json!("https://idp.example"),
        json!(1),
    ] {
        assert_eq!(
            verify_with(&config, with(claims(), json!({ "iss": iss }))),
            Err(AuthError::WrongIssuer)
        );
    }
    assert_eq!(verify_with(&config, claims()), Err(AuthError::WrongIssuer));
}

#[test]
fn wrong_audience_is_rejected_when_an_audience_is_configured() {
    let config = iss_aud_config(None, Some("orders-api"));
    assert!(verify_with(&config, with(claims(), json!({"aud": "orders-api"}))).is_ok());
    for aud in [
        json!("other-api"),
        json!([]),
        json!(["other-api"]),
        json!(7),
    ] {
        assert_eq!(
            verify_with(&config, with(claims(), json!({ "aud": aud }))),
            Err(AuthError::WrongAudience),
            "{aud}"
        );
    }
    assert_eq!(
        verify_with(&config, claims()),
        Err(AuthError::WrongAudience)
    );
}

#[test]
fn aud_may_be_an_array_that_contains_the_audience() {
    let config = iss_aud_config(None, Some("orders-api"));
    let claims = with(claims(), json!({"aud": ["billing-api", "orders-api"]}));
    assert!(verify_with(&config, claims).is_ok());
}

#[test]
fn issuer_and_audience_are_ignored_when_not_configured() {
    let config = iss_aud_config(None, None);
    let claims = with(claims(), json!({"iss": "anyone", "aud": ["anything"]}));
    assert!(verify_with(&config, claims).is_ok());
    // Blank settings count as not configured.
    let blank = iss_aud_config(Some(""), Some("  "));
    assert!(verify_with(&blank, self::claims()).is_ok());
}

// --- Configuration ---------------------------------------------------------------------

#[test]
fn configuration_without_any_key_is_refused() {
    assert_eq!(
        AuthConfig::new(None, None, None, None).err(),
        Some(ConfigError::NoVerificationKey)
    );
    assert_eq!(
        AuthConfig::new(Some(""), Some("  "), Some("iss"), None).err(),
        Some(ConfigError::NoVerificationKey)
    );
}

#[test]
fn jwks_that_is_not_json_is_refused_without_echoing_it() {
    let err = AuthConfig::new(None, Some("{\"keys\": [SECRET-ISH"), None, None).unwrap_err();
    assert!(matches!(err, ConfigError::JwksNotJson { .. }), "{err:?}");
    assert!(!err.to_string().contains("SECRET"), "{err}");
}

#[test]
fn jwks_shapes_are_checked() {
    for (jwks, expected) in [
        ("[]", "not a json object"),
        ("{}", "no `keys` member"),
        ("{\"keys\": {}}", "`keys` is not an array"),
    ] {
        assert_eq!(
            AuthConfig::new(None, Some(jwks), None, None).err(),
            Some(ConfigError::JwksShape(expected))
        );
    }
    assert_eq!(
        AuthConfig::new(None, Some("{\"keys\": []}"), None, None).err(),
        Some(ConfigError::NoUsableJwk)
    );
    assert_eq!(
        AuthConfig::new(None, Some("{\"keys\": [1]}"), None, None).err(),
        Some(ConfigError::InvalidJwk {
            index: 0,
            reason: "not a json object"
        })
    );
    let bad_kid = with(rsa_a_jwk(), json!({"kid": 5}));
    assert!(matches!(
        AuthConfig::new(None, Some(&testing::jwks([bad_kid])), None, None).err(),
        Some(ConfigError::InvalidJwk { index: 0, .. })
    ));
    let no_modulus = with(rsa_a_jwk(), json!({"n": null}));
    assert!(matches!(
        AuthConfig::new(None, Some(&testing::jwks([no_modulus])), None, None).err(),
        Some(ConfigError::InvalidJwk { index: 0, .. })
    ));
}

#[test]
fn a_single_jwk_is_accepted_as_a_jwks() {
    let config = AuthConfig::new(None, Some(&rsa_a_jwk().to_string()), None, None).expect("config");
    let token = testing::rs256_token(testing::RSA_A_PRIVATE_PEM, Some("rsa-a"), claims());
    assert!(verify(&config, &token).is_ok());
}

#[test]
fn jwks_keys_for_other_uses_and_algorithms_are_skipped() {
    let skipped = vec![
        json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}),
        with(rsa_b_jwk(), json!({"use": "enc"})),
        with(rsa_b_jwk(), json!({"alg": "RSA-OAEP", "kid": "rsa-enc"})),
        with(rsa_b_jwk(), json!({"alg": "PS256", "kid": "rsa-ps"})),
        with(
            rsa_b_jwk(),
            json!({"key_ops": ["encrypt"], "kid": "rsa-ops"}),
        ),
        json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}),
        with(ec_jwk(), json!({"crv": "P-384", "kid": "ec-384"})),
    ];
    let config_error = AuthConfig::new(None, Some(&testing::jwks(skipped.clone())), None, None);
    assert_eq!(config_error.err(), Some(ConfigError::NoUsableJwk));

    let mut keys = skipped;
    keys.push(rsa_a_jwk());
    let config = jwks_config(keys);
    assert_eq!(config.algorithms(), ["RS256"]);
    // The symmetric key of the JWKS is no HMAC secret.
    let hs = testing::hs256_token("secret", claims());
    assert_eq!(verify(&config, &hs), Err(AuthError::UnsupportedAlgorithm));
    // The key published for encryption does not verify signatures.
    let by_b = testing::rs256_token(testing::RSA_B_PRIVATE_PEM, None, claims());
    assert_eq!(verify(&config, &by_b), Err(AuthError::BadSignature));
}

#[test]
fn jwks_with_private_key_material_is_refused_without_echoing_it() {
    let private = with(rsa_a_jwk(), json!({"d": "PRIVATE-EXPONENT-VALUE"}));
    let err =
        AuthConfig::new(None, Some(&testing::jwks([ec_jwk(), private])), None, None).unwrap_err();
    assert_eq!(err, ConfigError::PrivateKeyInJwks { index: 1 });
    assert!(!err.to_string().contains("PRIVATE-EXPONENT"), "{err}");
}

#[test]
fn rsa_keys_shorter_than_2048_bits_are_refused() {
    // A 1024-bit modulus (its value does not matter for the length check).
    let mut modulus = vec![0xC5_u8; 128];
    modulus[127] = 0x01;
    let n = testing::unsigned_token(json!({}), json!({}), &modulus);
    let n = segments(&n)[2].clone();
    let weak = json!({"kty": "RSA", "n": n, "e": "AQAB", "kid": "weak"});
    assert_eq!(
        AuthConfig::new(None, Some(&testing::jwks([weak])), None, None).err(),
        Some(ConfigError::WeakRsaKey {
            index: 0,
            bits: 1024
        })
    );
}

// --- Messages --------------------------------------------------------------------------

#[test]
fn error_messages_are_short_lowercase_and_safe() {
    let all = [
        AuthError::MissingToken,
        AuthError::Malformed,
        AuthError::UnsupportedAlgorithm,
        AuthError::BadSignature,
        AuthError::UnknownKey,
        AuthError::Expired,
        AuthError::NotYetValid,
        AuthError::MissingExpiry,
        AuthError::WrongIssuer,
        AuthError::WrongAudience,
        AuthError::MissingSubject,
    ];
    let mut seen = std::collections::HashSet::new();
    for err in all {
        let message = err.to_string();
        assert!(!message.is_empty() && message.len() <= 40, "{message}");
        assert_eq!(message, message.to_lowercase(), "{message}");
        assert!(seen.insert(message.clone()), "duplicate message {message}");
    }
}

// --- The testing helpers themselves ----------------------------------------------------

#[test]
fn unsigned_token_encodes_like_a_signed_one() {
    // base64url of every length residue: the header and claims segments must match
    // jwt-compact's own encoding byte for byte.
    for sub in ["u", "us", "use", "user", "user-1"] {
        let claims = with(claims(), json!({ "sub": sub }));
        let signed = testing::hs256_token(SECRET, claims.clone());
        let unsigned = testing::unsigned_token(json!({"alg": "HS256", "typ": "JWT"}), claims, b"");
        let signed_parts = segments(&signed);
        assert_eq!(
            unsigned,
            format!("{}.{}.", signed_parts[0], signed_parts[1])
        );
    }
}
