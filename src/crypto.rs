//! Secrets at rest: XChaCha20-Poly1305 under the master key, with the secret's identity
//! (environment/provider/name) as associated data so a ciphertext cannot be moved to
//! another slot. Stored form: 24-byte random nonce || ciphertext+tag.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

pub struct Cipher(XChaCha20Poly1305);

#[derive(Debug, thiserror::Error)]
#[error("secret could not be decrypted (wrong master key or tampered data)")]
pub struct DecryptError;

impl Cipher {
    pub fn new(key: &[u8; 32]) -> Self {
        Self(XChaCha20Poly1305::new(key.into()))
    }

    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> anyhow::Result<Vec<u8>> {
        let nonce_bytes: [u8; 24] = rand::random();
        let nonce = XNonce::from_slice(&nonce_bytes);
        let ct = self
            .0
            .encrypt(
                nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub fn decrypt(&self, blob: &[u8], aad: &[u8]) -> Result<Vec<u8>, DecryptError> {
        if blob.len() < 24 {
            return Err(DecryptError);
        }
        let (nonce, ct) = blob.split_at(24);
        self.0
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| DecryptError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_aad_binding() {
        let c = Cipher::new(&[7u8; 32]);
        let blob = c
            .encrypt(b"sk-live-123", b"default/openai/api_key")
            .expect("encrypt");
        assert!(!blob.windows(11).any(|w| w == b"sk-live-123"));
        assert_eq!(
            c.decrypt(&blob, b"default/openai/api_key")
                .expect("decrypt"),
            b"sk-live-123"
        );
        assert!(c.decrypt(&blob, b"default/other/api_key").is_err());
        assert!(
            Cipher::new(&[8u8; 32])
                .decrypt(&blob, b"default/openai/api_key")
                .is_err()
        );
    }
}
