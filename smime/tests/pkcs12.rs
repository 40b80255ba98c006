//! PKCS#12 import against files made by `openssl pkcs12 -export`: OpenSSL 3's default (PBES2,
//! PBKDF2-HMAC-SHA-256, AES-256-CBC, SHA-256 MAC) and `-legacy` (SHA-1 3DES key, 40-bit RC2
//! certificates, SHA-1 MAC), RSA and P-256 keys with their chain; then wrong passwords and
//! damaged files.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::{Path, PathBuf};

use common::{Identity, Pki, rng, run, scratch};
use smime::pkcs12::{self, Pkcs12Error};
use smime::sign::SignOptions;

fn pki() -> &'static Pki {
    common::pki("pkcs12")
}

/// Export `identity` with the intermediate as chain; `extra` are further openssl arguments.
fn export(dir: &Path, identity: &Identity, name: &str, password: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let pass = format!("pass:{password}");
    let mut args = vec![
        "pkcs12",
        "-export",
        "-inkey",
        identity.key_path.to_str().unwrap(),
        "-in",
        identity.cert_path.to_str().unwrap(),
        "-certfile",
        pki().intermediate_path.to_str().unwrap(),
        "-passout",
        &pass,
        "-out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(dir, "openssl", &args);
    out
}

/// The key read from the file signs, and the signature verifies under the exported certificate.
fn assert_usable(p12: &pkcs12::Pkcs12, identity: &Identity) {
    assert_eq!(p12.certificate, identity.cert);
    assert_eq!(p12.chain, vec![pki().intermediate.clone()]);
    let signed = smime::sign(
        common::MESSAGE,
        &p12.certificate,
        &p12.key,
        &SignOptions::default(),
        &mut rng(),
    )
    .unwrap();
    assert!(smime::verify(&signed).unwrap().all_valid());
}

#[test]
fn openssl3_default_rsa_and_p256() {
    let dir = scratch(pki(), "default");
    for identity in [&pki().rsa, &pki().p256] {
        let file = export(&dir, identity, "default.p12", "s3cret pässword", &[]);
        let p12 = pkcs12::parse(&std::fs::read(&file).unwrap(), "s3cret pässword").unwrap();
        assert_usable(&p12, identity);
    }
}

#[test]
fn openssl_legacy_rsa_and_p256() {
    let dir = scratch(pki(), "legacy");
    for identity in [&pki().rsa, &pki().p256] {
        let file = export(&dir, identity, "legacy.p12", "legacy", &["-legacy"]);
        let p12 = pkcs12::parse(&std::fs::read(&file).unwrap(), "legacy").unwrap();
        assert_usable(&p12, identity);
    }
}

#[test]
fn other_openssl_choices() {
    let dir = scratch(pki(), "choices");
    let cases: &[&[&str]] = &[
        // SHA-1 MAC with PBES2 / AES-128 and PBKDF2-HMAC-SHA-1.
        &[
            "-macalg",
            "sha1",
            "-keypbe",
            "AES-128-CBC",
            "-certpbe",
            "AES-128-CBC",
        ],
        // Unencrypted certificates, 3DES key, SHA-512 MAC.
        &[
            "-certpbe",
            "NONE",
            "-keypbe",
            "PBE-SHA1-3DES",
            "-macalg",
            "sha512",
        ],
        // 128-bit RC2 certificates.
        &["-legacy", "-certpbe", "PBE-SHA1-RC2-128"],
        // No MAC at all.
        &["-nomac"],
    ];
    for extra in cases {
        let file = export(&dir, &pki().rsa, "case.p12", "pw", extra);
        let p12 = pkcs12::parse(&std::fs::read(&file).unwrap(), "pw")
            .unwrap_or_else(|e| panic!("{extra:?}: {e}"));
        assert_usable(&p12, &pki().rsa);
    }
    let file = export(&dir, &pki().rsa, "empty.p12", "", &[]);
    let p12 = pkcs12::parse(&std::fs::read(&file).unwrap(), "").unwrap();
    assert_usable(&p12, &pki().rsa);
}

#[test]
fn wrong_password_is_told_apart_from_damage() {
    let dir = scratch(pki(), "wrong");
    for extra in [&[][..], &["-legacy"][..]] {
        let file = std::fs::read(export(&dir, &pki().rsa, "w.p12", "right", extra)).unwrap();
        let wrong = pkcs12::parse(&file, "wrong").unwrap_err();
        assert_eq!(wrong, Pkcs12Error::WrongPassword);
        assert_eq!(wrong.to_string(), "the password is wrong");

        // Truncated: structurally broken, whatever the password.
        for len in [0, 1, 10, file.len() / 2, file.len() - 1] {
            let err = pkcs12::parse(&file[..len], "right").unwrap_err();
            assert!(matches!(err, Pkcs12Error::Corrupt(_)), "{len}: {err}");
        }

        // A flipped bit in the MAC value (the last bytes before salt and count) or in the
        // middle of the encrypted data: the right password says "damaged", never "wrong".
        let mut flipped_middle = file.clone();
        flipped_middle[file.len() / 2] ^= 0x01;
        let err = pkcs12::parse(&flipped_middle, "right").unwrap_err();
        assert!(matches!(err, Pkcs12Error::Corrupt(_)), "middle: {err}");

        // Every single-byte flip: an error or the original content, never a panic or a
        // different key.
        for i in (0..file.len()).step_by(7) {
            let mut damaged = file.clone();
            damaged[i] ^= 0x80;
            if let Ok(p12) = pkcs12::parse(&damaged, "right") {
                assert_eq!(p12.certificate, pki().rsa.cert, "byte {i}");
            }
        }
    }
}

/// One DER element: tag, definite length, contents.
fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(contents);
    out
}

