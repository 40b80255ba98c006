//! Smart-card digital IDs. The private key stays on the card; the engine asks the card for
//! each private-key operation ([`CardRequest`]).
//!
//! In the browser the engine runs in a worker, while the card is reached from the page (a
//! device chosen by the user belongs to the page). So the engine's [`CardKey`] sends requests
//! over a [`CardChannel`]: to the page in the browser ([`remote`]), straight to a [`LocalCard`]
//! in native tests. The page answers them with the same [`LocalCard`] ([`session`]).
//!
//! * [`LocalCard`]: a PIV card session over any transport, holding the PIN for one operation.
//! * [`session`] (browser): the page's `CardSession`, over WebUSB ([`webusb`]) or the Web
//!   Smart Card API ([`pcsc`]) — or, framed by the kiosk app, over the app's reader, which
//!   carries APDUs for the page ([`kiosk`]) and looks to the page like a Web Smart Card API
//!   connection.

use core::cell::RefCell;

use card::Hash;
use card::piv::{KeyAlgorithm, PinStatus, Piv, RsaSignature, Slot};
use card::rsa_encoding;
use card::transport::Transport;
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use smime::Certificate;
use smime::algorithms::{DigestAlgorithm, KeyTransport, SignatureAlgorithm, SignatureScheme};
use smime::keys::{AsyncDecryptor, AsyncSigner, KeyError, PublicKey};
use zeroize::{Zeroize, Zeroizing};

#[cfg(target_arch = "wasm32")]
pub mod kiosk;
#[cfg(target_arch = "wasm32")]
pub mod pcsc;
#[cfg(target_arch = "wasm32")]
pub mod remote;
#[cfg(target_arch = "wasm32")]
pub mod session;
#[cfg(target_arch = "wasm32")]
pub mod webusb;

/// One private-key operation for the card, as it crosses from the engine to the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum CardRequest {
    /// Sign a digest with the key in `slot` (a PIV key reference: 0x9C, …).
    Sign {
        slot: u8,
        /// "rsa-pkcs1", "rsa-pss" or "ecdsa".
        scheme: String,
        /// "sha1", "sha256", "sha384", "sha512".
        digest_algorithm: String,
        digest: ByteBuf,
    },
    /// Unwrap a content key sent by RSA key transport.
    Decrypt {
        slot: u8,
        /// `None` for PKCS#1 v1.5, else the OAEP hash.
        oaep: Option<String>,
        encrypted_key: ByteBuf,
    },
    /// ECDH with an originator's public point (RFC 5753 key agreement).
    Agree { slot: u8, point: ByteBuf },
}

impl CardRequest {
    fn slot(&self) -> u8 {
        match self {
            Self::Sign { slot, .. } | Self::Decrypt { slot, .. } | Self::Agree { slot, .. } => {
                *slot
            }
        }
    }
}

fn digest_name(digest: DigestAlgorithm) -> &'static str {
    match digest {
        DigestAlgorithm::Sha1 => "sha1",
        DigestAlgorithm::Sha256 => "sha256",
        DigestAlgorithm::Sha384 => "sha384",
        DigestAlgorithm::Sha512 => "sha512",
    }
}

fn hash_named(name: &str) -> Result<Hash, card::Error> {
    match name {
        "sha1" => Ok(Hash::Sha1),
        "sha256" => Ok(Hash::Sha256),
        "sha384" => Ok(Hash::Sha384),
        "sha512" => Ok(Hash::Sha512),
        _ => Err(card::Error::Encoding),
    }
}

/// The PIV algorithm of a certificate's key, if a PIV card can hold it.
pub fn key_algorithm(certificate: &Certificate) -> Option<KeyAlgorithm> {
    let key = PublicKey::from_spki_der(&certificate.public_key_info_der().ok()?).ok()?;
    match key.name().as_str() {
        "RSA-2048" => Some(KeyAlgorithm::Rsa2048),
        "P-256" => Some(KeyAlgorithm::EccP256),
        "P-384" => Some(KeyAlgorithm::EccP384),
        _ => None,
    }
}

/// A PIV card session: the card, and the PIN while an operation needs it.
pub struct LocalCard<T: Transport> {
    // Taken out for the length of each card exchange (so no borrow is held across an await)
    // and put back after; `None` in between means the card is busy or gone.
    piv: RefCell<Option<Piv<T>>>,
    pin: RefCell<Option<Zeroizing<String>>>,
    /// The algorithm of each slot's key, from its certificate.
    keys: RefCell<Vec<(Slot, KeyAlgorithm)>>,
}

/// A certificate found on the card.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CardCertificate {
    /// The PIV key reference (0x9C, 0x9D, 0x82…).
    pub slot: u8,
    pub certificate: ByteBuf,
}

