//! Certificate validation figures: `cargo bench -p sealmail-pki --bench validation`.
//!
//! Builds root → intermediate → S/MIME leaf with `openssl`, plus a 100,000-entry CRL from the
//! intermediate, then prints how long it takes to parse that CRL once and to validate the
//! cached (already parsed) chain with revocation checking on, and the memory the parsed CRL
//! holds (a counting allocator). Targets from issue 4: cached-chain validation ≤ 1 ms; CRL
//! lookups O(1) once parsed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pki::{Certificate, Inputs, Status, Usage, crl::Crl};

const REVOKED: usize = 100_000;

/// The system allocator, counting live bytes and their peak, so the bench can say how much
/// memory a parsed CRL holds and how much parsing it needs at most. (A global allocator is
/// unsafe by its trait; this bench is the one place the workspace allows it.)
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed to run this benchmark");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).expect("openssl output")
}

/// A CA directory for `openssl ca -gencrl` whose database lists `revoked` serials.
fn ca_config(dir: &Path, name: &str, revoked: usize) {
    let mut index = String::with_capacity(revoked * 64);
    for serial in 0..revoked {
        index.push_str(&format!(
            "R\t301231000000Z\t240101000000Z,keyCompromise\t{:08X}\tunknown\t/CN=revoked {serial}\n",
            serial + 0x1000
        ));
    }
    std::fs::write(dir.join(format!("{name}.index")), index).expect("write index");
    std::fs::write(
        dir.join(format!("{name}.index.attr")),
        "unique_subject = no\n",
    )
    .expect("attr");
    let conf = format!(
        "[ca]\ndefault_ca = ca\n[ca]\ndatabase = {name}.index\ncertificate = {name}.pem\n\
         private_key = {name}.key\ndefault_md = sha256\ndefault_crl_days = 30\n\
         crlnumber = {name}.crlnumber\n"
    );
    std::fs::write(dir.join(format!("{name}.cnf")), conf).expect("write config");
    std::fs::write(dir.join(format!("{name}.crlnumber")), "01\n").expect("crlnumber");
}

fn build_pki(dir: &Path) {
    std::fs::write(
        dir.join("ext.cnf"),
        "[ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n\
         [leaf]\nkeyUsage = critical,digitalSignature,nonRepudiation\n\
         extendedKeyUsage = emailProtection\nsubjectAltName = email:alice@example.test\n\
         crlDistributionPoints = URI:http://crl.example.test/inter.crl\n",
    )
    .expect("write ext");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-subj",
            "/CN=Bench Root",
            "-days",
            "3650",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "inter.key",
            "-out",
            "inter.csr",
            "-subj",
            "/CN=Bench Intermediate",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "inter.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-set_serial",
            "2",
            "-days",
            "3650",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "ca",
            "-out",
            "inter.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=alice@example.test",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "inter.pem",
            "-CAkey",
            "inter.key",
            "-set_serial",
            "3",
            "-days",
            "365",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "leaf",
            "-out",
            "leaf.pem",
        ],
    );
    ca_config(dir, "root", 0);
    ca_config(dir, "inter", REVOKED);
    for name in ["root", "inter"] {
        openssl(
            dir,
            &[
                "ca",
                "-config",
                &format!("{name}.cnf"),
                "-gencrl",
                "-out",
                &format!("{name}.crl.pem"),
            ],
        );
        openssl(
            dir,
            &[
                "crl",
                "-in",
                &format!("{name}.crl.pem"),
                "-outform",
                "der",
                "-out",
                &format!("{name}.crl"),
            ],
        );
    }
    for name in ["root", "inter", "leaf"] {
        openssl(
            dir,
            &[
                "x509",
                "-in",
                &format!("{name}.pem"),
                "-outform",
                "der",
                "-out",
                &format!("{name}.der"),
            ],
        );
    }
}

/// Median of `runs` timings of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let setup = Instant::now();
    build_pki(dir.path());
    println!(
        "openssl setup (keys, certificates, {REVOKED}-entry CRL): {:.1?}",
        setup.elapsed()
    );

    let big_crl_der = read(dir.path(), "inter.crl");
    let parse = median(5, || {
        let list = Crl::from_der(&big_crl_der).expect("parse CRL");
        assert_eq!(list.len(), REVOKED);
    });
    println!(
        "parse a {REVOKED}-entry CRL ({} KiB) once: {parse:.1?}",
        big_crl_der.len() / 1024
    );
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let held = Crl::from_der(&big_crl_der).expect("parse CRL");
    let kept = LIVE.load(Ordering::Relaxed) - before;
    let peak = PEAK.load(Ordering::Relaxed) - before;
    println!(
        "memory: the parsed CRL holds {} KiB ({} bytes per entry); parsing peaked at {} KiB",
        kept / 1024,
        kept / REVOKED,
        peak / 1024
    );
    drop(held);

    let anchors = vec![Certificate::from_der(&read(dir.path(), "root.der")).expect("root")];
    let intermediates = vec![Certificate::from_der(&read(dir.path(), "inter.der")).expect("inter")];
    let leaf = Certificate::from_der(&read(dir.path(), "leaf.der")).expect("leaf");
    let crls = vec![
        Crl::from_der(&read(dir.path(), "root.crl")).expect("root CRL"),
        Crl::from_der(&big_crl_der).expect("inter CRL"),
    ];
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let inputs = Inputs {
        trust_anchors: &anchors,
        intermediates: &intermediates,
        crls: &crls,
        time: now,
        usage: Usage::Sign,
        email: Some("alice@example.test"),
        untrusted: &[],
        check_revocation: true,
    };
    let verdict = pki::validate_certificate(&leaf, &inputs);
    assert_eq!(verdict.status, Status::Valid, "{}", verdict.detail);

    let per_call = median(201, || {
        let v = pki::validate_certificate(&leaf, &inputs);
        assert!(v.is_valid());
    });
    println!(
        "validate cached root → intermediate → leaf, revocation on ({REVOKED}-entry CRL): \
         {per_call:.1?} per call (median of 201)"
    );
    let no_revocation = median(201, || {
        let v = pki::validate_certificate(
            &leaf,
            &Inputs {
                check_revocation: false,
                ..inputs
            },
        );
        assert!(v.is_valid());
    });
    println!("same, revocation off: {no_revocation:.1?} per call");
}