/// The file with its MacData iteration count replaced by `iterations` (DER INTEGER contents).
fn with_mac_iterations(file: &[u8], iterations: &[u8]) -> Vec<u8> {
    let top = smime::ber::parse_one(file).unwrap();
    let fields = top.children().unwrap();
    let mac = fields[2].children().unwrap();
    let mut mac_contents = [mac[0].raw, mac[1].raw].concat();
    mac_contents.extend(tlv(0x02, iterations));
    let mut pfx = [fields[0].raw, fields[1].raw].concat();
    pfx.extend(tlv(0x30, &mac_contents));
    tlv(0x30, &pfx)
}

#[test]
fn absurd_iteration_count_is_refused_quickly() {
    let dir = scratch(pki(), "iter");
    let file = std::fs::read(export(&dir, &pki().rsa, "iter.p12", "pw", &[])).unwrap();
    // The rebuilt file still opens with the original count (2048)...
    let same = with_mac_iterations(&file, &[0x08, 0x00]);
    assert!(pkcs12::parse(&same, "pw").is_ok());
    // ...and is refused at once with 20 million or a 9-byte count.
    let started = std::time::Instant::now();
    let err = pkcs12::parse(&with_mac_iterations(&file, &[0x01, 0x31, 0x2d, 0x00]), "pw");
    assert_eq!(err.unwrap_err(), Pkcs12Error::TooManyIterations(20_000_000));
    let huge = with_mac_iterations(
        &file,
        &[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    );
    assert!(matches!(
        pkcs12::parse(&huge, "pw"),
        Err(Pkcs12Error::TooManyIterations(_))
    ));
    assert!(started.elapsed().as_secs() < 1);
}

#[test]
fn key_without_certificate_and_garbage() {
    let dir = scratch(pki(), "nokey");
    // Certificates only (-nokeys).
    let out = dir.join("certs.p12");
    run(
        &dir,
        "openssl",
        &[
            "pkcs12",
            "-export",
            "-nokeys",
            "-in",
            pki().rsa.cert_path.to_str().unwrap(),
            "-passout",
            "pass:pw",
            "-out",
            out.to_str().unwrap(),
        ],
    );
    let err = pkcs12::parse(&std::fs::read(out).unwrap(), "pw").unwrap_err();
    assert_eq!(err, Pkcs12Error::NoKey);
    assert!(matches!(
        pkcs12::parse(b"not a pkcs12 file", "pw"),
        Err(Pkcs12Error::Corrupt(_))
    ));
}
