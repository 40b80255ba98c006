//! The bulk work over message-sized data: hashing the signed content and the content cipher.
//!
//! Everything else the engine does touches small structures (attributes, keys, headers); these
//! three operations run over the whole multi-megabyte body. [`Bulk`] lets the caller choose who
//! does them. [`Software`] is the engine's own RustCrypto code; the browser module hands them to
//! WebCrypto, which is an order of magnitude faster than WebAssembly there.
//!
//! The trait is `async` because WebCrypto answers with promises. The engine stays free of any
//! runtime: its synchronous API (`sign`, `verify`, `wrap::open`, …) runs the same async code with
//! [`Software`], whose futures are ready on the first poll, through [`run_ready`].

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};

use zeroize::Zeroizing;

use crate::algorithms::{ContentEncryption, DigestAlgorithm};
use crate::cipher;
use crate::error::{Error, Result};

/// What an external AES implementation (WebCrypto) needs to decrypt the content once the
/// content key is known: see [`crate::decrypt::Envelope::content_parameters`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentParameters<'a> {
    pub algorithm: ContentEncryption,
    /// CBC IV (16 bytes) or GCM nonce (12 bytes).
    pub iv: Vec<u8>,
    pub ciphertext: &'a [u8],
    /// The 16-byte GCM tag; WebCrypto expects it appended to the ciphertext.
    pub tag: Option<&'a [u8]>,
    /// GCM additional data (the DER authAttrs), usually empty.
    pub additional_data: &'a [u8],
}

/// Who hashes content and runs the content cipher.
///
/// An implementation must behave exactly like [`Software`]: the engine checks lengths, but the
/// security of decryption depends on [`Bulk::decrypt`] releasing nothing unless the padding (CBC)
/// or the tag (GCM) is correct. WebCrypto's `decrypt` does so.
// The engine and its callers are single-threaded (the browser is), so the futures need not be
// Send; that is what this lint is about.
#[allow(async_fn_in_trait)]
pub trait Bulk {
    /// The digest of `data`.
    async fn digest(&self, algorithm: DigestAlgorithm, data: &[u8]) -> Result<Vec<u8>>;

    /// Encrypt with a fresh key and IV: AES-CBC output with PKCS#7 padding, or AES-GCM ciphertext
    /// with its 16-byte tag appended and no additional data (both exactly WebCrypto's output).
    async fn encrypt(
        &self,
        algorithm: ContentEncryption,
        key: &[u8],
        iv: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>>;

    /// Decrypt content described by [`ContentParameters`]; any failure is
    /// [`Error::DecryptionFailed`] and returns no plaintext.
    async fn decrypt(
        &self,
        content: &ContentParameters<'_>,
        key: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>>;
}

/// The engine's own implementation (RustCrypto): what the server, the CLI and the synchronous
/// API use.
#[derive(Debug, Clone, Copy, Default)]
pub struct Software;

impl Bulk for Software {
    async fn digest(&self, algorithm: DigestAlgorithm, data: &[u8]) -> Result<Vec<u8>> {
        Ok(algorithm.digest(data))
    }

    async fn encrypt(
        &self,
        algorithm: ContentEncryption,
        key: &[u8],
        iv: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        let sealed = cipher::seal(algorithm, key, iv, plaintext)?;
        let mut output = sealed.ciphertext;
        if let Some(tag) = sealed.tag {
            output.extend_from_slice(&tag);
        }
        Ok(output)
    }

    async fn decrypt(
        &self,
        content: &ContentParameters<'_>,
        key: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let identifier = cipher::identifier(content.algorithm, &content.iv)?;
        cipher::open(
            &identifier,
            key,
            content.ciphertext,
            content.tag,
            content.additional_data,
        )
    }
}

/// Run engine code whose bulk work is [`Software`]: its futures complete on the first poll, so
/// no executor is needed. A future that is still pending (only possible if an asynchronous
/// [`Bulk`] were passed in by mistake) is an error, not a hang.
pub fn run_ready<T, E: From<Error>>(future: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result,
        Poll::Pending => Err(Error::Pending.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_encrypt_then_decrypt_round_trips_and_a_flipped_tag_fails() {
        let key = [7u8; 32];
        let iv = [9u8; 12];
        let plaintext = b"the whole body, no less";
        let sealed =
            run_ready(Software.encrypt(ContentEncryption::Aes256Gcm, &key, &iv, plaintext))
                .unwrap();
        assert_eq!(sealed.len(), plaintext.len() + 16);
        let (ciphertext, tag) = sealed.split_at(plaintext.len());
        let mut parameters = ContentParameters {
            algorithm: ContentEncryption::Aes256Gcm,
            iv: iv.to_vec(),
            ciphertext,
            tag: Some(tag),
            additional_data: &[],
        };
        let opened = run_ready(Software.decrypt(&parameters, &key)).unwrap();
        assert_eq!(&opened[..], plaintext);

        let mut bad_tag = tag.to_vec();
        bad_tag[0] ^= 1;
        parameters.tag = Some(&bad_tag);
        assert!(matches!(
            run_ready(Software.decrypt(&parameters, &key)),
            Err(Error::DecryptionFailed)
        ));
    }

    #[test]
    fn a_pending_future_is_an_error_not_a_hang() {
        let result: Result<()> = run_ready(core::future::pending());
        assert!(matches!(result, Err(Error::Pending)));
    }
}
