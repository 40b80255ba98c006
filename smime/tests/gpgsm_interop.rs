//! Interop with gpgsm (GnuPG 2.2): it imports the `.p12` we write, then AES-CBC + RSA PKCS#1
//! v1.5 encryption both ways, and signatures both ways. gpgsm reads neither AES-GCM nor OAEP; those are covered against openssl.
//!
//! gpgsm runs fully non-interactive on a private GNUPGHOME; results are read from its status
//! lines, not its exit code. Its gpg-agent is stopped by pid when the test ends.

// They spawn openssl/gpgsm and use OS randomness: native only.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{ENTITY, MESSAGE, Pki, rng, run};
use smime::algorithms::{ContentEncryption, KeyTransport};
use smime::decrypt::Envelope;
use smime::envelope::{self, EncryptOptions, RecipientIdKind};
use smime::keys::Decryptor;
use smime::pkcs12;
use smime::sign::{self, SignOptions, SignedFormat};
use smime::verify;

const PASSPHRASE: &str = "test-only-passphrase";

fn pki() -> &'static Pki {
    common::pki("gpgsm")
}

/// A private GnuPG home with the test root trusted and Alice's key imported from a `.p12` of ours.
struct Gpgsm {
    home: tempfile::TempDir,
}

impl Gpgsm {
    fn new() -> Self {
        // A short path under /tmp: the agent's socket path has a length limit.
        let home = tempfile::Builder::new().prefix("gpgsm").tempdir().unwrap();
        let gpgsm = Self { home };
        let pki = pki();
        // Alice's digital ID as Sealmail exports it: the scheme GnuPG 2.2 reads (it refuses
        // OpenSSL 3's PBKDF2-HMAC-SHA-256 / AES-256), with the chain.
        let p12 = gpgsm.path("alice.p12");
        let options = pkcs12::WriteOptions {
            iterations: pkcs12::write::MIN_ITERATIONS,
            friendly_name: pki.rsa.email.to_string(),
            scheme: pkcs12::Scheme::Aes128Sha1,
        };
        let file = pkcs12::write(
            &pki.rsa.key,
            &pki.rsa.cert,
            std::slice::from_ref(&pki.intermediate),
            PASSPHRASE,
            &options,
            &mut rng(),
        )
        .unwrap();
        std::fs::write(&p12, file).unwrap();
        gpgsm.run(&[
            "--import",
            pki.root_path.to_str().unwrap(),
            pki.intermediate_path.to_str().unwrap(),
        ]);
        // A failed import would only show later as a puzzling DECRYPTION_FAILED: say it here.
        let imported = gpgsm.run_with_passphrase(&["--import", p12.to_str().unwrap()]);
        assert!(
            imported.contains("[GNUPG:] IMPORT_OK") && !imported.contains("IMPORT_PROBLEM"),
            "gpgsm did not import alice's key: {imported}"
        );
        let fingerprint = run(
            &pki.dir,
            "openssl",
            &["x509", "-in", "root.pem", "-noout", "-fingerprint", "-sha1"],
        );
        let fingerprint = String::from_utf8(fingerprint).unwrap();
        let fingerprint = fingerprint.trim().split('=').nth(1).unwrap().to_string();
        std::fs::write(
            gpgsm.path("trustlist.txt"),
            format!("{fingerprint} S relax\n"),
        )
        .unwrap();
        gpgsm
    }

    fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("gpgsm");
        command
            .env("GNUPGHOME", self.home.path())
            // No dirmngr (no network here, and one daemon less to stop); the test PKI has no CRLs.
            .args([
                "--batch",
                "--disable-dirmngr",
                "--disable-crl-checks",
                "--status-fd",
                "1",
            ])
            .args(args)
            .current_dir(self.home.path())
            .stderr(Stdio::piped())
            .stdout(Stdio::piped());
        command
    }

    /// Run gpgsm; return its status lines.
    fn run(&self, args: &[&str]) -> String {
        let out = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .expect("cannot start gpgsm (is it installed?)");
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    fn run_with_passphrase(&self, args: &[&str]) -> String {
        use std::io::Write;
        let mut full = vec!["--pinentry-mode", "loopback", "--passphrase-fd", "0"];
        full.extend_from_slice(args);
        let mut child = self
            .command(&full)
            .stdin(Stdio::piped())
            .spawn()
            .expect("cannot start gpgsm (is it installed?)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{PASSPHRASE}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }
}

impl Drop for Gpgsm {
    /// Stop the gpg-agent this home started, by its pid.
    fn drop(&mut self) {
        let Ok(out) = Command::new("gpg-connect-agent")
            .env("GNUPGHOME", self.home.path())
            .args(["--no-autostart", "getinfo pid", "/bye"])
            .output()
        else {
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let pid = text
            .lines()
            .find_map(|l| l.strip_prefix("D "))
            .map(str::trim)
            .map(str::to_string);
        if let Some(pid) = pid {
            let _ = Command::new("kill").arg(&pid).status();
        }
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn gpgsm_and_we_exchange_encrypted_and_signed_mail() {
    let gpgsm = Gpgsm::new();
    let dir = gpgsm.home.path().to_path_buf();
    let alice_keys: [(&smime::Certificate, &dyn Decryptor); 1] =
        [(&pki().rsa.cert, &pki().rsa.key)];

    // We encrypt (AES-CBC, PKCS#1 v1.5, issuer+serial) → gpgsm decrypts. gpgsm 2.2 cannot match
    // a subjectKeyIdentifier recipient ("error getting info: General error"), so UseKeyIdentifier
    // mail is unreadable for gpgsm users; openssl reads it (see openssl_encrypt_decrypt).
    for algorithm in [ContentEncryption::Aes128Cbc, ContentEncryption::Aes256Cbc] {
        let options = EncryptOptions {
            algorithm,
            key_transport: KeyTransport::RsaPkcs1v15,
            recipient_id: RecipientIdKind::IssuerAndSerial,
            protect_headers: false,
        };
        let cms =
            envelope::envelope(ENTITY, &[pki().rsa.cert.clone()], &options, &mut rng()).unwrap();
        let input = write(&dir, "ours.p7m", &cms);
        let _ = std::fs::remove_file(dir.join("ours.out"));
        let status = gpgsm.run_with_passphrase(&["--decrypt", "-o", "ours.out", &input]);
        assert!(
            status.contains("[GNUPG:] DECRYPTION_OKAY"),
            "{options:?}: {status}"
        );
        assert_eq!(std::fs::read(dir.join("ours.out")).unwrap(), ENTITY);
    }

    // gpgsm encrypts (its default AES-128-CBC, PKCS#1 v1.5) → we decrypt.
    let input = write(&dir, "entity.txt", ENTITY);
    let status = gpgsm.run(&[
        "--encrypt",
        "-r",
        "alice@example.test",
        "-o",
        "theirs.p7m",
        &input,
    ]);
    assert!(status.contains("encrypted data created"), "{status}");
    let theirs = std::fs::read(dir.join("theirs.p7m")).unwrap();
    let decrypted = Envelope::from_cms(&theirs)
        .unwrap()
        .decrypt(&alice_keys, &mut rng())
        .unwrap();
    assert_eq!(decrypted.content, ENTITY);

    // gpgsm signs, detached and opaque → we verify.
    let status = gpgsm.run_with_passphrase(&[
        "-u",
        "alice@example.test",
        "--detach-sign",
        "-o",
        "detached.p7s",
        &input,
    ]);
    assert!(status.contains("[GNUPG:] SIG_CREATED"), "{status}");
    let detached = std::fs::read(dir.join("detached.p7s")).unwrap();
    let result = verify::verify_signed_data(&detached, Some(ENTITY)).unwrap();
    assert!(result.all_valid(), "{result:?}");
    assert_eq!(
        result.signers[0].certificate.as_ref(),
        Some(&pki().rsa.cert)
    );
    let status = gpgsm.run_with_passphrase(&[
        "-u",
        "alice@example.test",
        "--sign",
        "-o",
        "opaque.p7m",
        &input,
    ]);
    assert!(status.contains("[GNUPG:] SIG_CREATED"), "{status}");
    let opaque = std::fs::read(dir.join("opaque.p7m")).unwrap();
    let result = verify::verify_signed_data(&opaque, None).unwrap();
    assert!(result.all_valid(), "{result:?}");
    assert_eq!(result.content, ENTITY);

    // We sign (clear) → gpgsm verifies the detached signature over the signed entity.
    let options = SignOptions {
        extra_certificates: vec![pki().intermediate.clone()],
        ..SignOptions::default()
    };
    let prepared = sign::prepare(MESSAGE, &pki().rsa.cert, &options).unwrap();
    let entity = prepared.signed_entity().to_vec();
    let signed = sign::sign(
        MESSAGE,
        &pki().rsa.cert,
        &pki().rsa.key,
        &options,
        &mut rng(),
    )
    .unwrap();
    let signature = match smime::mime::parse_smime(&signed).unwrap() {
        smime::mime::SmimeContent::ClearSigned {
            signature,
            signed_content,
        } => {
            assert_eq!(signed_content, entity);
            signature
        }
        other => panic!("{other:?}"),
    };
    let sig = write(&dir, "ours.p7s", &signature);
    let content = write(&dir, "ours.txt", &entity);
    let status = gpgsm.run(&["--verify", &sig, &content]);
    assert!(status.contains("[GNUPG:] GOODSIG"), "{status}");
    assert!(status.contains("[GNUPG:] TRUST_FULLY"), "{status}");

    // And an opaque signature of ours.
    let options = SignOptions {
        format: SignedFormat::Opaque,
        ..options
    };
    let signed = sign::sign(
        MESSAGE,
        &pki().rsa.cert,
        &pki().rsa.key,
        &options,
        &mut rng(),
    )
    .unwrap();
    let smime::mime::SmimeContent::Opaque { cms } = smime::mime::parse_smime(&signed).unwrap()
    else {
        panic!("not opaque");
    };
    let input = write(&dir, "ours-opaque.p7m", &cms);
    let status = gpgsm.run(&["--verify", "-o", "ours-opaque.out", &input]);
    assert!(status.contains("[GNUPG:] GOODSIG"), "{status}");
    assert_eq!(std::fs::read(dir.join("ours-opaque.out")).unwrap(), entity);
}
