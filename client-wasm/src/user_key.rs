//! One of the user's private keys as the engine uses it: held in memory for one operation
//! (imported from a digital ID file), or on the smart card. Sealing and opening take either.

use rand_core::CryptoRng;
use smime::SoftKey;
use smime::algorithms::{KeyTransport, SignatureAlgorithm};
use smime::keys::{AsyncDecryptor, AsyncSigner, Decryptor, KeyError, Signer};
use zeroize::Zeroizing;

use crate::card::{CardChannel, CardKey};

pub enum UserKey<'a, C: CardChannel> {
    Soft(SoftKey),
    Card(CardKey<'a, C>),
}

impl<'a, C: CardChannel> UserKey<'a, C> {
    /// The key a page's request names: the card's key in `card_slot` if given, else the
    /// unencrypted PKCS#8 `pkcs8`. `Ok(None)` when it names neither.
    pub fn named(
        pkcs8: Option<&[u8]>,
        card_slot: Option<u8>,
        card: &'a C,
    ) -> Result<Option<Self>, KeyError> {
        Ok(match (pkcs8, card_slot) {
            (_, Some(slot)) => Some(Self::Card(CardKey {
                slot,
                channel: card,
            })),
            (Some(pkcs8), None) => Some(Self::Soft(SoftKey::from_pkcs8_der(pkcs8)?)),
            (None, None) => None,
        })
    }

    pub fn is_on_card(&self) -> bool {
        matches!(self, Self::Card(_))
    }
}

impl<C: CardChannel> AsyncSigner for UserKey<'_, C> {
    async fn sign_digest(
        &self,
        algorithm: SignatureAlgorithm,
        digest: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<Vec<u8>, KeyError> {
        match self {
            Self::Soft(key) => Signer::sign_digest(key, algorithm, digest, rng),
            Self::Card(key) => key.sign_digest(algorithm, digest, rng).await,
        }
    }
}

impl<C: CardChannel> AsyncDecryptor for UserKey<'_, C> {
    async fn decrypt_key(
        &self,
        transport: KeyTransport,
        encrypted_key: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        match self {
            Self::Soft(key) => Decryptor::decrypt_key(key, transport, encrypted_key, rng),
            Self::Card(key) => key.decrypt_key(transport, encrypted_key, rng).await,
        }
    }

    async fn agree(&self, originator_public_key: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        match self {
            Self::Soft(key) => Decryptor::agree(key, originator_public_key),
            Self::Card(key) => AsyncDecryptor::agree(key, originator_public_key).await,
        }
    }
}
