//! The PIV card through raw APDUs, as a host driver would use it.

mod common;

use common::{
    certificate_spki, certify, hex, p256_pkcs8, rng, rsa_key, rsa_pkcs8, self_signed, split_sw,
};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::elliptic_curve::Generate;
use p256::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use sha2::Digest;
use virtual_card::VirtualPiv;
use virtual_card::provision::{
    self, KeyAlgorithm, PIV_AID, ProvisionError, SlotContent, SlotKey, pin_block,
};

fn select(card: &mut VirtualPiv) -> Vec<u8> {
    let mut apdu = vec![0x00, 0xA4, 0x04, 0x00, PIV_AID.len() as u8];
    apdu.extend_from_slice(&PIV_AID);
    apdu.push(0x00);
    card.transmit(&apdu)
}

fn verify(card: &mut VirtualPiv, pin: &str) -> u16 {
    let mut apdu = vec![0x00, 0x20, 0x00, 0x80, 0x08];
    apdu.extend_from_slice(&pin_block(pin).unwrap());
    split_sw(&card.transmit(&apdu)).1
}

/// Sends a command and follows 61XX with GET RESPONSE; returns all data and the final status.
fn transmit_all(card: &mut VirtualPiv, apdu: &[u8]) -> (Vec<u8>, u16) {
    let mut response = card.transmit(apdu);
    let mut data = Vec::new();
    loop {
        let (part, sw) = split_sw(&response);
        data.extend_from_slice(part);
        if sw >> 8 != 0x61 {
            return (data, sw);
        }
        response = card.transmit(&[0x00, 0xC0, 0x00, 0x00, sw as u8]);
    }
}

fn get_certificate(card: &mut VirtualPiv, slot: u8) -> (Vec<u8>, u16) {
    let object = provision::certificate_object(slot).unwrap();
    let mut apdu = vec![0x00, 0xCB, 0x3F, 0xFF, 0x05, 0x5C, 0x03];
    apdu.extend_from_slice(&object);
    apdu.push(0x00);
    transmit_all(card, &apdu)
}

/// The value of a top-level BER-TLV object (one-byte tags, or two-byte tags such as 5F50, which
/// are skipped; lengths up to 82 xx xx).
fn tlv_value(data: &[u8], tag: u8) -> &[u8] {
    let mut rest = data;
    loop {
        assert!(!rest.is_empty(), "tag {tag:02X} not in {}", hex(data));
        let tag_len = if rest[0] & 0x1F == 0x1F { 2 } else { 1 };
        let (len, header) = match rest[tag_len] {
            0x81 => (rest[tag_len + 1] as usize, tag_len + 2),
            0x82 => (
                u16::from_be_bytes([rest[tag_len + 1], rest[tag_len + 2]]) as usize,
                tag_len + 3,
            ),
            short => (short as usize, tag_len + 1),
        };
        if tag_len == 1 && rest[0] == tag {
            return &rest[header..header + len];
        }
        rest = &rest[header + len..];
    }
}

#[test]
fn select_answers_the_application_property_template() {
    let mut card = VirtualPiv::new();
    let response = select(&mut card);
    let (data, sw) = split_sw(&response);
    assert_eq!(sw, 0x9000);
    let template = tlv_value(data, 0x61);
    // SP 800-73-4 part 2 §3.1.1: tag 4F holds the application's PIX (with version 0100).
    assert_eq!(
        tlv_value(template, 0x4F),
        [0x00, 0x00, 0x10, 0x00, 0x01, 0x00]
    );
    // Supported algorithms (tag AC) include RSA-2048 (07) and P-256 (11).
    let algorithms = tlv_value(template, 0xAC);
    assert!(algorithms.windows(3).any(|w| w == [0x80, 0x01, 0x07]));
    assert!(algorithms.windows(3).any(|w| w == [0x80, 0x01, 0x11]));

    // The card wants at least the 9-byte truncated AID: the 5-byte RID alone is not found.
    let rid_only = card.transmit(&[
        0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00,
    ]);
    assert_eq!(split_sw(&rid_only).1, 0x6A82);
}

#[test]
fn select_without_le_sends_the_template_through_get_response() {
    let mut card = VirtualPiv::new();
    let mut apdu = vec![0x00, 0xA4, 0x04, 0x00, PIV_AID.len() as u8];
    apdu.extend_from_slice(&PIV_AID);
    let first = card.transmit(&apdu);
    assert_eq!(first.len(), 2);
    assert_eq!(first[0], 0x61);
    let rest = card.transmit(&[0x00, 0xC0, 0x00, 0x00, first[1]]);
    let (data, sw) = split_sw(&rest);
    assert_eq!(sw, 0x9000);
    assert_eq!(data.len(), first[1] as usize);
    assert_eq!(data[0], 0x61);
}

