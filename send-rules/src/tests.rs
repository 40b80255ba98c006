//! Planning with real certificates: the fixtures of the `pki` crate's own tests (see
//! `pki/src/testdata/make.py`): root → inter384 → carol (RSA, encryption only,
//! carol@example.test, valid 2024–2026).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::bcc::BccMode;
use crate::continuity::Remembered;
use crate::plan::{Offer, Own, PlanError, Request, plan};

const ROOT: &[u8] = include_bytes!("../../pki/src/testdata/root.der");
const INTER384: &[u8] = include_bytes!("../../pki/src/testdata/inter384.der");
const INTER: &[u8] = include_bytes!("../../pki/src/testdata/inter.der");
const CAROL: &[u8] = include_bytes!("../../pki/src/testdata/carol.der");
const ALICE: &[u8] = include_bytes!("../../pki/src/testdata/alice.der");
/// 2025-06-01.
const DURING: i64 = 1_748_736_000;

fn offer(address: &str, cert: Option<&[u8]>) -> Offer {
    Offer {
        address: address.into(),
        certificate: cert.map(|c| B64.encode(c)),
        chain: vec![B64.encode(INTER384), B64.encode(ROOT)],
        reason: "No certificate was found.".into(),
        via: None,
        capabilities: None,
    }
}

/// The user is alice (root → inter → alice); `chain` is what her digital ID came with.
fn request(offers: Vec<Offer>, chain: &[&[u8]]) -> Request {
    Request {
        bcc: String::new(),
        offers,
        own: vec![Own {
            certificate: B64.encode(ALICE),
            chain: chain.iter().map(|a| B64.encode(a)).collect(),
        }],
        remembered: Vec::new(),
        accepted: Vec::new(),
        encryption_algorithms: vec!["aes256-gcm".into(), "aes256-cbc".into()],
        bcc_mode: BccMode::Separate,
        time: DURING,
    }
}

#[test]
fn a_certificate_chained_to_the_browsers_anchor_is_used() {
    let got = plan(&request(
        vec![offer("carol@example.test", Some(CAROL))],
        &[INTER, ROOT],
    ))
    .unwrap();
    assert!(got.doubts.is_empty(), "{:?}", got.doubts);
    assert_eq!(got.messages.len(), 1);
    assert_eq!(got.messages[0].certificates, [B64.encode(CAROL)]);
    assert_eq!(
        got.messages[0].algorithm, "aes256-cbc",
        "carol never announced GCM"
    );
    assert_eq!(got.used[0].address, "carol@example.test");
}

#[test]
fn the_servers_word_does_not_make_an_issuer_trusted() {
    // Alice's digital ID came without its root, so the browser holds only her own intermediate:
    // the root the server's chain ends at is no help.
    let got = plan(&request(
        vec![offer("carol@example.test", Some(CAROL))],
        &[INTER],
    ))
    .unwrap();
    assert_eq!(got.doubts.len(), 1);
    assert!(got.doubts[0].reasons[0].contains("does not trust"));
    assert!(got.messages[0].certificates.is_empty());
    assert!(got.used.is_empty());
}

#[test]
fn the_user_may_accept_a_doubted_certificate() {
    let first = plan(&request(
        vec![offer("carol@example.test", Some(CAROL))],
        &[],
    ))
    .unwrap();
    let mut again = request(vec![offer("carol@example.test", Some(CAROL))], &[]);
    again.accepted = vec![first.doubts[0].fingerprint.clone()];
    let got = plan(&again).unwrap();
    assert!(got.doubts.is_empty());
    assert_eq!(got.messages[0].certificates.len(), 1);
}

#[test]
fn a_certificate_for_someone_else_or_out_of_date_is_doubted() {
    let got = plan(&request(
        vec![offer("mallory@example.test", Some(CAROL))],
        &[INTER, ROOT],
    ))
    .unwrap();
    assert_eq!(got.doubts.len(), 1);
    let mut late = request(
        vec![offer("carol@example.test", Some(CAROL))],
        &[INTER, ROOT],
    );
    late.time = DURING + 365 * 86_400;
    assert_eq!(
        plan(&late).unwrap().doubts[0].reasons,
        ["The certificate has expired."]
    );
}

