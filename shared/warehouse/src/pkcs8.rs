//! Decrypting an `ENCRYPTED PRIVATE KEY` (PKCS#8 `EncryptedPrivateKeyInfo`,
//! RFC 5958) with PBES2 (RFC 8018): PBKDF2 with HMAC-SHA256 or HMAC-SHA1, then
//! AES-128/192/256-CBC — what `openssl pkcs8 -topk8 -v2 aes256` writes. aws-lc-rs
//! has the primitives but not this envelope, so the few DER structures are read
//! here, strictly: every length is checked against the input, and anything else
//! (DES3, scrypt, PBES1) is refused with the command that re-encrypts the key.
//!
//! ```text
//! EncryptedPrivateKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, encryptedData OCTET STRING }
//!   algorithm = { id-PBES2, SEQUENCE { keyDerivationFunc, encryptionScheme } }
//!   keyDerivationFunc = { id-PBKDF2, SEQUENCE { salt OCTET STRING, iterationCount INTEGER,
//!                         keyLength INTEGER OPTIONAL, prf AlgorithmIdentifier DEFAULT hmacWithSHA1 } }
//!   encryptionScheme = { aes*-CBC, iv OCTET STRING }
//! ```

use std::num::NonZeroU32;

use aws_lc_rs::cipher::{
    DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey, AES_128, AES_192, AES_256,
};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::pbkdf2;

const PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
const PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
const HMAC_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x07];
const HMAC_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09];
const AES_128_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02];
const AES_192_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x16];
const AES_256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];

/// More PBKDF2 rounds than any tool writes (OpenSSL: 2,048; Snowflake's docs:
/// OpenSSL's default): a hostile key cannot make backflow spin for minutes.
const MAX_ITERATIONS: u32 = 10_000_000;

const REENCRYPT: &str = "re-encrypt it with `openssl pkcs8 -topk8 -v2 aes256` \
                         (PBES2, AES-256-CBC), or store it unencrypted in the secret";

