//! Encrypted attachments (the spec's `file` object): a file's bytes encrypted with AES-CTR under
//! a fresh key before upload, and what decrypts them (the key, IV and SHA-256 of the ciphertext)
//! sent inside the encrypted event. The crypto crate's encryptor and decryptor do the work; a
//! download whose hash does not match is refused.

use std::io::{Cursor, Read};

use matrix_sdk_crypto::{AttachmentDecryptor, AttachmentEncryptor, MediaEncryptionInfo};
use serde_json::Value as JsonValue;

/// `bytes` encrypted, and the fields of the `file` object that decrypt them (all but `url`).
pub fn encrypt_attachment(bytes: &[u8]) -> (Vec<u8>, JsonValue) {
    let mut plain = Cursor::new(bytes);
    let mut encryptor = AttachmentEncryptor::new(&mut plain);
    let mut sealed = Vec::with_capacity(bytes.len());
    // Reading a cursor cannot fail.
    let _ = encryptor.read_to_end(&mut sealed);
    let info = serde_json::to_value(encryptor.finish()).unwrap_or_default();
    (sealed, info)
}

/// The bytes an encrypted attachment holds, with the `file` object of its event; `None` when
/// the object is not one, or the bytes are not what it describes (their hash differs).
pub fn decrypt_attachment(sealed: &[u8], file: &JsonValue) -> Option<Vec<u8>> {
    let info: MediaEncryptionInfo = serde_json::from_value(file.clone()).ok()?;
    let mut reader = Cursor::new(sealed);
    let mut decryptor = AttachmentDecryptor::new(&mut reader, info).ok()?;
    let mut plain = Vec::with_capacity(sealed.len());
    decryptor.read_to_end(&mut plain).ok()?;
    Some(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attachment_decrypts_to_its_bytes_and_a_changed_one_does_not() {
        let (mut sealed, info) = encrypt_attachment(b"uptime 99.9%");
        assert_ne!(sealed.as_slice(), b"uptime 99.9%");
        assert_eq!(info["v"], "v2");
        assert_eq!(info["key"]["alg"], "A256CTR");
        assert!(info["hashes"]["sha256"].is_string());
        assert_eq!(
            decrypt_attachment(&sealed, &info).as_deref(),
            Some(&b"uptime 99.9%"[..])
        );
        sealed[0] ^= 1;
        assert_eq!(decrypt_attachment(&sealed, &info), None);
        assert_eq!(
            decrypt_attachment(b"x", &serde_json::json!({"v": "v2"})),
            None
        );
    }
}
