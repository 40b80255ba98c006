//! `sealmail smime …` run as a binary against real peers: openssl 3 (`cms`, `pkcs12`, `ca`) and
//! gpgsm 2.2. The PKI is generated with openssl on first use (no key material is committed):
//! root → intermediate → leaves with emailProtection and an e-mail SAN (Alice RSA, Bob P-256,
//! Carol RSA revoked by the intermediate's CRL, Dave RSA expired), plus an unrelated root.
//! A missing openssl or gpgsm fails the tests; nothing is skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

const SEALMAIL: &str = env!("CARGO_BIN_EXE_sealmail");
const PASS: &str = "test-only-pass";

/// The entity (Content-* fields and body) every message carries.
const ENTITY: &str =
    "Content-Type: text/plain; charset=us-ascii\r\n\r\nHello Bob,\r\nthis is a test.\r\n";

/// A message from `from` with [`ENTITY`] as its content.
fn message(from: &str) -> Vec<u8> {
    format!("From: {from}\r\nTo: bob@example.test\r\nSubject: test\r\n{ENTITY}").into_bytes()
}

const CA_CONFIG: &str = "\
[ca]
default_ca = ca_default
[ca_default]
dir = .
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
crlnumber = $dir/crlnumber
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_days = 365
default_crl_days = 30
policy = policy_any
unique_subject = no
[policy_any]
commonName = supplied
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[rsa_leaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = emailProtection
subjectAltName = email:$ENV::LEAF_EMAIL
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ec_leaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = emailProtection
subjectAltName = email:$ENV::LEAF_EMAIL
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

struct Leaf {
    cert: PathBuf,
    key: PathBuf,
    /// OpenSSL 3 default PKCS#12 (PBES2, AES-256-CBC, SHA-256 MAC).
    p12: PathBuf,
    /// `-legacy` PKCS#12 (3DES key, RC2-40 certificates, SHA-1 MAC).
    p12_legacy: PathBuf,
}

struct Pki {
    dir: PathBuf,
    root: PathBuf,
    intermediate: PathBuf,
    /// Root and intermediate in one PEM file (for openssl's -CAfile).
    ca_bundle: PathBuf,
    other_root: PathBuf,
    /// The intermediate's CRL (revokes Carol) and the root's (empty), in PEM.
    crl_intermediate: PathBuf,
    crl_root: PathBuf,
    alice: Leaf,
    bob: Leaf,
    carol: Leaf,
    dave: Leaf,
}

/// Run a program in `dir`; panic with its stderr unless it succeeds. Returns stdout.
fn run(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) -> Vec<u8> {
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot start {program} (is it installed?): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A CA directory for `openssl ca`.
fn ca_dir(dir: &Path, name: &str) -> PathBuf {
    let ca = dir.join(name);
    std::fs::create_dir_all(ca.join("newcerts")).unwrap();
    std::fs::write(ca.join("index.txt"), "").unwrap();
    std::fs::write(ca.join("serial"), format!("{:02X}\n", name.len() * 16)).unwrap();
    std::fs::write(ca.join("crlnumber"), "01\n").unwrap();
    std::fs::write(ca.join("openssl.cnf"), CA_CONFIG).unwrap();
    ca
}

/// Issue a certificate from the CA in `ca` for a new key; returns (cert, key) paths.
fn issue(
    ca: &Path,
    name: &str,
    key_spec: &[&str],
    extensions: &str,
    email: &str,
    dates: Option<(&str, &str)>,
) -> (PathBuf, PathBuf) {
    let dir = ca.parent().unwrap();
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let cert = dir.join(format!("{name}.pem"));
    let mut args = vec!["req", "-new", "-nodes", "-config", "openssl.cnf"];
    args.extend_from_slice(key_spec);
    let subject = format!("/CN={name}");
    args.extend_from_slice(&["-keyout", s(&key), "-out", s(&csr), "-subj", &subject]);
    let env = [("LEAF_EMAIL", email)];
    run(ca, "openssl", &args, &env);
    let mut args = vec![
        "ca",
        "-batch",
        "-notext",
        "-config",
        "openssl.cnf",
        "-extensions",
        extensions,
        "-in",
        s(&csr),
        "-out",
        s(&cert),
    ];
    if let Some((start, end)) = dates {
        args.extend_from_slice(&["-startdate", start, "-enddate", end]);
    }
    run(ca, "openssl", &args, &env);
    (cert, key)
}

fn export_p12(dir: &Path, cert: &Path, key: &Path, chain: &Path, out: &Path, legacy: bool) {
    let pass = format!("pass:{PASS}");
    let mut args = vec![
        "pkcs12",
        "-export",
        "-in",
        s(cert),
        "-inkey",
        s(key),
        "-certfile",
        s(chain),
        "-passout",
        &pass,
        "-out",
        s(out),
    ];
    if legacy {
        args.push("-legacy");
    }
    run(dir, "openssl", &args, &[]);
}

fn generate(dir: PathBuf) -> Pki {
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let env = [("LEAF_EMAIL", "unused@example.test")];
    let rsa: &[&str] = &["-newkey", "rsa:2048"];
    let ec: &[&str] = &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];

    // Root: self-signed, then a CA directory around it.
    let root_ca = ca_dir(&dir, "root");
    let mut args = vec![
        "req",
        "-x509",
        "-nodes",
        "-config",
        "openssl.cnf",
        "-extensions",
    ];
    args.extend_from_slice(&["v3_ca", "-days", "3650", "-subj", "/CN=Sealmail Test Root"]);
    args.extend_from_slice(&["-keyout", "ca.key", "-out", "ca.pem"]);
    args.extend_from_slice(rsa);
    run(&root_ca, "openssl", &args, &env);

    // Intermediate, issued by the root.
    let (inter_cert, inter_key) = issue(&root_ca, "intermediate", rsa, "v3_ca", "x@x", None);
    let inter_ca = ca_dir(&dir, "inter");
    std::fs::copy(&inter_cert, inter_ca.join("ca.pem")).unwrap();
    std::fs::copy(&inter_key, inter_ca.join("ca.key")).unwrap();

    let leaf = |name: &str, spec: &[&str], ext: &str, email: &'static str, dates| {
        let (cert, key) = issue(&inter_ca, name, spec, ext, email, dates);
        let p12 = dir.join(format!("{name}.p12"));
        let p12_legacy = dir.join(format!("{name}-legacy.p12"));
        export_p12(&dir, &cert, &key, &inter_cert, &p12, false);
        export_p12(&dir, &cert, &key, &inter_cert, &p12_legacy, true);
        Leaf {
            cert,
            key,
            p12,
            p12_legacy,
        }
    };
    let alice = leaf("alice", rsa, "rsa_leaf", "alice@example.test", None);
    let bob = leaf("bob", ec, "ec_leaf", "bob@example.test", None);
    let carol = leaf("carol", rsa, "rsa_leaf", "carol@example.test", None);
    let expired = Some(("20200101000000Z", "20210101000000Z"));
    let dave = leaf("dave", rsa, "rsa_leaf", "dave@example.test", expired);

    // Carol is revoked; both CAs publish a CRL.
    let carol_cert = s(&carol.cert).to_string();
    let revoke = ["ca", "-config", "openssl.cnf", "-revoke", &carol_cert];
    run(&inter_ca, "openssl", &revoke, &env);
    let crl_intermediate = dir.join("intermediate.crl");
    let crl_root = dir.join("root.crl");
    let gencrl = |ca: &Path, out: &Path| {
        let args = ["ca", "-config", "openssl.cnf", "-gencrl", "-out", s(out)];
        run(ca, "openssl", &args, &env);
    };
    gencrl(&inter_ca, &crl_intermediate);
    gencrl(&root_ca, &crl_root);

    let root = dir.join("root.pem");
    std::fs::copy(root_ca.join("ca.pem"), &root).unwrap();
    let ca_bundle = dir.join("ca-bundle.pem");
    let mut bundle = std::fs::read(&root).unwrap();
    bundle.extend(std::fs::read(&inter_cert).unwrap());
    std::fs::write(&ca_bundle, bundle).unwrap();

    let other_root = dir.join("other-root.pem");
    let mut args = vec!["req", "-x509", "-nodes", "-config", "root/openssl.cnf"];
    args.extend_from_slice(&["-extensions", "v3_ca", "-subj", "/CN=Unrelated Root"]);
    args.extend_from_slice(&["-keyout", "other-root.key", "-out", s(&other_root)]);
    args.extend_from_slice(rsa);
    run(&dir, "openssl", &args, &env);

    Pki {
        dir,
        root,
        intermediate: inter_cert,
        ca_bundle,
        other_root,
        crl_intermediate,
        crl_root,
        alice,
        bob,
        carol,
        dave,
    }
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    // One directory per process: two test runs sharing the target directory (engineers, CI
    // jobs) must not regenerate each other's CA under their feet.
    PKI.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        remove_abandoned(tmp);
        generate(tmp.join(format!("smime_cli-pki-{}", std::process::id())))
    })
}

