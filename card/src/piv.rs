//! A PIV client (NIST SP 800-73-4, part 2): select the application, read certificates, verify
//! the PIN, and ask a key slot to sign, decrypt or agree a key. The card does the private-key
//! operation; encodings around it are the host's ([`crate::rsa_encoding`]).

use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::apdu::{Command, Response, exchange};
use crate::rsa_encoding::{self, Hash};
use crate::transport::Transport;
use crate::{Error, tlv};

/// The PIV application identifier without its version bytes (SP 800-73-4 part 1 §2.2), which
/// every PIV card answers to.
const PIV_AID: [u8; 9] = [0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00];

/// The key slots that hold e-mail keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// 9A, PIV Authentication.
    Authentication,
    /// 9C, Digital Signature: the PIN must be verified right before each use.
    Signature,
    /// 9D, Key Management: decryption and key agreement.
    KeyManagement,
    /// 82–95, Retired Key Management 1–20: earlier decryption keys, kept to read old mail.
    Retired(u8),
}

impl Slot {
    /// Every slot an e-mail certificate may sit in, in reading order.
    pub fn all() -> impl Iterator<Item = Slot> {
        [Slot::Signature, Slot::KeyManagement, Slot::Authentication]
            .into_iter()
            .chain((1..=20).map(Slot::Retired))
    }

    /// The key reference used by GENERAL AUTHENTICATE.
    pub fn key_reference(self) -> u8 {
        match self {
            Slot::Authentication => 0x9A,
            Slot::Signature => 0x9C,
            Slot::KeyManagement => 0x9D,
            Slot::Retired(n) => 0x81 + n.clamp(1, 20),
        }
    }

    /// The slot of a key reference (`0x9C`, `0x82`, …).
    pub fn from_key_reference(reference: u8) -> Option<Slot> {
        match reference {
            0x9A => Some(Slot::Authentication),
            0x9C => Some(Slot::Signature),
            0x9D => Some(Slot::KeyManagement),
            0x82..=0x95 => Some(Slot::Retired(reference - 0x81)),
            _ => None,
        }
    }

    /// The BER-TLV tag of the certificate data object (SP 800-73-4 part 1, table 3).
    fn certificate_object(self) -> [u8; 3] {
        match self {
            Slot::Authentication => [0x5F, 0xC1, 0x05],
            Slot::Signature => [0x5F, 0xC1, 0x0A],
            Slot::KeyManagement => [0x5F, 0xC1, 0x0B],
            Slot::Retired(n) => [0x5F, 0xC1, 0x0C + n.clamp(1, 20)],
        }
    }

    /// Whether the card asks for the PIN before every use of this key (PIN Always, part 1
    /// §3.3.2), so the host must verify it again right before signing.
    pub fn pin_always(self) -> bool {
        self == Slot::Signature
    }
}

/// Key algorithms (SP 800-78-4 table 6-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Rsa2048,
    EccP256,
    EccP384,
}

impl KeyAlgorithm {
    fn id(self) -> u8 {
        match self {
            KeyAlgorithm::Rsa2048 => 0x07,
            KeyAlgorithm::EccP256 => 0x11,
            KeyAlgorithm::EccP384 => 0x14,
        }
    }

    fn field_len(self) -> usize {
        match self {
            KeyAlgorithm::Rsa2048 => 256,
            KeyAlgorithm::EccP256 => 32,
            KeyAlgorithm::EccP384 => 48,
        }
    }
}

/// How an RSA signature block is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaSignature<'a> {
    Pkcs1v15,
    /// RSASSA-PSS with MGF1 over the same hash and this salt.
    Pss {
        salt: &'a [u8],
    },
}

/// What VERIFY without data says about the PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinStatus {
    Verified,
    /// Not verified in this session; this many tries are left.
    TriesLeft(u8),
    Blocked,
}

const PIN_LEN: usize = 8;
const SW_NOT_FOUND: u16 = 0x6A82;
const SW_BLOCKED: u16 = 0x6983;
const SW_SECURITY: u16 = 0x6982;

/// A card with its PIV application selected.
pub struct Piv<T: Transport> {
    transport: T,
}

