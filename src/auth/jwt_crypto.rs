//! jsonwebtoken's cryptography: HS256 only, on the `hmac` and `sha2` crates already in the
//! tree. Its built-in providers link either aws-lc (a C crypto library, 4 % of our code by
//! `cargo bloat`) or RSA, ECDSA and EdDSA code that we never call: access tokens are HS256,
//! and `Validation` refuses any other algorithm before a verifier is asked for.

use hmac::{Hmac, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use sha2::Sha256;

/// Installs the provider for the process. Idempotent; [`super::tokens::JwtKeys::new`] calls
/// it, and every signature goes through a `JwtKeys`.
pub fn install() {
    // Fails only when a provider is already set, which is then this one.
    let _ = PROVIDER.install_default();
}

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    jwk_utils: JwkUtils::new_unimplemented(),
};

struct Hs256(Hmac<Sha256>);

impl Hs256 {
    fn new(secret: &[u8]) -> Result<Self> {
        Hmac::new_from_slice(secret)
            .map(Self)
            .map_err(|_| ErrorKind::InvalidKeyFormat.into())
    }

    fn mac(&self, msg: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(msg);
        mac
    }
}

fn signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    match alg {
        Algorithm::HS256 => Ok(Box::new(Hs256::new(key.try_get_hmac_secret()?)?)),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

fn verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    match alg {
        Algorithm::HS256 => Ok(Box::new(Hs256::new(key.try_get_hmac_secret()?)?)),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

impl Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(self.mac(msg).finalize().into_bytes().to_vec())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        // Constant-time comparison (`hmac`'s `verify_slice`).
        self.mac(msg)
            .verify_slice(sig)
            .map_err(signature::Error::from_source)
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{Header, Validation, decode, encode};

    /// RFC 7515 appendix A.1: the HS256 example's signing input and key give its signature.
    #[test]
    fn reproduces_the_rfc_7515_hs256_example() {
        install();
        let sig = jsonwebtoken::crypto::sign(
            b"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
            // The JWK's `k` is base64url.
            &EncodingKey::from_secret(
                &URL_SAFE_NO_PAD
                    .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
                    .expect("base64url"),
            ),
            Algorithm::HS256,
        )
        .expect("sign");
        assert_eq!(sig, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    }

    #[test]
    fn other_algorithms_are_refused_and_a_changed_token_fails() {
        install();
        let enc = EncodingKey::from_secret(b"k");
        let err = encode(&Header::new(Algorithm::HS512), &serde_json::json!({}), &enc)
            .expect_err("HS512 is not ours");
        assert_eq!(err.kind(), &ErrorKind::InvalidAlgorithm);

        let claims = serde_json::json!({"sub": "a", "exp": 4_000_000_000_u64});
        let token = encode(&Header::new(Algorithm::HS256), &claims, &enc).expect("sign");
        let dec = DecodingKey::from_secret(b"k");
        let v = Validation::new(Algorithm::HS256);
        assert!(decode::<serde_json::Value>(&token, &dec, &v).is_ok());
        let wrong = DecodingKey::from_secret(b"K");
        assert!(decode::<serde_json::Value>(&token, &wrong, &v).is_err());
    }
}