/// Remove the PKI directories of earlier test processes that have ended.
fn remove_abandoned(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("smime_cli-pki-")
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = pki().dir.join("scratch").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Run `sealmail smime …`.
fn sealmail(dir: &Path, args: &[&str]) -> Output {
    let mut full = vec!["smime"];
    full.extend_from_slice(args);
    Command::new(SEALMAIL)
        .args(&full)
        .current_dir(dir)
        .env_remove("SEALMAIL_P12_PASS")
        .stdin(Stdio::null())
        .output()
        .expect("cannot start sealmail")
}

/// Run `sealmail smime …` and require success.
fn sealmail_ok(dir: &Path, args: &[&str]) -> Output {
    let out = sealmail(dir, args);
    assert!(
        out.status.success(),
        "sealmail smime {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `sealmail smime verify`: (stdout line, exit code, stderr).
fn verify(dir: &Path, input: &Path, extra: &[&str]) -> (String, i32, String) {
    let mut args = vec!["verify", "--in", s(input)];
    args.extend_from_slice(extra);
    let out = sealmail(dir, &args);
    (
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// LF line ends, to compare what openssl wrote with what we meant.
fn lf(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace("\r\n", "\n")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn we_sign_and_openssl_verifies() {
    let dir = scratch("sign");
    let alice = "Alice <alice@example.test>";
    let bob = "Bob <bob@example.test>";
    let cases: &[(&str, &Path, &[&str])] = &[
        (alice, &pki().alice.p12, &["--chain"]),
        (alice, &pki().alice.p12, &["--opaque", "--chain"]),
        (alice, &pki().alice.p12_legacy, &["--md", "sha512"]),
        (
            alice,
            &pki().alice.p12_legacy,
            &["--opaque", "--md", "sha384"],
        ),
        (bob, &pki().bob.p12, &["--chain", "--md", "sha384"]),
        (bob, &pki().bob.p12_legacy, &["--opaque"]),
    ];
    for (from, p12, extra) in cases {
        write(&dir, "in.eml", &message(from));
        let mut args = vec!["sign", "--in", "in.eml", "--out", "signed.eml", "--p12"];
        args.extend_from_slice(&[s(p12), "--pass", PASS]);
        args.extend_from_slice(extra);
        sealmail_ok(&dir, &args);
        let signed = std::fs::read(dir.join("signed.eml")).unwrap();
        // Transport fields stay outside the signature.
        assert!(signed.starts_with(format!("From: {from}\r\n").as_bytes()));
        // With --chain the intermediate travels in the message and the root alone is trusted;
        // without it openssl needs both (it does not build chains from -certfile).
        let ca = if extra.contains(&"--chain") {
            &pki().root
        } else {
            &pki().ca_bundle
        };
        let args = [
            "cms",
            "-verify",
            "-in",
            "signed.eml",
            "-CAfile",
            s(ca),
            "-out",
            "content.txt",
        ];
        run(&dir, "openssl", &args, &[]);
        let content = std::fs::read(dir.join("content.txt")).unwrap();
        assert_eq!(lf(&content), lf(ENTITY.as_bytes()), "{p12:?} {extra:?}");
        // And we accept what we made.
        let trust = ["--trust", s(&pki().root), "--certs", s(&pki().intermediate)];
        let (line, code, _) = verify(&dir, &dir.join("signed.eml"), &trust);
        assert_eq!((line.as_str(), code), ("valid", 0), "{p12:?} {extra:?}");
    }
}

/// openssl signs [`ENTITY`] as `leaf`; we add transport fields with `from`.
/// Written to `name`.
fn openssl_signed(dir: &Path, name: &str, leaf: &Leaf, from: &str, opaque: bool) -> PathBuf {
    let entity = write(dir, "entity.txt", ENTITY.as_bytes());
    let mut args = vec!["cms", "-sign", "-in", s(&entity), "-signer", s(&leaf.cert)];
    args.extend_from_slice(&["-inkey", s(&leaf.key), "-certfile", s(&pki().intermediate)]);
    args.extend_from_slice(&["-out", "openssl-signed.eml"]);
    if opaque {
        args.push("-nodetach");
    }
    run(dir, "openssl", &args, &[]);
    let mut signed = format!("From: {from}\nTo: bob@example.test\nSubject: test\n").into_bytes();
    signed.extend(std::fs::read(dir.join("openssl-signed.eml")).unwrap());
    write(dir, name, &signed)
}

#[test]
fn a_signature_without_certificates_verifies_with_the_signers_certificate_from_certs() {
    let dir = scratch("nocerts");
    let pki = pki();
    let entity = write(&dir, "entity.txt", ENTITY.as_bytes());
    let mut args = vec!["cms", "-sign", "-nocerts", "-in", s(&entity)];
    args.extend_from_slice(&["-signer", s(&pki.alice.cert), "-inkey", s(&pki.alice.key)]);
    args.extend_from_slice(&["-out", "nocerts-signed.eml"]);
    run(&dir, "openssl", &args, &[]);
    let mut signed = b"From: alice@example.test\nTo: bob@example.test\nSubject: test\n".to_vec();
    signed.extend(std::fs::read(dir.join("nocerts-signed.eml")).unwrap());
    let signed = write(&dir, "nocerts.eml", &signed);

    let trust = ["--trust", s(&pki.root)];
    let (line, code, _) = verify(&dir, &signed, &trust);
    assert_eq!(
        (line.as_str(), code),
        ("invalid: signer-certificate-missing", 1)
    );
    // Someone else's certificate does not stand in for the signer's.
    let wrong = ["--trust", s(&pki.root), "--certs", s(&pki.carol.cert)];
    let (line, _, _) = verify(&dir, &signed, &wrong);
    assert_eq!(line, "invalid: signer-certificate-missing");
    // The signer's certificate and its issuer, as `openssl cms -verify -certfile` takes them.
    let known = [
        "--trust",
        s(&pki.root),
        "--certs",
        s(&pki.alice.cert),
        "--certs",
        s(&pki.intermediate),
    ];
    let (line, code, stderr) = verify(&dir, &signed, &known);
    assert_eq!((line.as_str(), code), ("valid", 0), "{stderr}");
    // Without the issuer the path cannot be built: the certificate was found, not trusted.
    let leaf_only = ["--trust", s(&pki.root), "--certs", s(&pki.alice.cert)];
    let (line, _, _) = verify(&dir, &signed, &leaf_only);
    assert_ne!(line, "valid");
    // openssl agrees the message is good given the same certificate.
    let args = [
        "cms",
        "-verify",
        "-in",
        s(&signed),
        "-certfile",
        s(&pki.alice.cert),
        "-CAfile",
        s(&pki.ca_bundle),
        "-out",
        "nocerts-content.out",
    ];
    run(&dir, "openssl", &args, &[]);
}

#[test]
fn openssl_signs_and_we_verify() {
    let dir = scratch("verify");
    let pki = pki();
    let trust = ["--trust", s(&pki.root)];
    let crls = [
        "--trust",
        s(&pki.root),
        "--crl",
        s(&pki.crl_intermediate),
        "--crl",
        s(&pki.crl_root),
    ];

    for opaque in [false, true] {
        let signed = openssl_signed(
            &dir,
            "alice.eml",
            &pki.alice,
            "Alice <alice@example.test>",
            opaque,
        );
        let (line, code, stderr) = verify(&dir, &signed, &trust);
        assert_eq!((line.as_str(), code), ("valid", 0), "{stderr}");
        assert!(stderr.contains("revocation was not checked"), "{stderr}");
        let (line, code, _) = verify(&dir, &signed, &crls);
        assert_eq!((line.as_str(), code), ("valid", 0));

        // No trust anchor: cryptography only, and said so.
        let (line, code, stderr) = verify(&dir, &signed, &[]);
        assert_eq!((line.as_str(), code), ("valid", 0));
        assert!(stderr.contains("cryptographic checks only"), "{stderr}");

        let (line, code, _) = verify(&dir, &signed, &["--trust", s(&pki.other_root)]);
        assert_eq!((line.as_str(), code), ("invalid: untrusted", 1));

        // Validated at a time after the leaf's expiry.
        let later = ["--trust", s(&pki.root), "--at", "2040-01-01T00:00:00Z"];
        let (line, code, _) = verify(&dir, &signed, &later);
        assert_eq!((line.as_str(), code), ("invalid: expired", 1));

        // The intermediate supplied with --certs instead of in the message works too.
        let bare = ["--trust", s(&pki.root), "--certs", s(&pki.intermediate)];
        let (line, _, _) = verify(&dir, &signed, &bare);
        assert_eq!(line, "valid");
    }

    let revoked = openssl_signed(&dir, "carol.eml", &pki.carol, "carol@example.test", false);
    let (line, code, _) = verify(&dir, &revoked, &crls);
    assert_eq!((line.as_str(), code), ("invalid: revoked", 1));
    // Given CRLs, every certificate of the path needs one: the root's is missing here. (A
    // revoked leaf is reported revoked all the same: that status is known.)
    let partial = ["--trust", s(&pki.root), "--crl", s(&pki.crl_intermediate)];
    let (line, _, stderr) = verify(&dir, &dir.join("alice.eml"), &partial);
    assert_eq!(line, "invalid: revocation-unknown", "{stderr}");
    assert!(stderr.contains("missing: a CRL from"), "{stderr}");
    // Without CRLs revocation is not checked.
    let (line, _, _) = verify(&dir, &revoked, &trust);
    assert_eq!(line, "valid");

    let expired = openssl_signed(&dir, "dave.eml", &pki.dave, "dave@example.test", false);
    let (line, code, _) = verify(&dir, &expired, &trust);
    assert_eq!((line.as_str(), code), ("invalid: expired", 1));
    // In 2020 Dave's certificate was valid, but its issuers did not exist yet.
    let then = ["--trust", s(&pki.root), "--at", "2020-06-01T00:00:00Z"];
    let (line, _, _) = verify(&dir, &expired, &then);
    assert_eq!(line, "invalid: not-yet-valid");

    let forged = openssl_signed(
        &dir,
        "mallory.eml",
        &pki.alice,
        "Mallory <mallory@example.test>",
        false,
    );
    let (line, code, _) = verify(&dir, &forged, &trust);
    assert_eq!((line.as_str(), code), ("invalid: signer-not-sender", 1));

    // One flipped byte in the signed part (clear-signed: "Hello" → "Jello").
    let signed = openssl_signed(&dir, "alice.eml", &pki.alice, "alice@example.test", false);
    let mut bytes = std::fs::read(&signed).unwrap();
    let at = bytes.windows(5).position(|w| w == b"Hello").unwrap();
    bytes[at] ^= 0x02;
    let altered = write(&dir, "altered.eml", &bytes);
    let (line, code, _) = verify(&dir, &altered, &trust);
    assert_eq!((line.as_str(), code), ("invalid: content-altered", 1));
    let (line, code, _) = verify(&dir, &altered, &[]);
    assert_eq!((line.as_str(), code), ("invalid: content-altered", 1));

    // Not signed at all.
    let plain = write(&dir, "plain.eml", &message("alice@example.test"));
    let (line, code, _) = verify(&dir, &plain, &[]);
    assert_eq!((line.as_str(), code), ("invalid: not-signed", 1));
}

#[test]
fn we_encrypt_and_openssl_decrypts() {
    let dir = scratch("encrypt");
    write(&dir, "in.eml", &message("alice@example.test"));
    let pki = pki();
    for cipher in ["aes-256-gcm", "aes-128-gcm", "aes-256-cbc", "aes-128-cbc"] {
        for extra in [
            &[][..],
            &["--oaep"][..],
            &["--keyid"][..],
            &["--oaep", "--keyid"][..],
        ] {
            let mut args = vec!["encrypt", "--in", "in.eml", "--out", "enc.eml", "--cipher"];
            args.extend_from_slice(&[cipher, "--to", s(&pki.alice.cert), s(&pki.bob.cert)]);
            args.extend_from_slice(extra);
            sealmail_ok(&dir, &args);
            let encrypted = std::fs::read(dir.join("enc.eml")).unwrap();
            assert!(encrypted.starts_with(b"From: alice@example.test\r\n"));
            let args = [
                "cms",
                "-decrypt",
                "-in",
                "enc.eml",
                "-recip",
                s(&pki.alice.cert),
                "-inkey",
                s(&pki.alice.key),
                "-out",
                "dec.txt",
            ];
            run(&dir, "openssl", &args, &[]);
            let decrypted = std::fs::read(dir.join("dec.txt")).unwrap();
            assert_eq!(lf(&decrypted), lf(ENTITY.as_bytes()), "{cipher} {extra:?}");
            // Bob (P-256, key agreement) reads the same message.
            let args = [
                "cms",
                "-decrypt",
                "-in",
                "enc.eml",
                "-recip",
                s(&pki.bob.cert),
                "-inkey",
                s(&pki.bob.key),
                "-out",
                "dec-bob.txt",
            ];
            run(&dir, "openssl", &args, &[]);
            assert_eq!(
                lf(&std::fs::read(dir.join("dec-bob.txt")).unwrap()),
                lf(ENTITY.as_bytes())
            );
        }
    }
}

#[test]
fn openssl_encrypts_and_we_decrypt() {
    let dir = scratch("decrypt");
    let entity = write(&dir, "entity.txt", ENTITY.as_bytes());
    let pki = pki();
    let cases: &[&[&str]] = &[
        &["-aes-256-cbc"],
        &["-aes-128-cbc"],
        &["-aes-256-gcm"],
        &["-aes-128-gcm"],
        &["-aes-256-cbc", "-keyopt", "rsa_padding_mode:oaep"],
        &["-des3"],
    ];
    for extra in cases {
        let mut args = vec!["cms", "-encrypt", "-in", s(&entity), "-out", "theirs.eml"];
        args.extend_from_slice(&["-recip", s(&pki.alice.cert)]);
        // After -recip: -keyopt applies to the recipient named last.
        args.extend_from_slice(extra);
        run(&dir, "openssl", &args, &[]);
        for p12 in [&pki.alice.p12, &pki.alice.p12_legacy] {
            let args = [
                "decrypt",
                "--in",
                "theirs.eml",
                "--out",
                "plain.txt",
                "--p12",
                s(p12),
                "--pass",
                PASS,
            ];
            sealmail_ok(&dir, &args);
            let plain = std::fs::read(dir.join("plain.txt")).unwrap();
            assert_eq!(lf(&plain), lf(ENTITY.as_bytes()), "{extra:?}");
        }
    }
    // P-256 key agreement.
    let args = [
        "cms",
        "-encrypt",
        "-aes-128-cbc",
        "-in",
        s(&entity),
        "-out",
        "ec.eml",
        "-recip",
        s(&pki.bob.cert),
    ];
    run(&dir, "openssl", &args, &[]);
    let args = [
        "decrypt",
        "--in",
        "ec.eml",
        "--out",
        "ec.txt",
        "--p12",
        s(&pki.bob.p12),
        "--pass",
        PASS,
    ];
    sealmail_ok(&dir, &args);
    assert_eq!(
        lf(&std::fs::read(dir.join("ec.txt")).unwrap()),
        lf(ENTITY.as_bytes())
    );
}

#[test]
fn triple_wrap_round_trips() {
    let dir = scratch("triple");
    write(&dir, "in.eml", &message("Alice <alice@example.test>"));
    let pki = pki();
    let alice = s(&pki.alice.p12);
    // Sign, encrypt the signed message to Alice, sign again.
    sealmail_ok(
        &dir,
        &[
            "sign", "--in", "in.eml", "--out", "1.eml", "--p12", alice, "--pass", PASS,
        ],
    );
    let to = [
        "encrypt",
        "--in",
        "1.eml",
        "--out",
        "2.eml",
        "--to",
        s(&pki.alice.cert),
    ];
    sealmail_ok(&dir, &to);
    let args = [
        "sign", "--in", "2.eml", "--out", "3.eml", "--p12", alice, "--pass", PASS, "--chain",
    ];
    sealmail_ok(&dir, &args);
    // The outer signature validates without the key.
    let (line, _, _) = verify(&dir, &dir.join("3.eml"), &["--trust", s(&pki.root)]);
    assert_eq!(line, "valid");
    let args = [
        "decrypt",
        "--in",
        "3.eml",
        "--out",
        "inner.txt",
        "--p12",
        alice,
        "--pass",
        PASS,
    ];
    sealmail_ok(&dir, &args);
    assert_eq!(
        std::fs::read(dir.join("inner.txt")).unwrap(),
        ENTITY.as_bytes()
    );

    // openssl unwraps the same message layer by layer to the same entity.
    let ca = s(&pki.ca_bundle);
    run(
        &dir,
        "openssl",
        &[
            "cms", "-verify", "-in", "3.eml", "-CAfile", ca, "-out", "o2.eml",
        ],
        &[],
    );
    let key = ["-recip", s(&pki.alice.cert), "-inkey", s(&pki.alice.key)];
    let mut args = vec!["cms", "-decrypt", "-in", "o2.eml", "-out", "o1.eml"];
    args.extend_from_slice(&key);
    run(&dir, "openssl", &args, &[]);
    run(
        &dir,
        "openssl",
        &[
            "cms", "-verify", "-in", "o1.eml", "-CAfile", ca, "-out", "o0.txt",
        ],
        &[],
    );
    assert_eq!(
        lf(&std::fs::read(dir.join("o0.txt")).unwrap()),
        lf(ENTITY.as_bytes())
    );

    // Sign-then-encrypt with the signed content altered before encryption: decrypt opens
    // the envelope, checks the inner signature, and refuses to write the content.
    let mut inner_signed = std::fs::read(dir.join("1.eml")).unwrap();
    let at = inner_signed.windows(5).position(|w| w == b"Hello").unwrap();
    inner_signed[at] ^= 0x02;
    write(&dir, "1bad.eml", &inner_signed);
    sealmail_ok(
        &dir,
        &[
            "encrypt",
            "--in",
            "1bad.eml",
            "--out",
            "2bad.eml",
            "--to",
            s(&pki.alice.cert),
        ],
    );
    let args = [
        "decrypt", "--in", "2bad.eml", "--out", "x.txt", "--p12", alice, "--pass", PASS,
    ];
    let out = sealmail(&dir, &args);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("content-altered"), "{stderr}");
}

#[test]
fn failures_say_what_went_wrong() {
    let dir = scratch("errors");
    write(&dir, "in.eml", &message("alice@example.test"));
    let pki = pki();
    let alice = s(&pki.alice.p12);
    let expect_error = |args: &[&str], needle: &str| {
        let out = sealmail(&dir, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    };
    let sign = |p12: &str, pass: &str, needle: &str| {
        let args = [
            "sign", "--in", "in.eml", "--out", "out.eml", "--p12", p12, "--pass", pass,
        ];
        expect_error(&args, needle);
    };
    sign(alice, "wrong", "the password is wrong");
    sign(s(&pki.alice.p12_legacy), "wrong", "the password is wrong");
    sign("missing.p12", PASS, "cannot read missing.p12");

    let mut damaged = std::fs::read(&pki.alice.p12).unwrap();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 1;
    write(&dir, "damaged.p12", &damaged);
    sign("damaged.p12", PASS, "damaged");
    write(&dir, "truncated.p12", &damaged[..middle]);
    sign("truncated.p12", PASS, "damaged");

    // Encrypted to Bob only; Alice's key does not open it.
    sealmail_ok(
        &dir,
        &[
            "encrypt",
            "--in",
            "in.eml",
            "--out",
            "bob.eml",
            "--to",
            s(&pki.bob.cert),
        ],
    );
    let args = [
        "decrypt", "--in", "bob.eml", "--out", "x.txt", "--p12", alice, "--pass", PASS,
    ];
    expect_error(&args, "no matching key");
    let args = [
        "decrypt", "--in", "in.eml", "--out", "x.txt", "--p12", alice, "--pass", PASS,
    ];
    expect_error(&args, "not encrypted");
    expect_error(
        &["encrypt", "--in", "in.eml", "--out", "x", "--to", "in.eml"],
        "not PEM or DER",
    );
    expect_error(&["verify", "--in", "nope.eml"], "cannot read nope.eml");
    let args = [
        "verify",
        "--in",
        "in.eml",
        "--trust",
        s(&pki.root),
        "--at",
        "yesterday",
    ];
    expect_error(&args, "not an RFC 3339 time");

    // The password may come from the environment instead of the command line.
    let out = Command::new(SEALMAIL)
        .args([
            "smime", "sign", "--in", "in.eml", "--out", "env.eml", "--p12", alice,
        ])
        .env("SEALMAIL_P12_PASS", PASS)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private GnuPG home for gpgsm with Alice's (legacy) PKCS#12 imported and the root trusted.
struct Gpgsm {
    home: PathBuf,
}

impl Gpgsm {
    fn new() -> Self {
        // Short path: the agent's socket path has a length limit.
        let home = PathBuf::from(format!("/tmp/sealmail-gpgsm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        let gpgsm = Self { home };
        let pki = pki();
        gpgsm.run(&["--import", s(&pki.root), s(&pki.intermediate)], None);
        // gpgsm 2.2 imports only the legacy (3DES) PKCS#12 format, and even then fails on about
        // one file in a hundred that openssl reads ("data error at shrouded_key_bag.decrypted-text":
        // gpgsm 2.2.40 derives a wrong 3DES key for some salts; measured 1 in 100 exports of one
        // key). The salt is random per export, so a file gpgsm cannot read is exported again.
        let mut last = String::new();
        for attempt in 0..3 {
            let p12 = gpgsm.home.join(format!("alice-{attempt}.p12"));
            let alice = &pki.alice;
            export_p12(
                &pki.dir,
                &alice.cert,
                &alice.key,
                &pki.intermediate,
                &p12,
                true,
            );
            last = gpgsm.run(&["--import", s(&p12)], Some(PASS));
            let secret = gpgsm.run(&["--with-colons", "--list-secret-keys"], None);
            if secret.lines().any(|l| l.starts_with("crs:")) {
                last.clear();
                break;
            }
        }
        assert!(last.is_empty(), "gpgsm did not import Alice's key: {last}");
        let fingerprint = run(
            &pki.dir,
            "openssl",
            &[
                "x509",
                "-in",
                s(&pki.root),
                "-noout",
                "-fingerprint",
                "-sha1",
            ],
            &[],
        );
        let fingerprint = String::from_utf8(fingerprint).unwrap();
        let fingerprint = fingerprint.trim().split('=').nth(1).unwrap().to_string();
        std::fs::write(
            gpgsm.home.join("trustlist.txt"),
            format!("{fingerprint} S relax\n"),
        )
        .unwrap();
        gpgsm
    }

    /// Run gpgsm (with a passphrase on fd 0 if given); returns status lines and stderr.
    fn run(&self, args: &[&str], passphrase: Option<&str>) -> String {
        use std::io::Write;
        let mut command = Command::new("gpgsm");
        command
            .env("GNUPGHOME", &self.home)
            // No dirmngr: nothing to fetch, and one daemon less to stop.
            .args([
                "--batch",
                "--disable-dirmngr",
                "--disable-crl-checks",
                "--status-fd",
                "1",
            ]);
        if passphrase.is_some() {
            command.args(["--pinentry-mode", "loopback", "--passphrase-fd", "0"]);
        }
        let mut child = command
            .args(args)
            .current_dir(&self.home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start gpgsm (is it installed?)");
        let mut stdin = child.stdin.take().unwrap();
        if let Some(passphrase) = passphrase {
            stdin
                .write_all(format!("{passphrase}\n").as_bytes())
                .unwrap();
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }
}

impl Drop for Gpgsm {
    /// Stop the gpg-agent this home started, by its pid, then remove the home.
    fn drop(&mut self) {
        if let Ok(out) = Command::new("gpg-connect-agent")
            .env("GNUPGHOME", &self.home)
            .args(["--no-autostart", "getinfo pid", "/bye"])
            .output()
        {
            let text = String::from_utf8_lossy(&out.stdout);
            if let Some(pid) = text.lines().find_map(|l| l.strip_prefix("D ")) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

#[test]
fn gpgsm_decrypts_our_mail_and_we_sign_with_its_p12() {
    let gpgsm = Gpgsm::new();
    let dir = scratch("gpgsm");
    write(&dir, "in.eml", &message("alice@example.test"));
    for cipher in ["aes-128-cbc", "aes-256-cbc"] {
        let args = [
            "encrypt",
            "--in",
            "in.eml",
            "--out",
            "enc.eml",
            "--cipher",
            cipher,
            "--to",
            s(&pki().alice.cert),
        ];
        sealmail_ok(&dir, &args);
        // gpgsm reads CMS, not MIME: hand it the base64 body.
        let mail = String::from_utf8(std::fs::read(dir.join("enc.eml")).unwrap()).unwrap();
        let body = mail.split("\r\n\r\n").nth(1).unwrap();
        let cms = write(&dir, "enc.b64", body.as_bytes());
        let out = dir.join("dec.txt");
        let _ = std::fs::remove_file(&out);
        let status = gpgsm.run(
            &["--assume-base64", "--decrypt", "-o", s(&out), s(&cms)],
            Some(PASS),
        );
        assert!(
            status.contains("[GNUPG:] DECRYPTION_OKAY"),
            "{cipher}: {status}"
        );
        assert_eq!(std::fs::read(&out).unwrap(), ENTITY.as_bytes());
    }

    // gpgsm exports Alice's key (PKCS#12 with a 3DES key bag and RC2-40 certificates); we sign
    // with that file and openssl verifies.
    let exported = dir.join("gpgsm-export.p12");
    let status = gpgsm.run(
        &[
            "--export-secret-key-p12",
            "-o",
            s(&exported),
            "alice@example.test",
        ],
        Some(PASS),
    );
    assert!(exported.exists(), "{status}");
    let mut args = vec!["sign", "--in", "in.eml", "--out", "signed.eml", "--p12"];
    args.extend_from_slice(&[s(&exported), "--pass", PASS]);
    sealmail_ok(&dir, &args);
    let args = [
        "cms",
        "-verify",
        "-in",
        "signed.eml",
        "-CAfile",
        s(&pki().ca_bundle),
        "-out",
        "v.txt",
    ];
    run(&dir, "openssl", &args, &[]);
    assert_eq!(
        lf(&std::fs::read(dir.join("v.txt")).unwrap()),
        lf(ENTITY.as_bytes())
    );
}