/// The PKCS#8 `PrivateKeyInfo` inside `der`, decrypted with `passphrase`.
pub(crate) fn decrypt(der: &[u8], passphrase: &[u8]) -> Result<Vec<u8>, String> {
    let bad = |what: &str| format!("the encrypted private key is malformed ({what})");
    let mut top = Der::new(der)
        .sequence()
        .map_err(|_| bad("outer sequence"))?;
    let mut algorithm = top.sequence().map_err(|_| bad("algorithm"))?;
    if algorithm.oid().map_err(|_| bad("algorithm"))? != PBES2 {
        return Err(format!(
            "the private key is not encrypted with PBES2; {REENCRYPT}"
        ));
    }
    let mut params = algorithm.sequence().map_err(|_| bad("PBES2 parameters"))?;
    let mut kdf = params.sequence().map_err(|_| bad("key derivation"))?;
    if kdf.oid().map_err(|_| bad("key derivation"))? != PBKDF2 {
        return Err(format!(
            "the private key's key derivation is not PBKDF2; {REENCRYPT}"
        ));
    }
    let mut kdf_params = kdf.sequence().map_err(|_| bad("PBKDF2 parameters"))?;
    let salt = kdf_params.octets().map_err(|_| bad("salt"))?;
    let iterations = kdf_params.small_uint().map_err(|_| bad("iterations"))?;
    let mut prf = pbkdf2::PBKDF2_HMAC_SHA1;
    let mut key_len = None;
    while !kdf_params.is_empty() {
        match kdf_params.peek_tag() {
            Some(0x02) => key_len = Some(kdf_params.small_uint().map_err(|_| bad("key length"))?),
            Some(0x30) => {
                let mut prf_id = kdf_params.sequence().map_err(|_| bad("PRF"))?;
                prf = match prf_id.oid().map_err(|_| bad("PRF"))? {
                    HMAC_SHA256 => pbkdf2::PBKDF2_HMAC_SHA256,
                    HMAC_SHA1 => pbkdf2::PBKDF2_HMAC_SHA1,
                    _ => {
                        return Err(format!(
                            "the private key's PBKDF2 hash is unsupported; {REENCRYPT}"
                        ))
                    }
                };
            }
            _ => return Err(bad("PBKDF2 parameters")),
        }
    }
    let mut scheme = params.sequence().map_err(|_| bad("encryption scheme"))?;
    let (cipher, cipher_len) = match scheme.oid().map_err(|_| bad("encryption scheme"))? {
        AES_128_CBC => (&AES_128, 16),
        AES_192_CBC => (&AES_192, 24),
        AES_256_CBC => (&AES_256, 32),
        _ => {
            return Err(format!(
                "the private key's cipher is not AES-CBC (DES3?); {REENCRYPT}"
            ))
        }
    };
    let iv: [u8; 16] = scheme
        .octets()
        .ok()
        .and_then(|iv| iv.try_into().ok())
        .ok_or_else(|| bad("IV"))?;
    let mut data = top.octets().map_err(|_| bad("encrypted data"))?.to_vec();

    if key_len.is_some_and(|len| len as usize != cipher_len) {
        return Err(bad("key length"));
    }
    let iterations = NonZeroU32::new(iterations)
        .filter(|n| n.get() <= MAX_ITERATIONS)
        .ok_or_else(|| bad("iteration count"))?;
    let mut key = vec![0u8; cipher_len];
    pbkdf2::derive(prf, iterations, salt, passphrase, &mut key);
    let wrong =
        || "the private key could not be decrypted: wrong `private_key_passphrase`?".to_string();
    let key = UnboundCipherKey::new(cipher, &key).map_err(|_| wrong())?;
    let key = PaddedBlockDecryptingKey::cbc_pkcs7(key).map_err(|_| wrong())?;
    let plain = key
        .decrypt(&mut data, DecryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(|_| wrong())?;
    // A wrong passphrase can still unpad by chance; the result must be DER.
    if plain.first() != Some(&0x30) {
        return Err(wrong());
    }
    Ok(plain.to_vec())
}

/// A cursor over DER bytes; every read checks its length against what is left.
struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Der { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element's contents, which must carry `tag`.
    fn element(&mut self, tag: u8) -> Result<&'a [u8], ()> {
        let (&got, rest) = self.rest.split_first().ok_or(())?;
        if got != tag {
            return Err(());
        }
        let (&first, mut rest) = rest.split_first().ok_or(())?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return Err(());
            }
            let (bytes, after) = rest.split_at(count);
            rest = after;
            bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b))
        };
        if rest.len() < len {
            return Err(());
        }
        let (contents, after) = rest.split_at(len);
        self.rest = after;
        Ok(contents)
    }

    fn sequence(&mut self) -> Result<Der<'a>, ()> {
        self.element(0x30).map(Der::new)
    }

    fn oid(&mut self) -> Result<&'a [u8], ()> {
        self.element(0x06)
    }

    fn octets(&mut self) -> Result<&'a [u8], ()> {
        self.element(0x04)
    }

    /// A non-negative INTEGER that fits in 32 bits.
    fn small_uint(&mut self) -> Result<u32, ()> {
        let bytes = self.element(0x02)?;
        let bytes = match bytes {
            [0, rest @ ..] => rest,
            [first, ..] if first & 0x80 != 0 => return Err(()),
            other => other,
        };
        if bytes.len() > 4 {
            return Err(());
        }
        Ok(bytes.iter().fold(0u32, |n, &b| (n << 8) | u32::from(b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn der_of(pem: &str) -> Vec<u8> {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    }

    #[test]
    fn decrypts_what_openssl_encrypted() {
        let plain = der_of(crate::jwt::tests::TEST_KEY);
        let encrypted = der_of(crate::jwt::tests::TEST_KEY_ENCRYPTED);
        assert_eq!(decrypt(&encrypted, b"backflow-test").unwrap(), plain);
        assert!(decrypt(&encrypted, b"wrong")
            .unwrap_err()
            .contains("passphrase"));
    }

    #[test]
    fn des3_is_refused_with_the_fix() {
        let des3 = der_of(include_str!("../tests/data/rsa_key_des3.p8"));
        let message = decrypt(&des3, b"backflow-test").unwrap_err();
        assert!(
            message.contains("openssl pkcs8 -topk8 -v2 aes256"),
            "{message}"
        );
    }

    #[test]
    fn truncated_or_garbage_input_is_an_error_not_a_panic() {
        let encrypted = der_of(crate::jwt::tests::TEST_KEY_ENCRYPTED);
        for len in 0..encrypted.len().min(200) {
            assert!(decrypt(&encrypted[..len], b"x").is_err(), "prefix {len}");
        }
        for bytes in [
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
            &[0x30, 0x80],
            &[0x02],
        ] {
            assert!(decrypt(bytes, b"x").is_err());
        }
        assert_eq!(Der::new(&[0x02, 0x02, 0x08, 0x00]).small_uint(), Ok(2048));
        assert_eq!(Der::new(&[0x02, 0x01, 0xff]).small_uint(), Err(()));
    }
}