#[test]
fn verify_pin_counts_retries_down_and_blocks() {
    let mut card = VirtualPiv::new();
    assert_eq!(split_sw(&select(&mut card)).1, 0x9000);
    assert_eq!(verify(&mut card, "123456"), 0x9000);
    assert_eq!(verify(&mut card, "654321"), 0x63C2);
    assert_eq!(verify(&mut card, "654321"), 0x63C1);
    assert_eq!(verify(&mut card, "654321"), 0x6983);
    assert_eq!(verify(&mut card, "123456"), 0x6983);
}

#[test]
fn a_power_cycle_forgets_the_verified_pin_but_keeps_the_retry_counter() {
    let mut card = VirtualPiv::new();
    select(&mut card);
    assert_eq!(verify(&mut card, "000000"), 0x63C2);
    assert_eq!(verify(&mut card, "123456"), 0x9000);
    assert_eq!(verify(&mut card, "000000"), 0x63C2);
    card.reset();
    // No application is selected after a reset.
    assert_eq!(
        split_sw(&card.transmit(&[0x00, 0x20, 0x00, 0x80])).1,
        0x6A82
    );
    select(&mut card);
    // VERIFY without data asks for the status: not verified, two tries left.
    assert_eq!(
        split_sw(&card.transmit(&[0x00, 0x20, 0x00, 0x80])).1,
        0x63C2
    );
}

#[test]
fn provisioned_certificate_and_pin_read_back() {
    let key = rsa_key();
    let certificate = self_signed(key, "/CN=Virtual PIV authentication");
    let mut card = VirtualPiv::new();
    provision::provision(
        &mut card,
        &[SlotContent {
            slot: 0x9A,
            key: SlotKey::Rsa2048 {
                pkcs8_der: rsa_pkcs8(key),
            },
            certificate_der: certificate.clone(),
        }],
        Some("24681357"),
    )
    .unwrap();

    select(&mut card);
    let (object, sw) = get_certificate(&mut card, 0x9A);
    assert_eq!(sw, 0x9000);
    let content = tlv_value(&object, 0x53);
    assert_eq!(tlv_value(content, 0x70), certificate.as_slice());
    assert_eq!(tlv_value(content, 0x71), [0x00]);

    // An empty slot's certificate is not found.
    assert_eq!(get_certificate(&mut card, 0x9D).1, 0x6A82);

    assert_eq!(verify(&mut card, "123456"), 0x63C2);
    assert_eq!(verify(&mut card, "24681357"), 0x9000);
}

#[test]
fn p256_key_generated_in_9c_signs_a_digest() {
    let mut card = VirtualPiv::new();
    let spki = provision::generate(&mut card, 0x9C, KeyAlgorithm::P256).unwrap();
    let certificate = certify(&spki, "/CN=Virtual PIV signature");
    provision::put_certificate(&mut card, 0x9C, &certificate).unwrap();

    select(&mut card);
    let (object, sw) = get_certificate(&mut card, 0x9C);
    assert_eq!(sw, 0x9000);
    let stored = tlv_value(tlv_value(&object, 0x53), 0x70).to_vec();
    assert_eq!(stored, certificate);
    let public_key = p256::PublicKey::from_public_key_der(&certificate_spki(&stored)).unwrap();
    let verifying_key = p256::ecdsa::VerifyingKey::from(&public_key);

    let digest = sha2::Sha256::digest(b"a message signed on the card");
    let mut apdu = vec![
        0x00, 0x87, 0x11, 0x9C, 0x26, 0x7C, 0x24, 0x82, 0x00, 0x81, 0x20,
    ];
    apdu.extend_from_slice(&digest);
    apdu.push(0x00);

    // 9C is "PIN always": without a VERIFY right before, the card refuses.
    assert_eq!(transmit_all(&mut card, &apdu).1, 0x6982);
    assert_eq!(verify(&mut card, "123456"), 0x9000);
    let (answer, sw) = transmit_all(&mut card, &apdu);
    assert_eq!(sw, 0x9000);
    let der = tlv_value(tlv_value(&answer, 0x7C), 0x82);
    let signature = p256::ecdsa::Signature::from_der(der).unwrap();
    verifying_key.verify_prehash(&digest, &signature).unwrap();
}

