//! Test PKI and helpers for interop tests. The PKI (root → intermediate → RSA, P-256 and P-384
//! leaves with emailProtection and e-mail SANs) is generated with the openssl binary on first
//! use, so no key material is committed. openssl missing is a test failure, not a skip.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use smime::Certificate;
use smime::keys::SoftKey;

pub const OPENSSL_CONFIG: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[rsa_leaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = emailProtection
subjectAltName = email:alice@example.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[p256_leaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = emailProtection
subjectAltName = email:bob@example.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[p384_leaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = emailProtection
subjectAltName = email:carol@example.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// A leaf identity: certificate and key files plus the parsed forms.
pub struct Identity {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub cert: Certificate,
    pub key: SoftKey,
    pub email: &'static str,
}

pub struct Pki {
    pub dir: PathBuf,
    pub root_path: PathBuf,
    pub intermediate_path: PathBuf,
    pub intermediate: Certificate,
    pub rsa: Identity,
    pub p256: Identity,
    pub p384: Identity,
}

/// Run a command, panicking with its stderr when it fails. Returns stdout.
pub fn run(dir: &Path, program: &str, args: &[&str]) -> Vec<u8> {
    run_with_input(dir, program, args, None)
}

pub fn run_with_input(dir: &Path, program: &str, args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program} (is it installed?): {e}"));
    if let Some(input) = input {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Run a command and report whether it succeeded (for negative checks).
pub fn succeeds(dir: &Path, program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"))
        .success()
}

fn leaf(dir: &Path, name: &str, newkey: &[&str], section: &str, email: &'static str) -> Identity {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let cert = format!("{name}.pem");
    let subj = format!("/CN={name}/emailAddress={email}");
    let mut args = vec![
        "req",
        "-new",
        "-config",
        "openssl.cnf",
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &csr,
        "-subj",
        &subj,
    ];
    args.extend_from_slice(newkey);
    run(dir, "openssl", &args);
    run(
        dir,
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "intermediate.pem",
            "-CAkey",
            "intermediate.key",
            "-CAcreateserial",
            "-days",
            "3650",
            "-extfile",
            "openssl.cnf",
            "-extensions",
            section,
            "-out",
            &cert,
        ],
    );
    Identity {
        cert_path: dir.join(&cert),
        key_path: dir.join(&key),
        cert: Certificate::from_pem(&std::fs::read(dir.join(&cert)).unwrap()).unwrap(),
        key: SoftKey::from_pkcs8_pem(&std::fs::read(dir.join(&key)).unwrap()).unwrap(),
        email,
    }
}

fn generate(dir: PathBuf) -> Pki {
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("openssl.cnf"), OPENSSL_CONFIG).unwrap();
    run(
        &dir,
        "openssl",
        &[
            "req",
            "-x509",
            "-new",
            "-config",
            "openssl.cnf",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-subj",
            "/CN=Sealmail Test Root",
            "-days",
            "3650",
            "-extensions",
            "ca",
        ],
    );
    run(
        &dir,
        "openssl",
        &[
            "req",
            "-new",
            "-config",
            "openssl.cnf",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "intermediate.key",
            "-out",
            "intermediate.csr",
            "-subj",
            "/CN=Sealmail Test Intermediate",
        ],
    );
    run(
        &dir,
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            "intermediate.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-CAcreateserial",
            "-days",
            "3650",
            "-extfile",
            "openssl.cnf",
            "-extensions",
            "ca",
            "-out",
            "intermediate.pem",
        ],
    );
    let rsa = leaf(
        &dir,
        "alice",
        &["-newkey", "rsa:2048"],
        "rsa_leaf",
        "alice@example.test",
    );
    let p256 = leaf(
        &dir,
        "bob",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "p256_leaf",
        "bob@example.test",
    );
    let p384 = leaf(
        &dir,
        "carol",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        "p384_leaf",
        "carol@example.test",
    );
    Pki {
        root_path: dir.join("root.pem"),
        intermediate_path: dir.join("intermediate.pem"),
        intermediate: Certificate::from_pem(&std::fs::read(dir.join("intermediate.pem")).unwrap())
            .unwrap(),
        dir,
        rsa,
        p256,
        p384,
    }
}

/// The PKI of this test binary, generated once.
pub fn pki(binary: &str) -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        // One folder per process: two runs sharing a target directory (CI and a developer, or
        // two worktrees) must not rebuild each other's keys under their feet.
        let name = format!("{binary}-pki-{}", std::process::id());
        generate(Path::new(env!("CARGO_TARGET_TMPDIR")).join(name))
    })
}

/// A fresh scratch directory inside the PKI directory, for one test's files.
pub fn scratch(pki: &Pki, name: &str) -> PathBuf {
    let dir = pki.dir.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// A small MIME message in canonical form.
pub const MESSAGE: &[u8] = b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: test\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nHello Bob,\r\nthis is signed.\r\n";
pub const ENTITY: &[u8] =
    b"Content-Type: text/plain; charset=us-ascii\r\n\r\nHello Bob,\r\nthis is signed.\r\n";
