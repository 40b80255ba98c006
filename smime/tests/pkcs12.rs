//! PKCS#12 import against files made by `openssl pkcs12 -export`: OpenSSL 3's default (PBES2,
//! PBKDF2-HMAC-SHA-256, AES-256-CBC, SHA-256 MAC) and `-legacy` (SHA-1 3DES key, 40-bit RC2
//! certificates, SHA-1 MAC), RSA and P-256 keys with their chain; then wrong passwords and
//! damaged files.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::{Path, PathBuf};

use common::{Identity, Pki, rng, run, scratch, succeeds};
use smime::keys::SoftKey;
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

        // Truncated anywhere: structurally broken, whatever the password.
        for len in 0..file.len() {
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

/// A wrong key passes the CBC padding check about once in 256 tries; such a lucky garbage
/// decryption must still be reported as a wrong password, never as damage. Cheap files
/// (one iteration) make a thousand tries fast.
#[test]
fn many_wrong_passwords_are_all_wrong_passwords() {
    let dir = scratch(pki(), "many");
    let cheap = ["-legacy", "-noiter", "-nomaciter"];
    let with_mac = std::fs::read(export(&dir, &pki().rsa, "m.p12", "right", &cheap)).unwrap();
    let mut no_mac_args = cheap.to_vec();
    no_mac_args.push("-nomac");
    let no_mac = std::fs::read(export(&dir, &pki().rsa, "n.p12", "right", &no_mac_args)).unwrap();
    // An unencrypted key bag proves nothing about the password.
    let plain_key = ["-keypbe", "NONE", "-certpbe", "NONE", "-nomaciter"];
    let plain = std::fs::read(export(&dir, &pki().rsa, "p.p12", "right", &plain_key)).unwrap();
    for i in 0..1000 {
        let password = format!("wrong {i}");
        for (name, file) in [("mac", &with_mac), ("no mac", &no_mac)] {
            let err = pkcs12::parse(file, &password).unwrap_err();
            assert_eq!(err, Pkcs12Error::WrongPassword, "{name}, {password}");
        }
    }
    assert_eq!(
        pkcs12::parse(&plain, "wrong").unwrap_err(),
        Pkcs12Error::WrongPassword
    );
    assert!(pkcs12::parse(&plain, "right").is_ok());
}

#[test]
fn without_a_mac_a_wrong_password_is_still_named() {
    let dir = scratch(pki(), "nomac");
    let file = std::fs::read(export(&dir, &pki().p256, "n.p12", "right", &["-nomac"])).unwrap();
    assert_eq!(
        pkcs12::parse(&file, "wrong").unwrap_err(),
        Pkcs12Error::WrongPassword
    );
    assert_usable(&pkcs12::parse(&file, "right").unwrap(), &pki().p256);
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

/// RFC 9579 appendix A.1: PBMAC1 with HMAC-SHA-256 and a PBKDF2-HMAC-SHA-256 key (password
/// "1234"). OpenSSL 3.0 here cannot write PBMAC1, so the RFC's own test vector is used.
const RFC9579_A1: &str = "\
MIIKigIBAzCCCgUGCSqGSIb3DQEHAaCCCfYEggnyMIIJ7jCCBGIGCSqGSIb3DQEH
BqCCBFMwggRPAgEAMIIESAYJKoZIhvcNAQcBMFcGCSqGSIb3DQEFDTBKMCkGCSqG
SIb3DQEFDDAcBAg9pxXxY2yscwICCAAwDAYIKoZIhvcNAgkFADAdBglghkgBZQME
ASoEEK7yYaFQDi1pYwWzm9F/fs+AggPgFIT2XapyaFgDppdvLkdvaF3HXw+zjzKb
7xFC76DtVPhVTWVHD+kIss+jsj+XyvMwY0aCuAhAG/Dig+vzWomnsqB5ssw5/kTb
+TMQ5PXLkNeoBmB6ArKeGc/QmCBQvQG/a6b+nXSWmxNpP+71772dmWmB8gcSJ0kF
Fj75NrIbmNiDMCb71Q8gOzBMFf6BpXf/3xWAJtxyic+tSNETfOJa8zTZb0+lV0w9
5eUmDrPUpuxEVbb0KJtIc63gRkcfrPtDd6Ii4Zzbzj2Evr4/S4hnrQBsiryVzJWy
IEjaD0y6+DmG0JwMgRuGi1wBoGowi37GMrDCOyOZWC4n5wHLtYyhR6JaElxbrhxP
H46z2USLKmZoF+YgEQgYcSBXMgP0t36+XQocFWYi2N5niy02TnctwF430FYsQlhJ
Suma4I33E808dJuMv8T/soF66HsD4Zj46hOf4nWmas7IaoSAbGKXgIa7KhGRJvij
xM3WOX0aqNi/8bhnxSA7fCmIy/7opyx5UYJFWGBSmHP1pBHBVmx7Ad8SAsB9MSsh
nbGjGiUk4h0QcOi29/M9WwFlo4urePyI8PK2qtVAmpD3rTLlsmgzguZ69L0Q/CFU
fbtqsMF0bgEuh8cfivd1DYFABEt1gypuwCUtCqQ7AXK2nQqOjsQCxVz9i9K8NDeD
aau98VAl0To2sk3/VR/QUq0PRwU1jPN5BzUevhE7SOy/ImuJKwpGqqFljYdrQmj5
jDe+LmYH9QGVRlfN8zuU+48FY8CAoeBeHn5AAPml0PYPVUnt3/jQN1+v+CahNVI+
La8q1Nen+j1R44aa2I3y/pUgtzXRwK+tPrxTQbG030EU51LYJn8amPWmn3w75ZIA
MJrXWeKj44de7u4zdUsEBVC2uM44rIHM8MFjyYAwYsey0rcp0emsaxzar+7ZA67r
lDoXvvS3NqsnTXHcn3T9tkPRoee6L7Dh3x4Od96lcRwgdYT5BwyH7e34ld4VTUmJ
bDEq7Ijvn4JKrwQJh1RCC+Z/ObfkC42xAm7G010u3g08xB0Qujpdg4a7VcuWrywF
c7hLNquuaF4qoDaVwYXHH3iuX6YlJ/3siTKbYCVXPEZOAMBP9lF/OU76UMJBQNfU
0xjDx+3AhUVgnGuCsmYlK6ETDp8qOZKGyV0KrNSGtqLx3uMhd7PETeW+ML3tDQ/0
X9fMkcZHi4C2fXnoHV/qa2dGhBj4jjQ0Xh1poU6mxGn2Mebe2hDsBZkkBpnn7pK4
wP/VqXdQTwqEuvzGHLVFsCuADe40ZFBmtBrf70wG7ZkO8SUZ8Zz1IX3+S024g7yj
QRev/6x6TtkwggWEBgkqhkiG9w0BBwGgggV1BIIFcTCCBW0wggVpBgsqhkiG9w0B
DAoBAqCCBTEwggUtMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhTxzw+
VptrYAICCAAwDAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEK9nSqc1I2t4tMVG
bWHpdtQEggTQzCwI7j34gCTvfj6nuOSndAjShGv7mN2j7WMV0pslTpq2b9Bn3vn1
Y0JMvL4E7sLrUzNU02pdOcfCnEpMFccNv2sQrLp1mOCKxu8OjSqHZLoKVL0ROVsZ
8dMECLLigDlPKRiSyLErl14tErX4/zbkUaWMROO28kFbTbubQ8YoHlRUwsKW1xLg
vfi0gRkG/zHXRfQHjX/8NStv7hXlehn7/Gy2EKPsRFhadm/iUHAfmCMkMgHTU248
JER9+nsXltd59H+IeDpj/kbxZ+YvHow9XUZKu828d3MQnUpLZ1BfJGhMBPVwbVUD
A40CiQBVdCoGtPJyalL28xoS3H0ILFCnwQOr6u0HwleNJPGHq78HUyH6Hwxnh0b0
5o163r6wTFZn5cMOxpbs/Ttd+3TrxmrYpd2XnuRme3cnaYJ0ILvpc/8eLLR7SKjD
T4JhZ0h/CfcV2WWvhpQugkY0pWrZ+EIMneB1dZB96mJVLxOi148OeSgi0PsxZMNi
YM33rTpwQT5WqOsEyDwUQpne5b8Kkt/s7EN0LJNnPyJJRL1LcqOdr6j+6YqRtPa7
a9oWJqMcuTP+bqzGRJh+3HDlFBw2Yzp9iadv4KmB2MzhStLUoi2MSjvnnkkd5Led
sshAd6WbKfF7kLAHQHT4Ai6dMEO4EKkEVF9JBtxCR4JEn6C98Lpg+Lk+rfY7gHOf
ZxtgGURwgXRY3aLUrdT55ZKgk3ExVKPzi5EhdpAau7JKhpOwyKozAp/OKWMNrz6h
obu2Mbn1B+IA60psYHHxynBgsJHv7WQmbYh8HyGfHgVvaA8pZCYqxxjpLjSJrR8B
Bu9H9xkTh7KlhxgreXYv19uAYbUd95kcox9izad6VPnovgFSb+Omdy6PJACPj6hF
W6PJbucP0YPpO0VtWtQdZZ3df1P0hZ7qvKwOPFA+gKZSckgqASfygiP9V3Zc8jIi
wjNzoDM2QT+UUJKiiGYXJUEOO9hxzFHlGj759DcNRhpgl5AgR57ofISD9yBuCAJY
PQ/aZHPFuRTrcVG3RaIbCAS73nEznKyFaLOXfzyfyaSmyhsH253tnyL1MejC+2bR
Eko/yldgFUxvU5JI+Q3KJ6Awj+PnduHXx71E4UwSuu2xXYMpxnQwI6rroQpZBX82
HhqgcLV83P8lpzQwPdHjH5zkoxmWdC0+jU/tcQfNXYpJdyoaX7tDmVclLhwl9ps/
O841pIsNLJWXwvxG6B+3LN/kw4QjwN194PopiOD7+oDm5mhttO78CrBrRxHMD/0Q
qniZjKzSZepxlZq+J792u8vtMnuzzChxu0Bf3PhIXcJNcVhwUtr0yKe/N+NvC0tm
p8wyik/BlndxN9eKbdTOi2wIi64h2QG8nOk66wQ/PSIJYwZl6eDNEQSzH/1mGCfU
QnUT17UC/p+Qgenf6Auap2GWlvsJrB7u/pytz65rtjt/ouo6Ih6EwWqwVVpGXZD0
7gVWH0Ke/Vr6aPGNvkLcmftPuDZsn9jiig3guhdeyRVf10Ox369kKWcG75q77hxE
IzSzDyUlBNbnom9SIjut3r+qVYmWONatC6q/4D0I42Lnjd3dEyZx7jmH3g/S2ASM
FzWr9pvXc61dsYOkdZ4PYa9XPUZxXFagZsoS3F1sU799+IJVU0tC0MExJTAjBgkq
hkiG9w0BCRUxFgQUwWO5DorvVWYF3BWUmAw0rUEajScwfDBtMEkGCSqGSIb3DQEF
DjA8MCwGCSqGSIb3DQEFDDAfBAhvRzw4sC4xcwICCAACASAwDAYIKoZIhvcNAgkF
ADAMBggqhkiG9w0CCQUABCB6pW2FOdcCNj87zS64NUXG36K5aXDnFHctIk5Bf4kG
3QQITk9UIFVTRUQCAQE=";

#[test]
fn pbmac1_rfc9579_vector() {
    let file = smime::mime::decode_base64(RFC9579_A1.as_bytes()).unwrap();
    let p12 = pkcs12::parse(&file, "1234").unwrap();
    assert!(p12.chain.is_empty());
    assert_eq!(
        pkcs12::parse(&file, "12345").unwrap_err(),
        Pkcs12Error::WrongPassword
    );

    // RFC 9579 A.4 in spirit: the MAC's PBKDF2 iteration count changed (2048 → 2049). The
    // password still opens the key, so the file is reported damaged, not the password wrong.
    let mac_params = file.len() - 100;
    let at = mac_params
        + file[mac_params..]
            .windows(4)
            .position(|w| w == [0x02, 0x02, 0x08, 0x00])
            .unwrap();
    let mut altered = file.clone();
    altered[at + 3] = 0x01;
    assert!(matches!(
        pkcs12::parse(&altered, "1234"),
        Err(Pkcs12Error::Corrupt(_))
    ));
}

// --- Writing ---------------------------------------------------------------------------------

/// What the product writes, at OpenSSL's iteration count (the tests run unoptimised).
fn written(identity: &Identity, password: &str, scheme: pkcs12::Scheme) -> Vec<u8> {
    let options = pkcs12::WriteOptions {
        iterations: pkcs12::write::MIN_ITERATIONS,
        friendly_name: identity.email.to_string(),
        scheme,
    };
    pkcs12::write(
        &identity.key,
        &identity.cert,
        std::slice::from_ref(&pki().intermediate),
        password,
        &options,
        &mut rng(),
    )
    .unwrap()
}

#[test]
fn written_files_read_back_and_a_wrong_password_is_refused() {
    let schemes = [pkcs12::Scheme::Aes256Sha256, pkcs12::Scheme::Aes128Sha1];
    for (identity, scheme) in [&pki().rsa, &pki().p256, &pki().p384]
        .into_iter()
        .flat_map(|identity| schemes.map(|scheme| (identity, scheme)))
    {
        let file = written(identity, "n3w pässword", scheme);
        let p12 = pkcs12::parse(&file, "n3w pässword").unwrap();
        assert_eq!(
            p12.key.to_pkcs8_der().unwrap(),
            identity.key.to_pkcs8_der().unwrap()
        );
        assert_usable(&p12, identity);
        assert_eq!(
            pkcs12::parse(&file, "n3w password").unwrap_err(),
            Pkcs12Error::WrongPassword
        );
    }
    // Fresh salts and IVs: the same ID written twice never gives the same bytes.
    let default = pkcs12::Scheme::default();
    assert_ne!(
        written(&pki().rsa, "pw", default),
        written(&pki().rsa, "pw", default)
    );
}

#[test]
fn a_key_is_never_written_with_another_certificate() {
    let options = pkcs12::WriteOptions {
        iterations: pkcs12::write::MIN_ITERATIONS,
        friendly_name: "x".into(),
        scheme: pkcs12::Scheme::default(),
    };
    let err = pkcs12::write(
        &pki().rsa.key,
        &pki().p256.cert,
        &[],
        "pw",
        &options,
        &mut rng(),
    );
    assert_eq!(err.unwrap_err(), pkcs12::WriteError::KeyDoesNotMatch);
    let weak = pkcs12::WriteOptions {
        iterations: 1000,
        ..options
    };
    let err = pkcs12::write(
        &pki().rsa.key,
        &pki().rsa.cert,
        &[],
        "pw",
        &weak,
        &mut rng(),
    );
    assert_eq!(err.unwrap_err(), pkcs12::WriteError::Iterations(1000));
}

/// `openssl pkcs12` reads what we write: the key and certificate come out, the MAC checks, and
/// `-info` names OpenSSL 3's own default algorithms.
#[test]
fn openssl_reads_written_files() {
    let dir = scratch(pki(), "written");
    for identity in [&pki().rsa, &pki().p256] {
        let path = dir.join("out.p12");
        std::fs::write(
            &path,
            written(identity, "s3cret", pkcs12::Scheme::default()),
        )
        .unwrap();
        let path = path.to_str().unwrap();
        let pem = run(
            &dir,
            "openssl",
            &["pkcs12", "-in", path, "-passin", "pass:s3cret", "-nodes"],
        );
        let pem = String::from_utf8(pem).unwrap();
        let keys = pem_blocks(&pem, "PRIVATE KEY");
        assert_eq!(keys.len(), 1, "{pem}");
        let key = SoftKey::from_pkcs8_pem(keys[0].as_bytes()).unwrap();
        assert_eq!(
            key.to_pkcs8_der().unwrap(),
            identity.key.to_pkcs8_der().unwrap()
        );
        let certificates: Vec<_> = pem_blocks(&pem, "CERTIFICATE")
            .iter()
            .map(|block| smime::Certificate::from_pem(block.as_bytes()).unwrap())
            .collect();
        assert_eq!(
            certificates,
            vec![identity.cert.clone(), pki().intermediate.clone()]
        );
        assert!(
            pem.contains(&format!("friendlyName: {}", identity.email)),
            "{pem}"
        );

        // -info reports on stderr.
        let info = std::process::Command::new("openssl")
            .args([
                "pkcs12",
                "-in",
                path,
                "-passin",
                "pass:s3cret",
                "-info",
                "-noout",
            ])
            .output()
            .unwrap();
        assert!(info.status.success());
        let info = String::from_utf8_lossy(&info.stderr);
        assert!(info.contains("MAC: sha256, Iteration 2048"), "{info}");
        assert!(
            info.contains(
                "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256"
            ),
            "{info}"
        );
        assert!(!succeeds(
            &dir,
            "openssl",
            &["pkcs12", "-in", path, "-passin", "pass:wrong", "-nodes"]
        ));
    }
}

/// Every `-----BEGIN {label}-----` … `-----END {label}-----` block of openssl's output.
fn pem_blocks(text: &str, label: &str) -> Vec<String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    text.split(&begin)
        .skip(1)
        .map(|rest| {
            let body = &rest[..rest.find(&end).expect("unterminated PEM block")];
            format!("{begin}{body}{end}\n")
        })
        .collect()
}
