//! Loading keys and certificates into a PIV card through APDUs only, as a card-management tool
//! does: SELECT, mutual authentication with the management key (SP 800-73-4 part 2 §3.2.4,
//! appendix A.1), the Yubico IMPORT ASYMMETRIC KEY extension or GENERATE ASYMMETRIC KEY PAIR,
//! PUT DATA for certificates and CHANGE REFERENCE DATA for the PIN.
//!
//! What piv-authenticator 0.7 accepts, found by reading its source and confirmed by the tests:
//! - Its default management key is the 3DES key 010203040506070801020304050607080102030405060708
//!   (algorithm 03), the same default as a YubiKey's before firmware 5.7.
//! - IMPORT ASYMMETRIC KEY takes RSA keys (2048, 3072, 4096) into slot 9A only, with its own
//!   data layout: tag 01 = p, 02 = q, 03 = e (Yubico's 03 would be dP). Anything else, P-256
//!   keys included, is refused with 6A81; such keys have to be generated on the card with
//!   [`generate`], then certified, then their certificate written with [`put_certificate`].
//!
//! Every public function here ends with a power cycle of the card, so whoever uses the card next
//! starts as after insertion: no PIN verified, no management key authenticated.

use des::TdesEde3;
use des::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use p256::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::BoxedUint;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};

use crate::Icc;

/// The PIV application's AID as the card accepts it in SELECT: piv-authenticator wants at least
/// these 9 bytes (a 5-byte RID alone answers 6A82).
pub const PIV_AID: [u8; 9] = [0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00];

/// piv-authenticator's default management key (3DES, three times 0102030405060708).
pub const DEFAULT_MANAGEMENT_KEY: [u8; 24] = [
    1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
];

/// The default PIN of a fresh card.
pub const DEFAULT_PIN: &str = "123456";

/// SP 800-78-4 algorithm identifiers.
const ALGORITHM_3DES: u8 = 0x03;
const ALGORITHM_RSA2048: u8 = 0x07;
const ALGORITHM_P256: u8 = 0x11;
/// Key reference of the PIV card application administration (management) key.
const MANAGEMENT_KEY_REFERENCE: u8 = 0x9B;

/// A private key to import into a slot, as PKCS#8 DER.
pub enum SlotKey {
    Rsa2048 { pkcs8_der: Vec<u8> },
    P256 { pkcs8_der: Vec<u8> },
}

/// What [`provision`] puts in one slot.
pub struct SlotContent {
    /// 0x9A, 0x9C, 0x9D, 0x9E or a retired key slot 0x82..=0x95.
    pub slot: u8,
    pub key: SlotKey,
    pub certificate_der: Vec<u8>,
}

