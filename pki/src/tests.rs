//! The reasons a person sees, on a small generated hierarchy (see `testdata/make.py`):
//! RSA root → (RSA-PSS) P-256 intermediate → (ECDSA) signing leaves alice and bob (revoked), and
//! RSA root → (RSA SHA-512) P-384 intermediate → (ECDSA SHA-384) RSA encryption leaf carol.

use super::crl::Crl;
use super::*;

const ROOT: &[u8] = include_bytes!("testdata/root.der");
const INTER: &[u8] = include_bytes!("testdata/inter.der");
const ALICE: &[u8] = include_bytes!("testdata/alice.der");
const BOB: &[u8] = include_bytes!("testdata/bob.der");
const ROOT_CRL: &[u8] = include_bytes!("testdata/root.crl");
const INTER_CRL: &[u8] = include_bytes!("testdata/inter.crl");
const INTER384: &[u8] = include_bytes!("testdata/inter384.der");
const CAROL: &[u8] = include_bytes!("testdata/carol.der");
const INTER384_CRL: &[u8] = include_bytes!("testdata/inter384.crl");

/// 2025-01-01: inside the leaves' 2024–2026 validity.
const NOW: UnixTime = 1_735_689_600;

struct Fixture {
    anchors: Vec<Certificate>,
    intermediates: Vec<Certificate>,
    crls: Vec<Crl>,
}

fn fixture() -> Fixture {
    Fixture {
        anchors: vec![Certificate::from_der(ROOT).unwrap()],
        intermediates: vec![
            Certificate::from_der(INTER).unwrap(),
            Certificate::from_der(INTER384).unwrap(),
        ],
        crls: vec![
            Crl::from_der(ROOT_CRL).unwrap(),
            Crl::from_der(INTER_CRL).unwrap(),
            Crl::from_der(INTER384_CRL).unwrap(),
        ],
    }
}

fn inputs(f: &Fixture) -> Inputs<'_> {
    Inputs {
        trust_anchors: &f.anchors,
        intermediates: &f.intermediates,
        crls: &f.crls,
        time: NOW,
        usage: Usage::Sign,
        email: Some("alice@example.test"),
        untrusted: &[],
        check_revocation: true,
    }
}

fn reason(v: &Verdict) -> Reason {
    match v.status {
        Status::Invalid(r) => r,
        Status::Valid => panic!("expected a rejection, got a valid verdict"),
    }
}

#[test]
fn valid_signing_certificate_with_checked_revocation() {
    let f = fixture();
    let v = validate(ALICE, &inputs(&f));
    assert_eq!(v.status, Status::Valid, "{}", v.detail);
    assert_eq!(v.revocation, Revocation::Checked);
    assert_eq!(v.path.len(), 3);
    assert_eq!(v.path[2].der(), ROOT);
}

#[test]
fn encryption_certificate_on_p384_chain() {
    let f = fixture();
    let carol = Inputs {
        usage: Usage::Encrypt,
        email: Some("carol@example.test"),
        ..inputs(&f)
    };
    let v = validate(CAROL, &carol);
    assert_eq!(v.status, Status::Valid, "{}", v.detail);
    assert_eq!(v.revocation, Revocation::Checked);
    // keyEncipherment only: not for signing.
    let v = validate(
        CAROL,
        &Inputs {
            usage: Usage::Sign,
            ..carol
        },
    );
    assert_eq!(reason(&v), Reason::WrongUsage);
}

#[test]
fn expired() {
    let f = fixture();
    let v = validate(
        ALICE,
        &Inputs {
            time: NOW + 2 * 365 * 86_400,
            ..inputs(&f)
        },
    );
    assert_eq!(reason(&v), Reason::Expired);
    assert_eq!(reason(&v).to_string(), "The certificate has expired.");
}

#[test]
fn not_yet_valid() {
    let f = fixture();
    let v = validate(
        ALICE,
        &Inputs {
            time: NOW - 2 * 365 * 86_400,
            ..inputs(&f)
        },
    );
    assert_eq!(reason(&v), Reason::NotYetValid);
}

#[test]
fn untrusted_issuer() {
    let f = fixture();
    // Nothing trusted: the chain ends at a root this server does not know.
    let v = validate(
        ALICE,
        &Inputs {
            trust_anchors: &[],
            ..inputs(&f)
        },
    );
    assert_eq!(reason(&v), Reason::UntrustedIssuer);
    assert_eq!(
        reason(&v).to_string(),
        "The digital ID was issued by an untrusted source."
    );
}

#[test]
fn revoked() {
    let f = fixture();
    let v = validate(
        BOB,
        &Inputs {
            email: Some("bob@example.test"),
            ..inputs(&f)
        },
    );
    assert_eq!(reason(&v), Reason::Revoked);
    assert_eq!(reason(&v).to_string(), "The certificate has been revoked.");
    assert_eq!(v.revocation, Revocation::Checked);
}

