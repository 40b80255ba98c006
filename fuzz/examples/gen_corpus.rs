//! Writes the engine's half of the seed corpora (see `gen-corpus`): small real messages signed,
//! encrypted and wrapped with the fixed test keys, plus their raw CMS objects.
//! Usage: `cargo run --example gen_corpus -- <corpus dir>`.

use sealmail_smime_fuzz::{keys, rng};
use smime::algorithms::{ContentEncryption, DigestAlgorithm, KeyTransport};
use smime::envelope::{EncryptOptions, RecipientIdKind};
use smime::mime::{self, SmimeContent};
use smime::sign::{SignOptions, SignedFormat, SignerIdKind};
use smime::wrap;
use std::path::Path;
use std::time::Duration;

const PLAIN: &[u8] = b"From: Fuzz <fuzz@example.test>\r\nTo: fuzz@example.test\r\nSubject: seed\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nHello,\r\nthis is a seed.\r\n";
const MIXED: &[u8] = b"From: Fuzz <fuzz@example.test>\r\nTo: fuzz@example.test\r\nSubject: attachment\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n--b1\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\r\n--b1--\r\nepilogue\r\n";

fn main() {
    let dir = std::env::args().nth(1).expect("corpus dir");
    let dir = Path::new(&dir);
    let k = keys();
    let mut rng = rng();
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let d = dir.join(target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(format!("engine-{name}")), bytes).unwrap();
    };
    let cms_of = |message: &[u8]| match mime::parse_smime(message).unwrap() {
        SmimeContent::Opaque { cms } => cms,
        SmimeContent::ClearSigned { signature, .. } => signature,
        SmimeContent::NotSmime => panic!("not S/MIME"),
    };

    write("mime", "plain", PLAIN);
    write("mime", "mixed", MIXED);

    let signs = [
        (
            "clear-rsa",
            SignedFormat::Clear,
            &k.rsa_cert,
            &k.rsa_key,
            SignerIdKind::IssuerAndSerial,
        ),
        (
            "opaque-p256",
            SignedFormat::Opaque,
            &k.p256_cert,
            &k.p256_key,
            SignerIdKind::SubjectKeyIdentifier,
        ),
    ];
    for (name, format, cert, key, signer_id) in signs {
        for (input, suffix) in [(PLAIN, "plain"), (MIXED, "mixed")] {
            let options = SignOptions {
                format,
                digest: Some(DigestAlgorithm::Sha256),
                signer_id,
                signing_time: Some(Duration::from_secs(1_790_000_000)),
                capabilities: vec![ContentEncryption::Aes256Gcm, ContentEncryption::Aes256Cbc],
                protect_headers: suffix == "mixed",
                ..SignOptions::default()
            };
            let signed = smime::sign(input, cert, key, &options, &mut rng).unwrap();
            let name = format!("signed-{name}-{suffix}");
            write("mime", &name, &signed);
            write("verify", &name, &signed);
            write("ber_cms", &name, &cms_of(&signed));
        }
    }

    let encs = [
        (
            "aes256cbc-v15",
            ContentEncryption::Aes256Cbc,
            KeyTransport::RsaPkcs1v15,
            RecipientIdKind::IssuerAndSerial,
        ),
        (
            "aes256gcm-oaep",
            ContentEncryption::Aes256Gcm,
            KeyTransport::RsaOaep(DigestAlgorithm::Sha256),
            RecipientIdKind::SubjectKeyIdentifier,
        ),
        (
            "aes128gcm-v15",
            ContentEncryption::Aes128Gcm,
            KeyTransport::RsaPkcs1v15,
            RecipientIdKind::IssuerAndSerial,
        ),
    ];
    for (name, algorithm, key_transport, recipient_id) in encs {
        let options = EncryptOptions {
            algorithm,
            key_transport,
            recipient_id,
            protect_headers: name.contains("gcm"),
        };
        let recipients = [k.rsa_cert.clone(), k.p256_cert.clone()];
        let encrypted = smime::encrypt(PLAIN, &recipients, &options, &mut rng).unwrap();
        let name = format!("encrypted-{name}");
        write("mime", &name, &encrypted);
        write("decrypt", &name, &encrypted);
        write("decrypt", &format!("{name}.der"), &cms_of(&encrypted));
        write("ber_cms", &name, &cms_of(&encrypted));
    }
    let p256_only = smime::encrypt(
        MIXED,
        &[k.p256_cert.clone()],
        &EncryptOptions::default(),
        &mut rng,
    )
    .unwrap();
    write("decrypt", "encrypted-ecdh-p256", &p256_only);
    write("decrypt", "encrypted-ecdh-p256.der", &cms_of(&p256_only));
    write("ber_cms", "encrypted-ecdh-p256", &cms_of(&p256_only));

    let sign_options = SignOptions::default();
    let enc_options = EncryptOptions::default();
    let recipients = [k.rsa_cert.clone()];
    let wrapped = wrap::triple_wrap(
        PLAIN,
        &k.rsa_cert,
        &k.rsa_key,
        &sign_options,
        &recipients,
        &enc_options,
        &mut rng,
    )
    .unwrap();
    write("decrypt", "triple-wrapped", &wrapped);
    write("verify", "triple-wrapped-outer", &wrapped);
    let signed_encrypted = wrap::sign_and_encrypt(
        MIXED,
        &k.p256_cert,
        &k.p256_key,
        &sign_options,
        &recipients,
        &enc_options,
        &mut rng,
    )
    .unwrap();
    write("decrypt", "sign-and-encrypt", &signed_encrypted);
}
