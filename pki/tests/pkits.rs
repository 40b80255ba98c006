//! NIST PKITS (2048-bit edition) run through `pki::validate`, scored as
//! `tests/data/pkits/README.md` says: with RFC 5280's default inputs and revocation
//! checking on, every `Valid*` end entity must validate and every `Invalid*` one must be
//! rejected (203 end entities). Others depend on non-default inputs and are not scored.
//!
//! `cargo test -p sealmail-pki --test pkits -- --nocapture` prints the agreement count;
//! `PKITS_VERBOSE=1` also prints every verdict with its reason.

use std::path::{Path, PathBuf};

use pki::{Certificate, Inputs, Status, Usage, crl::Crl};

/// End entities on which we knowingly disagree with PKITS, and why. Empty: all 203 agree.
/// The test fails on any disagreement not listed here and on any listed one that is fixed,
/// so the score can only go up.
const EXPECTED_DISAGREEMENTS: &[(&str, &str)] = &[];

/// 2020-01-01T00:00:00Z: inside the 2010–2030 validity of every PKITS certificate and CRL.
const TIME: i64 = 1_577_836_800;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pkits")
}

fn read_dir_sorted(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| {
            let entry = entry.expect("directory entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(entry.path()).expect("read file");
            (name, bytes)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn pkits_default_inputs() {
    let dir = data_dir();
    let cert_files = read_dir_sorted(&dir.join("certs"));
    let crl_files = read_dir_sorted(&dir.join("crls"));

    let anchor_name = "TrustAnchorRootCertificate.crt";
    let mut anchors = Vec::new();
    let mut pool = Vec::new();
    for (name, der) in &cert_files {
        // Every PKITS certificate must at least parse: its flaws are for validation to find.
        let cert = Certificate::from_der(der).unwrap_or_else(|e| panic!("{name}: {e}"));
        if name == anchor_name {
            anchors.push(cert);
        } else {
            pool.push(cert);
        }
    }
    let crls: Vec<Crl> = crl_files
        .iter()
        .map(|(name, der)| Crl::from_der(der).unwrap_or_else(|e| panic!("{name}: {e}")))
        .collect();
    assert_eq!(anchors.len(), 1, "trust anchor missing");

    let inputs = Inputs {
        trust_anchors: &anchors,
        intermediates: &pool,
        crls: &crls,
        time: TIME,
        // PKITS end entities carry digitalSignature: check them as S/MIME signers.
        usage: Usage::Sign,
        email: None,
        untrusted: &[],
        check_revocation: true,
    };

    let mut scored = 0;
    let mut agreed = 0;
    let mut disagreements = Vec::new();
    for (file, der) in &cert_files {
        let expect_valid = if file.starts_with("Valid") {
            true
        } else if file.starts_with("Invalid") {
            false
        } else {
            continue;
        };
        scored += 1;
        let verdict = pki::validate(der, &inputs);
        let valid = verdict.status == Status::Valid;
        let test = file.trim_end_matches(".crt").to_string();
        if std::env::var("PKITS_VERBOSE").is_ok() {
            println!("{test}: {:?} {}", verdict.status, verdict.detail);
        }
        if valid == expect_valid {
            agreed += 1;
        } else {
            println!(
                "DISAGREE {test}: expected {}, got {:?} ({})",
                if expect_valid { "valid" } else { "invalid" },
                verdict.status,
                verdict.detail
            );
            disagreements.push(test);
        }
    }
    println!("PKITS: {agreed}/{scored} scored end entities agree with the expected result");
    assert_eq!(
        scored, 203,
        "the PKITS folder should hold 203 scored end entities"
    );

    let expected: Vec<&str> = EXPECTED_DISAGREEMENTS.iter().map(|(n, _)| *n).collect();
    let unexpected: Vec<&String> = disagreements
        .iter()
        .filter(|d| !expected.contains(&d.as_str()))
        .collect();
    let fixed: Vec<&&str> = expected
        .iter()
        .filter(|e| !disagreements.iter().any(|d| d == *e))
        .collect();
    assert!(
        unexpected.is_empty(),
        "new PKITS disagreements: {unexpected:?}"
    );
    assert!(
        fixed.is_empty(),
        "now agreeing, remove from EXPECTED_DISAGREEMENTS: {fixed:?}"
    );
    assert_eq!(agreed, scored - EXPECTED_DISAGREEMENTS.len());
}