impl<T: Transport> LocalCard<T> {
    /// Select PIV on the card behind `transport`.
    pub async fn open(transport: T) -> Result<Self, card::Error> {
        Ok(Self {
            piv: RefCell::new(Some(Piv::select(transport).await?)),
            pin: RefCell::new(None),
            keys: RefCell::new(Vec::new()),
        })
    }

    fn take(&self) -> Result<Piv<T>, card::Error> {
        self.piv.borrow_mut().take().ok_or(card::Error::Removed)
    }

    fn put(&self, piv: Piv<T>) {
        *self.piv.borrow_mut() = Some(piv);
    }

    /// Every certificate on the card whose key Sealmail can use, signature slot first.
    pub async fn certificates(&self) -> Result<Vec<CardCertificate>, card::Error> {
        let mut piv = self.take()?;
        let mut found = Vec::new();
        let mut keys = Vec::new();
        let mut failure = None;
        for slot in Slot::all() {
            match piv.certificate(slot).await {
                Ok(Some(der)) => {
                    let Ok(cert) = Certificate::from_der(&der) else {
                        continue;
                    };
                    if let Some(algorithm) = key_algorithm(&cert) {
                        keys.push((slot, algorithm));
                        found.push(CardCertificate {
                            slot: slot.key_reference(),
                            certificate: ByteBuf::from(der),
                        });
                    }
                }
                // The reader or card gone: stop. Anything else (a card without retired slots
                // answers 6A80 or 6A86) means this slot has nothing for us.
                Err(e @ (card::Error::Removed | card::Error::NoCard | card::Error::Usb(_))) => {
                    failure = Some(e);
                    break;
                }
                Ok(None) | Err(_) => {}
            }
        }
        self.put(piv);
        if let Some(e) = failure {
            return Err(e);
        }
        *self.keys.borrow_mut() = keys;
        Ok(found)
    }

    pub async fn pin_status(&self) -> Result<PinStatus, card::Error> {
        let mut piv = self.take()?;
        let status = piv.pin_status().await;
        self.put(piv);
        status
    }

    /// Verify the PIN now and keep it for this operation: a signature key asks for it again
    /// before every signature. [`Self::forget_pin`] when the operation is over.
    pub async fn unlock(&self, pin: &str) -> Result<(), card::Error> {
        let mut piv = self.take()?;
        let verified = piv.verify_pin(pin).await;
        self.put(piv);
        verified?;
        *self.pin.borrow_mut() = Some(Zeroizing::new(pin.to_string()));
        Ok(())
    }

    pub fn forget_pin(&self) {
        if let Some(mut pin) = self.pin.borrow_mut().take() {
            pin.zeroize();
        }
    }

    /// The operation is over: forget the PIN here and make the card forget it was verified, so
    /// nothing (another PC/SC client, the next kiosk user) can use the keys without it.
    pub async fn lock(&self) -> Result<(), card::Error> {
        self.forget_pin();
        let mut piv = self.take()?;
        let reset = piv.reset_pin_status().await;
        self.put(piv);
        reset
    }

    fn algorithm_of(&self, slot: Slot) -> Result<KeyAlgorithm, card::Error> {
        self.keys
            .borrow()
            .iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, a)| *a)
            .ok_or(card::Error::NoSuchKey)
    }

    /// Carry out one request from the engine.
    pub async fn perform(&self, request: &CardRequest) -> Result<Zeroizing<Vec<u8>>, card::Error> {
        let slot = Slot::from_key_reference(request.slot()).ok_or(card::Error::NoSuchKey)?;
        let algorithm = self.algorithm_of(slot)?;
        let pin = self.pin.borrow().clone();
        let mut piv = self.take()?;
        let result = perform_on(
            &mut piv,
            slot,
            algorithm,
            pin.as_deref().map(String::as_str),
            request,
        )
        .await;
        self.put(piv);
        result
    }
}