#[test]
fn a_new_key_from_another_issuer_is_doubted() {
    let mut changed = request(
        vec![offer("carol@example.test", Some(CAROL))],
        &[INTER, ROOT],
    );
    changed.remembered = vec![Remembered {
        address: "carol@example.test".into(),
        fingerprint: "00".into(),
        issuer: "CN=Somebody Else".into(),
    }];
    let got = plan(&changed).unwrap();
    assert_eq!(got.doubts.len(), 1);
    assert!(
        got.doubts[0].reasons[0].contains("has changed since you last wrote"),
        "{:?}",
        got.doubts[0].reasons
    );
}

#[test]
fn no_certificate_and_unreadable_ciphers_are_missing() {
    let mut old = offer("carol@example.test", Some(CAROL));
    old.capabilities = Some(vec!["des-ede3-cbc".into()]);
    let got = plan(&request(
        vec![offer("dave@example.test", None), old],
        &[INTER, ROOT],
    ))
    .unwrap();
    let missing: Vec<&str> = got.missing.iter().map(|m| m.address.as_str()).collect();
    assert_eq!(missing, ["dave@example.test", "carol@example.test"]);
}

#[test]
fn a_bcc_recipient_gets_a_message_of_their_own() {
    let mut req = request(
        vec![offer("carol@example.test", Some(CAROL))],
        &[INTER, ROOT],
    );
    req.bcc = "Carol <carol@example.test>".into();
    let got = plan(&req).unwrap();
    assert_eq!(got.messages.len(), 2);
    assert!(got.messages[0].certificates.is_empty());
    assert_eq!(
        got.messages[1].to.as_deref(),
        Some(&["carol@example.test".to_string()][..])
    );
    assert_eq!(got.messages[1].certificates.len(), 1);
}

#[test]
fn recipients_with_nothing_in_common_stop_the_send() {
    let mut req = request(
        vec![offer("carol@example.test", Some(CAROL))],
        &[INTER, ROOT],
    );
    req.offers[0].capabilities = Some(vec!["aes256-gcm".into()]);
    req.offers.push(offer("carol@example.test", Some(CAROL)));
    req.offers[1].capabilities = Some(vec!["aes256-cbc".into()]);
    assert_eq!(plan(&req), Err(PlanError::NoCommonAlgorithm));
}

#[test]
fn recipients_are_read_once() {
    let got = crate::recipients("\"Doe, John\" <j@x.test>", "J@x.test; k@x.test", "").unwrap();
    assert_eq!(got.to.len(), 1);
    assert_eq!(got.all, ["j@x.test", "k@x.test"]);
}

#[test]
fn a_chain_that_does_not_issue_the_users_own_certificate_adds_no_anchor() {
    // A server answering for a card's chain with another hierarchy's certificates.
    let got = plan(&request(
        vec![offer("carol@example.test", Some(CAROL))],
        &[INTER384, ROOT],
    ))
    .unwrap();
    assert_eq!(got.doubts.len(), 1);
}

#[test]
fn own_digital_ids_fit_what_their_usages_address_and_dates_allow() {
    use crate::own::{Purpose, fitting};
    let ids = [ALICE, CAROL, INTER, b"not a certificate"];
    // alice signs only; carol only receives; a CA certificate and junk fit nothing.
    assert_eq!(fitting(&ids, Purpose::Sign, None, DURING), [0]);
    assert_eq!(fitting(&ids, Purpose::Encrypt, None, DURING), [1]);
    assert_eq!(
        fitting(&ids, Purpose::Sign, Some("ALICE@example.test"), DURING),
        [0]
    );
    assert!(fitting(&ids, Purpose::Sign, Some("bob@example.test"), DURING).is_empty());
    // 2030: every one has run out.
    assert!(fitting(&ids, Purpose::Encrypt, None, 1_893_456_000).is_empty());
}
