//! Malformed input must give an error or a truthful result, never a panic: every single-byte
//! corruption and every truncation of real signed and encrypted messages is fed back in.
//! (A deterministic, bounded stand-in for fuzzing, cheap enough for every test run.)

// They spawn openssl/gpgsm and use OS randomness: native only.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{ENTITY, MESSAGE, Pki, rng};
use smime::algorithms::ContentEncryption;
use smime::decrypt::Envelope;
use smime::envelope::{self, EncryptOptions};
use smime::keys::Decryptor;
use smime::mime::{self, SmimeContent};
use smime::sign::{self, SignOptions, SignedFormat};
use smime::{ber, verify};

fn pki() -> &'static Pki {
    common::pki("hostile")
}

/// Every truncation and, at every position, a low-bit and a high-bit flip.
fn mutations(original: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let truncations = (0..original.len()).map(|len| original[..len].to_vec());
    let flips = (0..original.len()).flat_map(move |i| {
        [0x01u8, 0x80].into_iter().map(move |bit| {
            let mut changed = original.to_vec();
            changed[i] ^= bit;
            changed
        })
    });
    truncations.chain(flips)
}

#[test]
fn corrupted_signed_data_never_verifies_other_content() {
    let bob = &pki().p256;
    let options = SignOptions {
        format: SignedFormat::Opaque,
        ..SignOptions::default()
    };
    let signed = sign::sign(MESSAGE, &bob.cert, &bob.key, &options, &mut rng()).unwrap();
    let SmimeContent::Opaque { cms } = mime::parse_smime(&signed).unwrap() else {
        panic!("not opaque")
    };
    assert!(verify::verify_signed_data(&cms, None).unwrap().all_valid());
    for mutant in mutations(&cms) {
        let _ = ber::normalize(&mutant);
        if let Ok(result) = verify::verify_signed_data(&mutant, None)
            && result.all_valid()
        {
            // Bytes outside the signature's coverage may change unnoticed — the carried
            // certificates' own signatures and extensions (chain validation is the caller's
            // job) or the digestAlgorithms set — but never into other content.
            assert_eq!(result.content, ENTITY);
        }
    }
    // And every flip inside the content itself is reported.
    let start = cms.windows(ENTITY.len()).position(|w| w == ENTITY).unwrap();
    for i in start..start + ENTITY.len() {
        let mut changed = cms.clone();
        changed[i] ^= 0x01;
        let result = verify::verify_signed_data(&changed, None).unwrap();
        assert!(
            !result.signers[0].digest_ok && !result.all_valid(),
            "flip at {i} unnoticed"
        );
    }
}

#[test]
fn corrupted_mime_never_panics() {
    let alice = &pki().rsa;
    let signed = sign::sign(
        MESSAGE,
        &alice.cert,
        &alice.key,
        &SignOptions::default(),
        &mut rng(),
    )
    .unwrap();
    // The MIME layer only: parsing and canonicalisation of every corruption.
    for mutant in mutations(&signed) {
        let _ = mime::parse_smime(&mutant);
        let _ = mime::make_7bit_safe(mutant.clone());
    }
}

#[test]
fn corrupted_auth_enveloped_data_yields_original_or_error() {
    let bob = &pki().p256;
    let keys: [(&smime::Certificate, &dyn Decryptor); 1] = [(&bob.cert, &bob.key)];
    let options = EncryptOptions {
        algorithm: ContentEncryption::Aes128Gcm,
        ..EncryptOptions::default()
    };
    let cms = envelope::envelope(
        ENTITY,
        std::slice::from_ref(&bob.cert),
        &options,
        &mut rng(),
    )
    .unwrap();
    assert_eq!(
        Envelope::from_cms(&cms)
            .unwrap()
            .decrypt(&keys, &mut rng())
            .unwrap()
            .content,
        ENTITY
    );
    for mutant in mutations(&cms) {
        if let Ok(decrypted) =
            Envelope::from_cms(&mutant).and_then(|e| e.decrypt(&keys, &mut rng()))
        {
            assert_eq!(
                decrypted.content, ENTITY,
                "authenticated encryption let a change through"
            );
        }
    }
}