#[test]
fn p256_key_import_is_refused() {
    let key = p256::SecretKey::generate_from_rng(&mut rng());
    let mut card = VirtualPiv::new();
    let result = provision::provision(
        &mut card,
        &[SlotContent {
            slot: 0x9C,
            key: SlotKey::P256 {
                pkcs8_der: p256_pkcs8(&key),
            },
            certificate_der: Vec::new(),
        }],
        None,
    );
    assert!(
        matches!(
            result,
            Err(ProvisionError::ImportRefused {
                slot: 0x9C,
                sw: 0x6A81,
                ..
            })
        ),
        "{result:?}"
    );
}

#[test]
fn rsa_key_import_outside_9a_is_refused() {
    let key = rsa_key();
    let mut card = VirtualPiv::new();
    let result = provision::provision(
        &mut card,
        &[SlotContent {
            slot: 0x9D,
            key: SlotKey::Rsa2048 {
                pkcs8_der: rsa_pkcs8(key),
            },
            certificate_der: Vec::new(),
        }],
        None,
    );
    assert!(
        matches!(
            result,
            Err(ProvisionError::ImportRefused { slot: 0x9D, .. })
        ),
        "{result:?}"
    );
}

/// The command data of an RSA-2048 private operation: 7C { 82 00, 81 <256-byte block> }.
fn rsa_block_template(block: &[u8]) -> Vec<u8> {
    assert_eq!(block.len(), 256);
    let mut data = vec![0x7C, 0x82, 0x01, 0x06, 0x82, 0x00, 0x81, 0x82, 0x01, 0x00];
    data.extend_from_slice(block);
    data
}

fn pkcs1_unpad(block: &[u8]) -> &[u8] {
    assert_eq!(&block[..2], [0x00, 0x02], "{}", hex(block));
    let zero = block[2..].iter().position(|&b| b == 0).unwrap();
    &block[2 + zero + 1..]
}

fn provisioned_rsa_card() -> (VirtualPiv, rsa::RsaPublicKey) {
    let key = rsa_key();
    let mut card = VirtualPiv::new();
    provision::provision(
        &mut card,
        &[SlotContent {
            slot: 0x9A,
            key: SlotKey::Rsa2048 {
                pkcs8_der: rsa_pkcs8(key),
            },
            certificate_der: self_signed(key, "/CN=Virtual PIV decryption"),
        }],
        None,
    )
    .unwrap();
    select(&mut card);
    assert_eq!(verify(&mut card, "123456"), 0x9000);
    (card, key.to_public_key())
}

/// The 266 bytes of command data do not fit a short APDU. The card takes them in one
/// extended-length APDU (and, with extended Le, answers the 264 response bytes at once).
#[test]
fn rsa_2048_decrypts_through_an_extended_apdu() {
    let (mut card, public) = provisioned_rsa_card();
    let message = b"session key for an enveloped message";
    let ciphertext = public
        .encrypt(&mut rng(), rsa::Pkcs1v15Encrypt, message)
        .unwrap();
    assert_eq!(ciphertext.len(), public.size());

    let data = rsa_block_template(&ciphertext);
    let mut apdu = vec![0x00, 0x87, 0x07, 0x9A, 0x00];
    apdu.extend_from_slice(&(data.len() as u16).to_be_bytes());
    apdu.extend_from_slice(&data);
    apdu.extend_from_slice(&[0x00, 0x00]);
    let response = card.transmit(&apdu);
    let (answer, sw) = split_sw(&response);
    assert_eq!(sw, 0x9000);
    let block = tlv_value(tlv_value(answer, 0x7C), 0x82);
    assert_eq!(pkcs1_unpad(block), message);
}

/// The same operation in short APDUs only: command chaining (CLA 10) for the data, and the
/// 264-byte response, longer than a short Le allows, through GET RESPONSE.
#[test]
fn rsa_2048_decrypts_through_command_chaining() {
    let (mut card, public) = provisioned_rsa_card();
    let message = b"another session key";
    let ciphertext = public
        .encrypt(&mut rng(), rsa::Pkcs1v15Encrypt, message)
        .unwrap();

    let data = rsa_block_template(&ciphertext);
    let (first, last) = data.split_at(200);
    let mut apdu = vec![0x10, 0x87, 0x07, 0x9A, first.len() as u8];
    apdu.extend_from_slice(first);
    assert_eq!(split_sw(&card.transmit(&apdu)).1, 0x9000);
    let mut apdu = vec![0x00, 0x87, 0x07, 0x9A, last.len() as u8];
    apdu.extend_from_slice(last);
    apdu.push(0x00);
    let (answer, sw) = transmit_all(&mut card, &apdu);
    assert_eq!(sw, 0x9000);
    let block = tlv_value(tlv_value(&answer, 0x7C), 0x82);
    assert_eq!(pkcs1_unpad(block), message);
}
