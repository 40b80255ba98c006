//! What the integration tests share.

// Each test program uses part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

/// Run `openssl` in `dir` with `input` on stdin; its stdout. Fails the test with openssl's
/// message if it fails.
pub fn openssl(dir: &Path, args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("openssl")
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
        .expect("openssl runs");
    if let Some(input) = input {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A self-signed CA `name` (`name.key`, `name.pem`) in `dir`, with the extensions of the
/// `[ca]` section of the `openssl.cnf` the test wrote there.
pub fn self_signed_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "30",
            "-subj",
            &format!("/CN={name}"),
            "-config",
            "openssl.cnf",
            "-extensions",
            "ca",
        ],
        None,
    );
}

/// An RSA leaf `name` (`name.key`, `name.pem`) issued by `issuer` (a CA in `dir`) for `subject`,
/// with the extensions of the `section` of the test's `openssl.cnf`.
pub fn leaf(dir: &Path, name: &str, issuer: &str, section: &str, subject: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            subject,
            "-config",
            "openssl.cnf",
        ],
        None,
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{issuer}.pem"),
            "-CAkey",
            &format!("{issuer}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "30",
            "-extfile",
            "openssl.cnf",
            "-extensions",
            section,
        ],
        None,
    );
}