impl<T: Transport> Piv<T> {
    /// Select the PIV application.
    pub async fn select(mut transport: T) -> Result<Self, Error> {
        let select = Command::new(0x00, 0xA4, 0x04, 0x00, &PIV_AID).expecting_data();
        let response = exchange(&mut transport, &select).await?;
        if !response.is_ok() {
            return Err(Error::NotPiv);
        }
        Ok(Self { transport })
    }

    /// The transport back, for a caller that ends the session.
    pub fn into_transport(self) -> T {
        self.transport
    }

    /// The certificate (DER) in `slot`, or `None` if the slot has none.
    pub async fn certificate(&mut self, slot: Slot) -> Result<Option<Vec<u8>>, Error> {
        let object = slot.certificate_object();
        let request = tlv::encode(&[0x5C], &object);
        let get_data = Command::new(0x00, 0xCB, 0x3F, 0xFF, &request).expecting_data();
        let response = exchange(&mut self.transport, &get_data).await?;
        if response.status == SW_NOT_FOUND {
            return Ok(None);
        }
        let data = response.into_data()?;
        let Some(container) = tlv::find(&data, 0x53)? else {
            return Err(Error::Protocol(
                "a certificate object without its container",
            ));
        };
        let Some(certificate) = tlv::find(container, 0x70)? else {
            return Ok(None);
        };
        // CertInfo bit 0: the certificate is gzip-compressed (part 1 table 10), which some
        // issuers do to fit 3 KiB cards.
        if tlv::find(container, 0x71)?
            .is_some_and(|info| info.first().is_some_and(|b| b & 0x01 != 0))
        {
            return Err(Error::CompressedCertificate);
        }
        if certificate.is_empty() {
            return Ok(None);
        }
        Ok(Some(certificate.to_vec()))
    }

    /// Whether the PIN is verified, and how many tries are left if not.
    pub async fn pin_status(&mut self) -> Result<PinStatus, Error> {
        let status = Command::new(0x00, 0x20, 0x00, 0x80, &[]);
        let response = exchange(&mut self.transport, &status).await?;
        pin_status_of(&response)
    }

    /// VERIFY the PIN (6–8 characters).
    pub async fn verify_pin(&mut self, pin: &str) -> Result<(), Error> {
        let bytes = pin.as_bytes();
        if !(6..=PIN_LEN).contains(&bytes.len()) {
            return Err(Error::PinFormat);
        }
        let mut padded = Zeroizing::new([0xFFu8; PIN_LEN]);
        padded[..bytes.len()].copy_from_slice(bytes);
        let verify = Command::new(0x00, 0x20, 0x00, 0x80, &padded[..]);
        let response = exchange(&mut self.transport, &verify).await?;
        match pin_status_of(&response)? {
            PinStatus::Verified => Ok(()),
            PinStatus::TriesLeft(tries) => Err(Error::WrongPin { tries_left: tries }),
            PinStatus::Blocked => Err(Error::PinBlocked),
        }
    }

    /// GENERAL AUTHENTICATE: the private-key operation of `slot` on `input`, tagged 0x81
    /// (challenge: sign or decrypt) or 0x85 (exponentiation: ECDH).
    async fn general_authenticate(
        &mut self,
        slot: Slot,
        algorithm: KeyAlgorithm,
        tag: u8,
        input: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let mut inner = alloc::vec![0x82, 0x00];
        inner.extend_from_slice(&tlv::encode(&[tag], input));
        let template = Zeroizing::new(tlv::encode(&[0x7C], &inner));
        let command = Command::new(0x00, 0x87, algorithm.id(), slot.key_reference(), &template)
            .expecting_data();
        let response = exchange(&mut self.transport, &command).await?;
        match response.status {
            SW_SECURITY => return Err(Error::PinNeeded),
            // Cards differ in how they say the slot is empty: not found, referenced data not
            // found, wrong data, or conditions of use not satisfied.
            SW_NOT_FOUND | 0x6A88 | 0x6A80 | 0x6A86 | 0x6985 => return Err(Error::NoSuchKey),
            _ => {}
        }
        let data = Zeroizing::new(response.into_data()?);
        let Some(template) = tlv::find(&data, 0x7C)? else {
            return Err(Error::Protocol("an answer without its template"));
        };
        let Some(value) = tlv::find(template, 0x82)? else {
            return Err(Error::Protocol("an answer without a response value"));
        };
        Ok(Zeroizing::new(value.to_vec()))
    }