/// Key types [`generate`] can ask the card for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Rsa2048,
    P256,
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("slot {0:02X} is not a PIV key slot (9A, 9C, 9D, 9E, 82 to 95)")]
    UnknownSlot(u8),
    #[error("the key for slot {slot:02X} is not a PKCS#8 {algorithm} private key")]
    BadKey { slot: u8, algorithm: &'static str },
    #[error("a PIV PIN has 6 to 8 characters")]
    BadPin,
    #[error("the certificate for slot {slot:02X} is {len} bytes, too large for the card")]
    CertificateTooLarge { slot: u8, len: usize },
    #[error(
        "the card refused to import the {algorithm} key into slot {slot:02X} ({sw:04X}); \
         piv-authenticator 0.7 imports RSA keys into slot 9A only, generate other keys on the card"
    )]
    ImportRefused {
        slot: u8,
        algorithm: &'static str,
        sw: u16,
    },
    #[error("{step}: the card answered {sw:04X}")]
    Card { step: &'static str, sw: u16 },
    #[error("{0}: the card's answer is malformed")]
    Malformed(&'static str),
    #[error("the card did not prove knowledge of the management key")]
    CardNotAuthenticated,
    #[error("no randomness for the authentication challenge: {0}")]
    Random(String),
}

/// Imports each slot's key, writes its certificate and, if `pin` is given, changes the PIN from
/// the default 123456 to it.
pub fn provision<C: Icc + ?Sized>(
    card: &mut C,
    slots: &[SlotContent],
    pin: Option<&str>,
) -> Result<(), ProvisionError> {
    let new_pin = pin.map(pin_block).transpose()?;
    for content in slots {
        certificate_object(content.slot).ok_or(ProvisionError::UnknownSlot(content.slot))?;
    }
    let result = (|| {
        let mut session = Session::open(card)?;
        for content in slots {
            session.import(content.slot, &content.key)?;
            session.put_certificate(content.slot, &content.certificate_der)?;
        }
        if let Some(new_pin) = new_pin {
            let mut data = pin_block(DEFAULT_PIN)?.to_vec();
            data.extend_from_slice(&new_pin);
            session.command("change PIN", 0x24, 0x00, 0x80, &data)?;
        }
        Ok(())
    })();
    card.reset();
    result
}

/// Has the card generate a key pair in `slot`; returns its public key as a DER
/// SubjectPublicKeyInfo, for a CA to certify.
pub fn generate<C: Icc + ?Sized>(
    card: &mut C,
    slot: u8,
    algorithm: KeyAlgorithm,
) -> Result<Vec<u8>, ProvisionError> {
    certificate_object(slot).ok_or(ProvisionError::UnknownSlot(slot))?;
    let result = (|| {
        let mut session = Session::open(card)?;
        let mechanism = match algorithm {
            KeyAlgorithm::Rsa2048 => ALGORITHM_RSA2048,
            KeyAlgorithm::P256 => ALGORITHM_P256,
        };
        let template = [0xAC, 0x03, 0x80, 0x01, mechanism];
        let answer = session.command("generate key", 0x47, 0x00, slot, &template)?;
        let public = find_tlv(&answer, 0x7F49).ok_or(ProvisionError::Malformed("generate key"))?;
        spki_from_card(public, algorithm)
    })();
    card.reset();
    result
}

/// Writes `certificate_der` to the certificate object of `slot`.
pub fn put_certificate<C: Icc + ?Sized>(
    card: &mut C,
    slot: u8,
    certificate_der: &[u8],
) -> Result<(), ProvisionError> {
    certificate_object(slot).ok_or(ProvisionError::UnknownSlot(slot))?;
    let result =
        Session::open(card).and_then(|mut session| session.put_certificate(slot, certificate_der));
    card.reset();
    result
}

/// The tag of the data object holding the certificate for a key slot (SP 800-73-4 part 1,
/// table 3 and part 2 table 4b).
pub fn certificate_object(slot: u8) -> Option<[u8; 3]> {
    let last = match slot {
        0x9A => 0x05,
        0x9C => 0x0A,
        0x9D => 0x0B,
        0x9E => 0x01,
        0x82..=0x95 => 0x0D + (slot - 0x82),
        _ => return None,
    };
    Some([0x5F, 0xC1, last])
}

/// A PIN as VERIFY and CHANGE REFERENCE DATA carry it: 8 bytes, padded with FF.
pub fn pin_block(pin: &str) -> Result<[u8; 8], ProvisionError> {
    let bytes = pin.as_bytes();
    if !(6..=8).contains(&bytes.len()) {
        return Err(ProvisionError::BadPin);
    }
    let mut block = [0xFF; 8];
    block[..bytes.len()].copy_from_slice(bytes);
    Ok(block)
}

/// A selected card with the management key authenticated.
struct Session<'a, C: Icc + ?Sized> {
    card: &'a mut C,
}

impl<'a, C: Icc + ?Sized> Session<'a, C> {
    fn open(card: &'a mut C) -> Result<Self, ProvisionError> {
        let mut session = Self { card };
        session.command("select PIV", 0xA4, 0x04, 0x00, &PIV_AID)?;
        session.authenticate()?;
        Ok(session)
    }

    /// Mutual authentication: the card proves it knows the key by the witness it encrypts, we
    /// prove it by decrypting that witness, and the card by encrypting our challenge.
    fn authenticate(&mut self) -> Result<(), ProvisionError> {
        const STEP: &str = "management key authentication";
        let cipher = TdesEde3::new_from_slice(&DEFAULT_MANAGEMENT_KEY)
            .map_err(|_| ProvisionError::Malformed(STEP))?;
        let answer = self.general_authenticate(&[0x7C, 0x02, 0x80, 0x00])?;
        let witness = find_tlv(&answer, 0x7C)
            .and_then(|template| find_tlv(template, 0x80))
            .and_then(|witness| <[u8; 8]>::try_from(witness).ok())
            .ok_or(ProvisionError::Malformed(STEP))?;
        let mut witness = witness.into();
        cipher.decrypt_block(&mut witness);
        let witness: [u8; 8] = witness.into();

        let mut challenge = [0u8; 8];
        getrandom::fill(&mut challenge).map_err(|e| ProvisionError::Random(e.to_string()))?;
        let mut request = vec![0x7C, 0x14, 0x80, 0x08];
        request.extend_from_slice(&witness);
        request.extend_from_slice(&[0x81, 0x08]);
        request.extend_from_slice(&challenge);
        let answer = self.general_authenticate(&request)?;
        let response = find_tlv(&answer, 0x7C)
            .and_then(|template| find_tlv(template, 0x82))
            .ok_or(ProvisionError::Malformed(STEP))?;
        let mut expected = challenge.into();
        cipher.encrypt_block(&mut expected);
        let expected: [u8; 8] = expected.into();
        if response != expected {
            return Err(ProvisionError::CardNotAuthenticated);
        }
        Ok(())
    }

