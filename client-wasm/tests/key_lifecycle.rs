//! A key's life in the browser, judged by openssl: a new key's request is issued by an openssl
//! CA and the certificate finds its waiting key; an encryption key's recovery copy opens with
//! the recovery agent's key (`openssl cms -decrypt`) into a `.p12` openssl reads.

mod common;

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::{leaf, openssl, self_signed_ca};
use sealmail_client::archive::{self, ArchiveAsk, ArchiveError};
use sealmail_client::enroll::{self, EnrollError, InstallAsk, RequestAsk, Waiting};
use sealmail_client::js::SecretBytes;
use serde_bytes::ByteBuf;

const CONFIG: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
[encrypt]
basicConstraints = CA:FALSE
keyUsage = critical, keyEncipherment
extendedKeyUsage = emailProtection
[sign]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = emailProtection
subjectAltName = email:dana@example.test
";

/// A CA (`ca.pem`, `ca.key`), an `other-ca.pem` nobody here trusts, and `name.key`/`name.pem`
/// for each leaf issued by `issuer` with `section`'s extensions.
fn pki(leaves: &[(&str, &str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("openssl.cnf"), CONFIG).unwrap();
    for ca in ["ca", "other-ca"] {
        self_signed_ca(d, ca);
    }
    for (name, issuer, section) in leaves {
        leaf(d, name, issuer, section, &format!("/CN={name}"));
    }
    dir
}

fn der_of(d: &Path, pem: &str) -> Vec<u8> {
    openssl(d, &["x509", "-in", pem, "-outform", "DER"], None)
}

fn pkcs8_of(d: &Path, key: &str) -> Vec<u8> {
    openssl(
        d,
        &["pkcs8", "-topk8", "-nocrypt", "-in", key, "-outform", "DER"],
        None,
    )
}

#[test]
fn a_new_keys_request_is_issued_by_openssl_and_the_certificate_finds_its_key() {
    let dir = pki(&[]);
    let d = dir.path();
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "new.key",
        ],
        None,
    );
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "stranger.key",
        ],
        None,
    );
    let made = enroll::make_request(&RequestAsk {
        pkcs8: SecretBytes(ByteBuf::from(pkcs8_of(d, "new.key"))),
        name: "Dana Example".into(),
        email: "dana@example.test".into(),
        purpose: "both".into(),
    })
    .unwrap();
    assert_eq!(made.key_type, "P-256");
    std::fs::write(d.join("new.csr"), &made.pem).unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "new.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-copy_extensions",
            "copy",
            "-out",
            "new.pem",
        ],
        None,
    );
    // What a CA sends back: the certificate followed by its issuer, in one PEM file.
    let answer = [
        std::fs::read(d.join("new.pem")).unwrap(),
        std::fs::read(d.join("ca.pem")).unwrap(),
    ]
    .concat();
    let waiting = |public_key: &[u8]| Waiting {
        id: "new".into(),
        public_key: ByteBuf::from(public_key.to_vec()),
    };

    let issued = enroll::match_issued(&InstallAsk {
        file: ByteBuf::from(answer.clone()),
        waiting: vec![waiting(&made.public_key)],
    })
    .unwrap();
    assert_eq!(issued.id, "new");
    assert_eq!(issued.info.emails, ["dana@example.test"]);
    assert_eq!(issued.info.key_usage, ["digitalSignature", "keyAgreement"]);
    assert_eq!(
        issued.chain.len(),
        1,
        "the CA certificate goes into the chain"
    );

    // A certificate for another key is not installed on this one.
    let stranger = openssl(
        d,
        &["pkey", "-in", "stranger.key", "-pubout", "-outform", "DER"],
        None,
    );
    assert_eq!(
        enroll::match_issued(&InstallAsk {
            file: ByteBuf::from(answer),
            waiting: vec![waiting(&stranger)]
        })
        .unwrap_err(),
        EnrollError::NoWaitingKey {
            subject: "CN=Dana Example".into()
        }
    );
    // Neither is a file with no certificate in it, or only a CA's.
    for (file, error) in [
        (b"not a certificate".to_vec(), EnrollError::Unreadable),
        (
            std::fs::read(d.join("ca.pem")).unwrap(),
            EnrollError::NoCertificate,
        ),
    ] {
        assert_eq!(
            enroll::match_issued(&InstallAsk {
                file: ByteBuf::from(file),
                waiting: vec![waiting(&made.public_key)]
            })
            .unwrap_err(),
            error
        );
    }
}