    /// An RSA-2048 signature over `digest` (the hash of what is signed).
    pub async fn sign_rsa(
        &mut self,
        slot: Slot,
        encoding: RsaSignature<'_>,
        hash: Hash,
        digest: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let algorithm = KeyAlgorithm::Rsa2048;
        let block = match encoding {
            RsaSignature::Pkcs1v15 => {
                rsa_encoding::pkcs1v15_signature_block(hash, digest, algorithm.field_len())
            }
            RsaSignature::Pss { salt } => {
                rsa_encoding::pss_signature_block(hash, digest, salt, algorithm.field_len() * 8)
            }
        }
        .map_err(|_| Error::Encoding)?;
        Ok(self
            .general_authenticate(slot, algorithm, 0x81, &block)
            .await?
            .to_vec())
    }

    /// An ECDSA signature (DER `Ecdsa-Sig-Value`) over `digest`, cut to the curve's size as
    /// ECDSA does (FIPS 186-5 §6.4.1).
    pub async fn sign_ecdsa(
        &mut self,
        slot: Slot,
        algorithm: KeyAlgorithm,
        digest: &[u8],
    ) -> Result<Vec<u8>, Error> {
        if algorithm == KeyAlgorithm::Rsa2048 {
            return Err(Error::Encoding);
        }
        let len = algorithm.field_len();
        let input = if digest.len() > len {
            &digest[..len]
        } else {
            digest
        };
        // The card wants the input as long as the field: left-pad a shorter hash.
        let mut padded = alloc::vec![0u8; len - input.len()];
        padded.extend_from_slice(input);
        Ok(self
            .general_authenticate(slot, algorithm, 0x81, &padded)
            .await?
            .to_vec())
    }

    /// The raw RSA private operation on a 256-byte block: the caller removes the padding.
    pub async fn decrypt_rsa(
        &mut self,
        slot: Slot,
        block: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let algorithm = KeyAlgorithm::Rsa2048;
        if block.len() > algorithm.field_len() {
            return Err(Error::Encoding);
        }
        // Left-pad a block whose leading zero bytes were dropped.
        let mut input = Zeroizing::new(alloc::vec![0u8; algorithm.field_len() - block.len()]);
        input.extend_from_slice(block);
        let mut output = self
            .general_authenticate(slot, algorithm, 0x81, &input)
            .await?;
        // A card may drop leading zero bytes of its answer; the padding checks need them.
        if output.len() < algorithm.field_len() {
            let mut full = Zeroizing::new(alloc::vec![0u8; algorithm.field_len() - output.len()]);
            full.extend_from_slice(&output);
            output = full;
        }
        Ok(output)
    }

    /// ECDH with the key in `slot` and a peer's uncompressed point: the shared x coordinate.
    pub async fn ecdh(
        &mut self,
        slot: Slot,
        algorithm: KeyAlgorithm,
        peer_point: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        if algorithm == KeyAlgorithm::Rsa2048 || peer_point.len() != 1 + 2 * algorithm.field_len() {
            return Err(Error::Encoding);
        }
        let secret = self
            .general_authenticate(slot, algorithm, 0x85, peer_point)
            .await?;
        // Some cards answer the whole point; the shared secret is its x coordinate.
        if secret.len() == peer_point.len() {
            return Ok(Zeroizing::new(
                secret[1..1 + algorithm.field_len()].to_vec(),
            ));
        }
        if secret.len() != algorithm.field_len() {
            return Err(Error::Protocol("a shared secret of the wrong length"));
        }
        Ok(secret)
    }

    /// Make the card forget that the PIN was verified (VERIFY with P1 = FF, SP 800-73-4 part 2
    /// §3.2.1), so the keys need the PIN again.
    pub async fn reset_pin_status(&mut self) -> Result<(), Error> {
        let reset = Command::new(0x00, 0x20, 0xFF, 0x80, &[]);
        exchange(&mut self.transport, &reset)
            .await?
            .into_data()
            .map(drop)
    }
}

fn pin_status_of(response: &Response) -> Result<PinStatus, Error> {
    match response.status {
        0x9000 => Ok(PinStatus::Verified),
        SW_BLOCKED | 0x63C0 => Ok(PinStatus::Blocked),
        sw if sw & 0xFFF0 == 0x63C0 => Ok(PinStatus::TriesLeft((sw & 0x0F) as u8)),
        sw => Err(Error::Status(sw)),
    }
}