#[test]
fn revocation_unknown_names_the_missing_distribution_point() {
    let f = fixture();
    let only_root_crl = &f.crls[..1];
    let v = validate(
        ALICE,
        &Inputs {
            crls: only_root_crl,
            ..inputs(&f)
        },
    );
    assert_eq!(reason(&v), Reason::RevocationUnknown);
    assert!(v.valid_but_revocation_unknown());
    assert_eq!(
        reason(&v).to_string(),
        "The revocation status could not be checked."
    );
    assert_eq!(
        v.revocation,
        Revocation::Unknown {
            missing: vec![crl::MissingCrl {
                issuer: "O=Sealmail Tests, CN=Test Intermediate".into(),
                urls: vec!["http://crl.example.test/inter.crl".into()],
            }]
        }
    );
}

#[test]
fn revocation_checking_can_be_disabled() {
    let f = fixture();
    let v = validate(
        BOB,
        &Inputs {
            email: None,
            crls: &[],
            check_revocation: false,
            ..inputs(&f)
        },
    );
    assert_eq!(v.status, Status::Valid, "{}", v.detail);
    assert_eq!(v.revocation, Revocation::Disabled);
}

#[test]
fn wrong_usage() {
    let f = fixture();
    // A signature-only key offered for encryption.
    let v = validate(
        ALICE,
        &Inputs {
            usage: Usage::Encrypt,
            ..inputs(&f)
        },
    );
    assert_eq!(reason(&v), Reason::WrongUsage);
}

#[test]
fn email_mismatch() {
    let f = fixture();
    let v = validate(
        ALICE,
        &Inputs {
            email: Some("mallory@example.test"),
            ..inputs(&f)
        },
    );
    assert_eq!(reason(&v), Reason::EmailMismatch);
    // Addresses compare without regard to case.
    let v = validate(
        ALICE,
        &Inputs {
            email: Some("Alice@Example.TEST"),
            ..inputs(&f)
        },
    );
    assert_eq!(v.status, Status::Valid, "{}", v.detail);
}

#[test]
fn distrusted_intermediate() {
    let f = fixture();
    let untrusted = [f.intermediates[0].fingerprint()];
    let v = validate(
        ALICE,
        &Inputs {
            untrusted: &untrusted,
            ..inputs(&f)
        },
    );
    assert_eq!(reason(&v), Reason::Distrusted);
}

#[test]
fn tampered_certificate_has_a_bad_signature() {
    let f = fixture();
    let mut der = ALICE.to_vec();
    // Flip a bit inside the subject public key (well inside the TBS, past the names).
    let at = der.len() / 2;
    der[at] ^= 0x01;
    let v = validate(&der, &inputs(&f));
    assert!(
        matches!(reason(&v), Reason::BadSignature | Reason::Malformed),
        "{v:?}"
    );
}

#[test]
fn garbage_is_malformed() {
    let f = fixture();
    assert_eq!(
        reason(&validate(b"not a certificate", &inputs(&f))),
        Reason::Malformed
    );
}

#[test]
fn truncated_inputs_are_errors_not_panics() {
    for input in [ROOT, INTER, INTER384, ALICE, CAROL] {
        for len in 0..input.len() {
            assert!(Certificate::from_der(&input[..len]).is_err());
        }
    }
    for input in [ROOT_CRL, INTER_CRL, INTER384_CRL] {
        for len in 0..input.len() {
            assert!(Crl::from_der(&input[..len]).is_err());
        }
    }
}

#[test]
fn crl_lookup_is_by_serial() {
    let list = Crl::from_der(INTER_CRL).unwrap();
    assert_eq!(list.len(), 1);
    let bob = cert::Cert::parse(BOB).unwrap();
    let alice = cert::Cert::parse(ALICE).unwrap();
    assert_eq!(list.lookup(&bob), Some(Some(1)));
    assert_eq!(list.lookup(&alice), None);
}

#[test]
fn every_single_byte_corruption_is_handled() {
    // Not a proof, but cheap: every byte of a leaf and of a CRL flipped in turn must yield a
    // verdict (almost always a rejection), never a panic, and never a valid revoked leaf.
    let f = fixture();
    for at in 0..ALICE.len() {
        let mut der = ALICE.to_vec();
        der[at] ^= 0xff;
        let _ = validate(&der, &inputs(&f));
    }
    for at in 0..INTER_CRL.len() {
        let mut der = INTER_CRL.to_vec();
        der[at] ^= 0xff;
        let Ok(list) = Crl::from_der(&der) else {
            continue;
        };
        let crls = vec![f.crls[0].clone(), list];
        let v = validate(
            BOB,
            &Inputs {
                crls: &crls,
                email: Some("bob@example.test"),
                ..inputs(&f)
            },
        );
        assert_ne!(
            v.status,
            Status::Valid,
            "corrupted CRL at {at} unrevoked bob"
        );
    }
}