fn own(d: &Path, cert: &str) -> send_rules::plan::Own {
    send_rules::plan::Own {
        certificate: B64.encode(der_of(d, cert)),
        chain: vec![B64.encode(der_of(d, "ca.pem"))],
    }
}

fn ask(d: &Path, user: &str, agents: &[&str]) -> ArchiveAsk {
    ArchiveAsk {
        pkcs8: SecretBytes(ByteBuf::from(pkcs8_of(d, &format!("{user}.key")))),
        certificate: ByteBuf::from(der_of(d, &format!("{user}.pem"))),
        chain: vec![ByteBuf::from(der_of(d, "ca.pem"))],
        agents: agents.iter().map(|a| B64.encode(der_of(d, a))).collect(),
        own: vec![own(d, &format!("{user}.pem"))],
        time: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    }
}

#[test]
fn the_recovery_agent_opens_the_copy_with_openssl_and_gets_the_key() {
    let dir = pki(&[("user", "ca", "encrypt"), ("agent", "ca", "encrypt")]);
    let d = dir.path();
    let archived = archive::archive(&ask(d, "user", &["agent.pem"])).unwrap();
    assert_eq!(archived.agents.len(), 1);
    assert_eq!(archived.agents[0].subject, "CN=agent");
    std::fs::write(d.join("archive.der"), &archived.archive).unwrap();
    openssl(
        d,
        &[
            "cms",
            "-decrypt",
            "-inform",
            "DER",
            "-in",
            "archive.der",
            "-recip",
            "agent.pem",
            "-inkey",
            "agent.key",
            "-out",
            "recovered.p12",
        ],
        None,
    );
    let recovered = openssl(
        d,
        &[
            "pkcs12",
            "-in",
            "recovered.p12",
            "-passin",
            "pass:",
            "-nodes",
            "-nocerts",
        ],
        None,
    );
    let recovered_key = openssl(d, &["pkey", "-pubout"], Some(&recovered));
    let user_key = openssl(d, &["x509", "-in", "user.pem", "-pubkey", "-noout"], None);
    assert_eq!(recovered_key, user_key);
    // The archive holds nothing of the key in clear.
    let pkcs8 = pkcs8_of(d, "user.key");
    assert!(
        !archived
            .archive
            .windows(32)
            .any(|w| pkcs8.windows(32).any(|k| k == w))
    );
}

#[test]
fn no_copy_for_a_signing_key_an_untrusted_agent_or_no_agent() {
    let dir = pki(&[
        ("user", "ca", "encrypt"),
        ("signer", "ca", "sign"),
        ("agent", "ca", "encrypt"),
        ("rogue", "other-ca", "encrypt"),
        ("signing-agent", "ca", "sign"),
    ]);
    let d = dir.path();
    assert_eq!(
        archive::archive(&ask(d, "signer", &["agent.pem"])).unwrap_err(),
        ArchiveError::SigningKey
    );
    assert!(!archive::needs_archival(&der_of(d, "signer.pem")));
    assert!(archive::needs_archival(&der_of(d, "user.pem")));
    let rogue = archive::archive(&ask(d, "user", &["agent.pem", "rogue.pem"])).unwrap_err();
    let text = rogue.to_string();
    assert!(
        text.starts_with("The key recovery agent CN=rogue (SHA-256 fingerprint "),
        "{text}"
    );
    assert!(
        text.ends_with("none of your own digital IDs comes from it."),
        "{text}"
    );
    let signing_agent = archive::archive(&ask(d, "user", &["signing-agent.pem"])).unwrap_err();
    assert!(
        matches!(signing_agent, ArchiveError::Agents(_)),
        "{signing_agent}"
    );
    assert_eq!(
        archive::archive(&ask(d, "user", &[]))
            .unwrap_err()
            .to_string(),
        "Your organization requires a copy of your encryption key for its key recovery agents, but it names none."
    );
}
