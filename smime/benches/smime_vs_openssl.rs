//! Sign+encrypt and decrypt+verify of a message with a 10 MiB attachment: the engine against
//! `openssl cms` on the same input, in the same run (RSA-2048, SHA-256, AES-256-GCM and
//! AES-256-CBC). Prints the median of `BENCH_RUNS` runs (default 5) and the ratio engine/openssl.
//!
//! ```sh
//! cargo bench -p sealmail-smime --bench smime_vs_openssl
//! BENCH_RUNS=9 BENCH_MIB=10 cargo bench -p sealmail-smime --bench smime_vs_openssl
//! ```
//!
//! openssl runs as a child process reading and writing files in a temporary directory (its
//! spawn and file I/O are a few milliseconds, counted on its side). The engine's figures are
//! in-process, input and output in memory. Certificate chains are not validated on either
//! side (`-noverify`): the engine does not do it either.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use smime::algorithms::{ContentEncryption, DigestAlgorithm};
use smime::envelope::EncryptOptions;
use smime::sign::SignOptions;
use smime::{Certificate, SoftKey, wrap};

fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// A message with a text part and an `mib` MiB attachment (pseudo-random bytes, base64).
fn message(mib: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut blob = Vec::with_capacity(mib << 20);
    while blob.len() < mib << 20 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        blob.extend_from_slice(&state.to_le_bytes());
    }
    let mut m = b"From: Alice <alice@example.test>\r\nTo: alice@example.test\r\nSubject: attachment\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"bench-boundary\"\r\n\r\n\
--bench-boundary\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee the attachment.\r\n\
--bench-boundary\r\nContent-Type: application/octet-stream; name=\"blob.bin\"\r\n\
Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"blob.bin\"\r\n\r\n"
        .to_vec();
    m.extend_from_slice(&smime::mime::encode_base64_lines(&blob));
    m.extend_from_slice(b"--bench-boundary--\r\n");
    m
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm-up: page cache, allocator, lazy init
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(name: &str, engine: Duration, openssl: Duration) {
    println!(
        "{name:<34} engine {:>8.1} ms   openssl {:>8.1} ms   engine/openssl {:>5.2}",
        ms(engine),
        ms(openssl),
        engine.as_secs_f64() / openssl.as_secs_f64()
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing useful either: run
    // small and once under test so the bench at least compiles and works there.
    let under_test = !std::env::args().any(|a| a == "--bench");
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let runs = if under_test { 1 } else { env("BENCH_RUNS", 5) };
    let mib = if under_test { 1 } else { env("BENCH_MIB", 10) };

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Alice",
            "-addext",
            "subjectAltName=email:alice@example.test",
            "-addext",
            "extendedKeyUsage=emailProtection",
        ],
    );
    let cert = Certificate::from_pem(&std::fs::read(dir.join("cert.pem")).unwrap()).unwrap();
    let key = SoftKey::from_pkcs8_pem(&std::fs::read(dir.join("key.pem")).unwrap()).unwrap();
    let input = message(mib);
    std::fs::write(dir.join("msg.eml"), &input).unwrap();
    println!(
        "message {:.1} MB ({mib} MiB attachment), RSA-2048, SHA-256, median of {runs} runs",
        input.len() as f64 / 1e6
    );

    let sign_options = SignOptions {
        digest: Some(DigestAlgorithm::Sha256),
        ..SignOptions::default()
    };
    for (label, algorithm, flag) in [
        ("AES-256-GCM", ContentEncryption::Aes256Gcm, "-aes-256-gcm"),
        ("AES-256-CBC", ContentEncryption::Aes256Cbc, "-aes-256-cbc"),
    ] {
        let enc_options = EncryptOptions {
            algorithm,
            ..EncryptOptions::default()
        };
        let recipients = [cert.clone()];
        let mut wrapped = Vec::new();
        let engine_seal = median(runs, || {
            wrapped = wrap::sign_and_encrypt(
                &input,
                &cert,
                &key,
                &sign_options,
                &recipients,
                &enc_options,
                &mut rng(),
            )
            .unwrap();
        });
        let keys = [(&cert, &key as &dyn smime::Decryptor)];
        let engine_open = median(runs, || {
            let opened = wrap::open(&wrapped, &keys, &mut rng()).unwrap();
            assert!(opened.is_encrypted() && opened.all_signatures_valid());
        });

        let sign = [
            "cms",
            "-sign",
            "-in",
            "msg.eml",
            "-signer",
            "cert.pem",
            "-inkey",
            "key.pem",
            "-md",
            "sha256",
            "-out",
            "signed.eml",
        ];
        let encrypt = [
            "cms",
            "-encrypt",
            "-in",
            "signed.eml",
            flag,
            "-out",
            "wrapped.eml",
            "cert.pem",
        ];
        let openssl_seal = median(runs, || {
            openssl(dir, &sign);
            openssl(dir, &encrypt);
        });
        let decrypt = [
            "cms",
            "-decrypt",
            "-in",
            "wrapped.eml",
            "-recip",
            "cert.pem",
            "-inkey",
            "key.pem",
            "-out",
            "unwrapped.eml",
        ];
        let verify = [
            "cms",
            "-verify",
            "-noverify",
            "-in",
            "unwrapped.eml",
            "-out",
            "verified.eml",
        ];
        let openssl_open = median(runs, || {
            openssl(dir, &decrypt);
            openssl(dir, &verify);
        });
        report(&format!("sign+encrypt {label}"), engine_seal, openssl_seal);
        report(
            &format!("decrypt+verify {label}"),
            engine_open,
            openssl_open,
        );
    }
}