async fn perform_on<T: Transport>(
    piv: &mut Piv<T>,
    slot: Slot,
    algorithm: KeyAlgorithm,
    pin: Option<&str>,
    request: &CardRequest,
) -> Result<Zeroizing<Vec<u8>>, card::Error> {
    if slot.pin_always()
        && let Some(pin) = pin
    {
        piv.verify_pin(pin).await?;
    }
    match request {
        CardRequest::Sign {
            scheme,
            digest_algorithm,
            digest,
            ..
        } => {
            let hash = hash_named(digest_algorithm)?;
            let signature = match (scheme.as_str(), algorithm) {
                ("rsa-pkcs1", KeyAlgorithm::Rsa2048) => {
                    piv.sign_rsa(slot, RsaSignature::Pkcs1v15, hash, digest)
                        .await?
                }
                ("rsa-pss", KeyAlgorithm::Rsa2048) => {
                    // RFC 4056: a salt as long as the digest, which the engine announces.
                    let mut salt = vec![0u8; hash.output_len()];
                    getrandom::fill(&mut salt).map_err(|_| card::Error::Encoding)?;
                    piv.sign_rsa(slot, RsaSignature::Pss { salt: &salt }, hash, digest)
                        .await?
                }
                ("ecdsa", KeyAlgorithm::EccP256 | KeyAlgorithm::EccP384) => {
                    piv.sign_ecdsa(slot, algorithm, digest).await?
                }
                _ => return Err(card::Error::Encoding),
            };
            Ok(Zeroizing::new(signature))
        }
        CardRequest::Decrypt {
            oaep,
            encrypted_key,
            ..
        } => {
            let block = piv.decrypt_rsa(slot, encrypted_key).await?;
            let key = match oaep {
                None => rsa_encoding::pkcs1v15_decryption_unpad(&block),
                Some(hash) => rsa_encoding::oaep_unpad(hash_named(hash)?, &block),
            };
            // A bad padding must look like a wrong key, not a card failure the user is told
            // about (that would be a padding oracle): an empty key sends the engine on with a
            // random one (RFC 3218 §2.3), and the message ends as "cannot be decrypted".
            Ok(key.unwrap_or_default())
        }
        CardRequest::Agree { point, .. } => piv.ecdh(slot, algorithm, point).await,
    }
}

/// Where the engine's card requests go.
#[allow(async_fn_in_trait)]
pub trait CardChannel {
    async fn request(&self, request: CardRequest) -> Result<Zeroizing<Vec<u8>>, String>;
}

impl<T: Transport> CardChannel for LocalCard<T> {
    async fn request(&self, request: CardRequest) -> Result<Zeroizing<Vec<u8>>, String> {
        self.perform(&request).await.map_err(|e| e.to_string())
    }
}

/// A key on a card, as the engine sees it.
pub struct CardKey<'a, C: CardChannel> {
    pub slot: u8,
    pub channel: &'a C,
}

impl<C: CardChannel> AsyncSigner for CardKey<'_, C> {
    async fn sign_digest(
        &self,
        algorithm: SignatureAlgorithm,
        digest: &[u8],
        _rng: &mut dyn CryptoRng,
    ) -> Result<Vec<u8>, KeyError> {
        let scheme = match algorithm.scheme {
            SignatureScheme::RsaPkcs1v15 => "rsa-pkcs1",
            SignatureScheme::RsaPss => "rsa-pss",
            SignatureScheme::Ecdsa => "ecdsa",
        };
        let request = CardRequest::Sign {
            slot: self.slot,
            scheme: scheme.into(),
            digest_algorithm: digest_name(algorithm.digest).into(),
            digest: ByteBuf::from(digest.to_vec()),
        };
        Ok(self
            .channel
            .request(request)
            .await
            .map_err(KeyError::Failed)?
            .to_vec())
    }
}

impl<C: CardChannel> AsyncDecryptor for CardKey<'_, C> {
    async fn decrypt_key(
        &self,
        transport: KeyTransport,
        encrypted_key: &[u8],
        _rng: &mut dyn CryptoRng,
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let oaep = match transport {
            KeyTransport::RsaPkcs1v15 => None,
            KeyTransport::RsaOaep(digest) => Some(digest_name(digest).to_string()),
        };
        let request = CardRequest::Decrypt {
            slot: self.slot,
            oaep,
            encrypted_key: ByteBuf::from(encrypted_key.to_vec()),
        };
        self.channel
            .request(request)
            .await
            .map_err(KeyError::Failed)
    }

    async fn agree(&self, originator_public_key: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let request = CardRequest::Agree {
            slot: self.slot,
            point: ByteBuf::from(originator_public_key.to_vec()),
        };
        self.channel
            .request(request)
            .await
            .map_err(KeyError::Failed)
    }
}

/// The channel when no card is connected (the native API, tests of soft keys).
pub struct NoCard;

impl CardChannel for NoCard {
    async fn request(&self, _request: CardRequest) -> Result<Zeroizing<Vec<u8>>, String> {
        Err(card::Error::NoCard.to_string())
    }
}

/// Where the shipped `seal` and `open` send card requests: the page, from the worker.
#[cfg(target_arch = "wasm32")]
pub fn page() -> remote::PageChannel {
    remote::PageChannel
}

/// Natively there is no page: no card.
#[cfg(not(target_arch = "wasm32"))]
pub fn page() -> NoCard {
    NoCard
}

/// The message of a JS error (or the value itself, as text).
#[cfg(target_arch = "wasm32")]
fn js_message(error: &wasm_bindgen::JsValue) -> String {
    js_sys::Reflect::get(error, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "an unknown error".into())
}
