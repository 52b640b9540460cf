//! The crypto SRTP runs on: rtc-crypto's ring provider for key derivation and GCM, with the
//! two per-packet primitives of the AES_CM_128_HMAC_SHA1 suites from RustCrypto instead —
//! HMAC-SHA1 (`sha1` uses the CPU's SHA instructions; ring's SHA-1 is portable code) and
//! AES-CTR keyed once per context (rtc-crypto expands the AES key again for every packet).
//! Both are checked by the RFC 3711 / libsrtp vectors in `srtp/tests.rs`.

use std::sync::Arc;

use aes::cipher::{InnerIvInit, KeyInit, StreamCipher as _};
use hmac::Mac as _;
use rtc_crypto::{
    AeadAlgorithm, AeadCipher, BlockCipherAlgorithm, CryptoAlgorithm, CryptoError, HmacAlgorithm,
    Mac, RTCCrypto, RTCCryptoProvider, StreamCipher, StreamCipherAlgorithm, constant_time_eq,
};

type HmacSha1 = hmac::Hmac<sha1::Sha1>;

/// ring for everything but the per-packet AES-CTR and HMAC-SHA1.
pub(crate) struct SrtpCrypto {
    ring: Arc<dyn RTCCryptoProvider>,
}

impl SrtpCrypto {
    pub(crate) fn new(ring: Arc<dyn RTCCryptoProvider>) -> Self {
        Self { ring }
    }
}

impl RTCCrypto for SrtpCrypto {
    fn supports(&self, algorithm: CryptoAlgorithm) -> bool {
        self.ring.crypto().supports(algorithm)
    }

    fn block_encrypt(
        &self,
        algorithm: BlockCipherAlgorithm,
        key: &[u8],
        block: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.ring.crypto().block_encrypt(algorithm, key, block)
    }

    fn new_hmac(&self, algorithm: HmacAlgorithm, key: &[u8]) -> Result<Box<dyn Mac>, CryptoError> {
        match algorithm {
            HmacAlgorithm::Sha1 => Ok(Box::new(Sha1Mac {
                keyed: <HmacSha1 as hmac::Mac>::new_from_slice(key).map_err(|_| {
                    CryptoError::InvalidKeyLength {
                        expected: 20,
                        actual: key.len(),
                    }
                })?,
            })),
            other => self.ring.crypto().new_hmac(other, key),
        }
    }

    fn new_stream_cipher(
        &self,
        algorithm: StreamCipherAlgorithm,
        key: &[u8],
    ) -> Result<Box<dyn StreamCipher>, CryptoError> {
        match algorithm {
            StreamCipherAlgorithm::Aes128Ctr => Ok(Box::new(Aes128Counter {
                cipher: aes::Aes128::new_from_slice(key).map_err(|_| {
                    CryptoError::InvalidKeyLength {
                        expected: 16,
                        actual: key.len(),
                    }
                })?,
            })),
            other => self.ring.crypto().new_stream_cipher(other, key),
        }
    }

    fn new_aead(
        &self,
        algorithm: AeadAlgorithm,
        key: &[u8],
    ) -> Result<Box<dyn AeadCipher>, CryptoError> {
        self.ring.crypto().new_aead(algorithm, key)
    }
}

/// HMAC-SHA1 keyed once: each packet clones the keyed state.
struct Sha1Mac {
    keyed: HmacSha1,
}

impl Mac for Sha1Mac {
    fn output_len(&self) -> usize {
        20
    }

    fn sign(&mut self, input: &[&[u8]], output: &mut [u8]) -> Result<(), CryptoError> {
        if output.len() != 20 {
            return Err(CryptoError::InvalidTagLength {
                expected: 20,
                actual: output.len(),
            });
        }
        let mut mac = self.keyed.clone();
        for part in input {
            mac.update(part);
        }
        output.copy_from_slice(&mac.finalize().into_bytes());
        Ok(())
    }

    fn verify(&mut self, input: &[&[u8]], expected: &[u8]) -> Result<(), CryptoError> {
        let mut actual = [0u8; 20];
        self.sign(input, &mut actual)?;
        if expected.len() == 20 && constant_time_eq(&actual, expected) {
            Ok(())
        } else {
            Err(CryptoError::AuthenticationFailed)
        }
    }
}

/// AES-128 in counter mode with the key expanded once; each packet starts a counter at its IV.
struct Aes128Counter {
    cipher: aes::Aes128,
}

impl StreamCipher for Aes128Counter {
    fn apply_keystream(&mut self, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError> {
        let iv: &[u8; 16] = iv.try_into().map_err(|_| CryptoError::InvalidNonceLength {
            expected: 16,
            actual: iv.len(),
        })?;
        let core = ctr::CtrCore::<aes::Aes128, ctr::flavors::Ctr128BE>::inner_iv_init(
            self.cipher.clone(),
            iv.into(),
        );
        let mut counter = ctr::Ctr128BE::<aes::Aes128>::from_core(core);
        counter.apply_keystream(data);
        Ok(())
    }
}