    fn general_authenticate(&mut self, data: &[u8]) -> Result<Vec<u8>, ProvisionError> {
        self.command(
            "management key authentication",
            0x87,
            ALGORITHM_3DES,
            MANAGEMENT_KEY_REFERENCE,
            data,
        )
    }

    fn import(&mut self, slot: u8, key: &SlotKey) -> Result<(), ProvisionError> {
        let (algorithm, name, data) = match key {
            SlotKey::Rsa2048 { pkcs8_der } => (
                ALGORITHM_RSA2048,
                "RSA-2048",
                rsa_import_data(slot, pkcs8_der)?,
            ),
            SlotKey::P256 { pkcs8_der } => {
                let bad = ProvisionError::BadKey {
                    slot,
                    algorithm: "P-256",
                };
                let key = p256::SecretKey::from_pkcs8_der(pkcs8_der).map_err(|_| bad)?;
                let mut data = vec![0x06, 0x20];
                data.extend_from_slice(&key.to_bytes());
                (ALGORITHM_P256, "P-256", data)
            }
        };
        match self.command("import key", 0xFE, algorithm, slot, &data) {
            Err(ProvisionError::Card { sw: 0x6A81, .. }) => Err(ProvisionError::ImportRefused {
                slot,
                algorithm: name,
                sw: 0x6A81,
            }),
            other => other.map(drop),
        }
    }

    fn put_certificate(&mut self, slot: u8, certificate: &[u8]) -> Result<(), ProvisionError> {
        let object = certificate_object(slot).ok_or(ProvisionError::UnknownSlot(slot))?;
        // SP 800-73-4 part 1 appendix A: certificate, CertInfo (1 byte, 00 = not compressed),
        // error detection code (empty).
        let mut content = tlv(0x70, certificate);
        content.extend_from_slice(&[0x71, 0x01, 0x00, 0xFE, 0x00]);
        let mut data = tlv(0x5C, &object);
        data.extend_from_slice(&tlv(0x53, &content));
        if data.len() > 0xFFFF {
            return Err(ProvisionError::CertificateTooLarge {
                slot,
                len: certificate.len(),
            });
        }
        self.command("write certificate", 0xDB, 0x3F, 0xFF, &data)
            .map(drop)
    }

    /// Sends one command (extended encoding when the data needs it), collects a response sent in
    /// parts (61XX, GET RESPONSE), and turns any status but 9000 into an error.
    fn command(
        &mut self,
        step: &'static str,
        ins: u8,
        p1: u8,
        p2: u8,
        data: &[u8],
    ) -> Result<Vec<u8>, ProvisionError> {
        let mut answer = self.card.transmit(&encode_apdu(ins, p1, p2, data));
        let mut collected = Vec::new();
        loop {
            let Some((sw, body)) = answer.split_last_chunk::<2>().map(|(b, sw)| (*sw, b)) else {
                return Err(ProvisionError::Malformed(step));
            };
            collected.extend_from_slice(body);
            match sw {
                [0x90, 0x00] => return Ok(collected),
                [0x61, left] => answer = self.card.transmit(&[0x00, 0xC0, 0x00, 0x00, left]),
                _ => {
                    return Err(ProvisionError::Card {
                        step,
                        sw: u16::from_be_bytes(sw),
                    });
                }
            }
        }
    }
}

/// piv-authenticator's import layout for RSA: 01 = p, 02 = q, 03 = e.
fn rsa_import_data(slot: u8, pkcs8_der: &[u8]) -> Result<Vec<u8>, ProvisionError> {
    let bad = || ProvisionError::BadKey {
        slot,
        algorithm: "RSA-2048",
    };
    let key = rsa::RsaPrivateKey::from_pkcs8_der(pkcs8_der).map_err(|_| bad())?;
    let [p, q] = key.primes() else {
        return Err(bad());
    };
    if key.size() != 256 {
        return Err(bad());
    }
    let mut data = tlv(0x01, &p.to_be_bytes_trimmed_vartime());
    data.extend_from_slice(&tlv(0x02, &q.to_be_bytes_trimmed_vartime()));
    data.extend_from_slice(&tlv(0x03, &key.e().to_be_bytes_trimmed_vartime()));
    Ok(data)
}

/// The public key in a GENERATE answer (tag 7F49's content) as a SubjectPublicKeyInfo.
fn spki_from_card(public: &[u8], algorithm: KeyAlgorithm) -> Result<Vec<u8>, ProvisionError> {
    const STEP: &str = "generate key";
    let der = match algorithm {
        KeyAlgorithm::P256 => {
            let point = find_tlv(public, 0x86).ok_or(ProvisionError::Malformed(STEP))?;
            p256::PublicKey::from_sec1_bytes(point)
                .ok()
                .and_then(|key| key.to_public_key_der().ok())
        }
        KeyAlgorithm::Rsa2048 => {
            let n = find_tlv(public, 0x81).ok_or(ProvisionError::Malformed(STEP))?;
            let e = find_tlv(public, 0x82).ok_or(ProvisionError::Malformed(STEP))?;
            rsa::RsaPublicKey::new(
                BoxedUint::from_be_slice_vartime(n),
                BoxedUint::from_be_slice_vartime(e),
            )
            .ok()
            .and_then(|key| key.to_public_key_der().ok())
        }
    };
    der.map(|der| der.as_bytes().to_vec())
        .ok_or(ProvisionError::Malformed(STEP))
}

/// A command APDU with Le asking for as much as the encoding allows.
fn encode_apdu(ins: u8, p1: u8, p2: u8, data: &[u8]) -> Vec<u8> {
    let mut apdu = vec![0x00, ins, p1, p2];
    match (data.len(), u8::try_from(data.len())) {
        (0, _) => apdu.push(0x00),
        (_, Ok(lc)) => {
            apdu.push(lc);
            apdu.extend_from_slice(data);
            apdu.push(0x00);
        }
        (len, Err(_)) => {
            apdu.push(0x00);
            apdu.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
            apdu.extend_from_slice(data);
            apdu.extend_from_slice(&[0x00, 0x00]);
        }
    }
    apdu
}

/// BER-TLV with a one- or two-byte tag.
pub(crate) fn tlv(tag: u16, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 5);
    match u8::try_from(tag) {
        Ok(tag) => out.push(tag),
        Err(_) => out.extend_from_slice(&tag.to_be_bytes()),
    }
    let len = value.len();
    match (u8::try_from(len), u16::try_from(len)) {
        (Ok(short), _) if short < 0x80 => out.push(short),
        (Ok(short), _) => out.extend_from_slice(&[0x81, short]),
        (_, Ok(long)) => {
            out.push(0x82);
            out.extend_from_slice(&long.to_be_bytes());
        }
        // Longer values never fit an APDU; the card rejects the truncated length.
        _ => out.extend_from_slice(&[0x82, 0xFF, 0xFF]),
    }
    out.extend_from_slice(value);
    out
}

/// The value of the first top-level BER-TLV object with `tag` in `data`.
pub(crate) fn find_tlv(mut data: &[u8], tag: u16) -> Option<&[u8]> {
    while !data.is_empty() {
        let (found, rest) = split_tag(data)?;
        let (len, rest) = split_len(rest)?;
        let (value, rest) = (rest.get(..len)?, rest.get(len..)?);
        if found == tag {
            return Some(value);
        }
        data = rest;
    }
    None
}

fn split_tag(data: &[u8]) -> Option<(u16, &[u8])> {
    let first = *data.first()?;
    if first & 0x1F == 0x1F {
        let second = *data.get(1)?;
        Some((u16::from_be_bytes([first, second]), data.get(2..)?))
    } else {
        Some((u16::from(first), data.get(1..)?))
    }
}

fn split_len(data: &[u8]) -> Option<(usize, &[u8])> {
    match *data.first()? {
        short @ 0..=0x7F => Some((usize::from(short), data.get(1..)?)),
        0x81 => Some((usize::from(*data.get(1)?), data.get(2..)?)),
        0x82 => {
            let len = u16::from_be_bytes([*data.get(1)?, *data.get(2)?]);
            Some((usize::from(len), data.get(3..)?))
        }
        _ => None,
    }
}
