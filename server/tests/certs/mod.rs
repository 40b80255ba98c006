//! A throw-away CA made with the `openssl` command for the directory and CRL tests: the CRL
//! distribution point must name a port chosen at run time, so the certificates are made then.
#![allow(dead_code)] // each test program uses its own subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pki::Certificate;
use sealmail_server::config::PkiConfig;
use sealmail_server::trust::Checker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs `openssl` in `dir`; a failure fails the test with openssl's own words.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub struct Ca {
    pub dir: tempfile::TempDir,
    pub name: String,
    serial: AtomicUsize,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "3650",
                "-subj",
                &format!("/O=Sealmail Tests/CN={name}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        std::fs::write(d.join("index.txt"), "").unwrap();
        std::fs::write(d.join("crlnumber"), "01\n").unwrap();
        std::fs::write(
            d.join("ca.cnf"),
            "[ca]\ndefault_ca = c\n[c]\ndatabase = index.txt\ncrlnumber = crlnumber\n\
             default_md = sha256\ndefault_crl_days = 30\n",
        )
        .unwrap();
        Self {
            dir,
            name: name.to_string(),
            serial: AtomicUsize::new(100),
        }
    }

    /// A CA certified by `root` instead of self-signed.
    pub fn intermediate(root: &Ca, name: &str) -> Self {
        let ca = Ca::new(name);
        let d = ca.dir.path();
        openssl(
            d,
            &[
                "req",
                "-new",
                "-key",
                "ca.key",
                "-out",
                "ca.csr",
                "-subj",
                &format!("/O=Sealmail Tests/CN={name}"),
            ],
        );
        std::fs::write(
            d.join("ca.ext"),
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
        )
        .unwrap();
        let root_dir = root.dir.path();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "ca.csr",
                "-CA",
                p(&root_dir.join("ca.pem")),
                "-CAkey",
                p(&root_dir.join("ca.key")),
                "-set_serial",
                "7",
                "-days",
                "3650",
                "-extfile",
                "ca.ext",
                "-out",
                "ca.pem",
            ],
        );
        ca
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    pub fn der(&self) -> Vec<u8> {
        pem_to_der(&std::fs::read(self.path("ca.pem")).unwrap())
    }

    pub fn certificate(&self) -> Certificate {
        Certificate::from_der(&self.der()).unwrap()
    }

    /// Issues a leaf; returns the path of its PEM file. `subject_email` goes into the subject,
    /// `san` into subjectAltName; `usage` is the keyUsage list; `crl_url` the distribution point.
    pub fn issue(
        &self,
        file: &str,
        subject_email: Option<&str>,
        san: Option<&str>,
        usage: &str,
        crl_url: Option<&str>,
        days: u32,
    ) -> PathBuf {
        self.issue_with(file, subject_email, san, usage, crl_url, days, "")
    }

    /// [`Ca::issue`] with extra extension lines (`authorityInfoAccess=…`).
    #[allow(clippy::too_many_arguments)]
    pub fn issue_with(
        &self,
        file: &str,
        subject_email: Option<&str>,
        san: Option<&str>,
        usage: &str,
        crl_url: Option<&str>,
        days: u32,
        extra: &str,
    ) -> PathBuf {
        let d = self.dir.path();
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let subj = match subject_email {
            Some(e) => format!("/O=Sealmail Tests/CN={file}/emailAddress={e}"),
            None => format!("/O=Sealmail Tests/CN={file}"),
        };
        openssl(
            d,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &format!("{file}.key"),
                "-out",
                &format!("{file}.csr"),
                "-subj",
                &subj,
            ],
        );
        let mut ext = format!(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,{usage}\nextendedKeyUsage=emailProtection\n"
        );
        if let Some(s) = san {
            ext.push_str(&format!("subjectAltName=email:{s}\n"));
        }
        if let Some(u) = crl_url {
            ext.push_str(&format!("crlDistributionPoints=URI:{u}\n"));
        }
        ext.push_str(extra);
        std::fs::write(d.join(format!("{file}.ext")), ext).unwrap();
        let args: Vec<String> = vec![
            "x509".into(),
            "-req".into(),
            "-in".into(),
            format!("{file}.csr"),
            "-CA".into(),
            "ca.pem".into(),
            "-CAkey".into(),
            "ca.key".into(),
            "-set_serial".into(),
            serial.to_string(),
            "-extfile".into(),
            format!("{file}.ext"),
            "-out".into(),
            format!("{file}.pem"),
            "-days".into(),
            days.to_string(),
        ];
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        openssl(d, &refs);
        d.join(format!("{file}.pem"))
    }

    /// Records the leaf PEM file in the CA's index as valid (`-valid`) or revoked (`-revoke`):
    /// what its CRLs list and what `openssl ocsp` answers from.
    pub fn record(&self, how: &str, leaf: &Path) {
        openssl(
            self.dir.path(),
            &[
                "ca",
                "-config",
                "ca.cnf",
                "-keyfile",
                "ca.key",
                "-cert",
                "ca.pem",
                how,
                leaf.to_str().expect("UTF-8 path"),
            ],
        );
    }

    /// A DER CRL revoking the given leaf PEM files.
    pub fn crl(&self, revoked: &[&Path]) -> Vec<u8> {
        let d = self.dir.path();
        std::fs::write(d.join("index.txt"), "").unwrap();
        for cert in revoked {
            self.record("-revoke", cert);
        }
        openssl(
            d,
            &[
                "ca", "-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.pem", "-gencrl",
                "-out", "crl.pem",
            ],
        );
        openssl(
            d,
            &[
                "crl", "-in", "crl.pem", "-outform", "DER", "-out", "crl.der",
            ],
        );
        std::fs::read(d.join("crl.der")).unwrap()
    }
}

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

pub fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    pki::containers::certificates_in(pem).unwrap().remove(0)
}

pub fn read_cert(path: &Path) -> Certificate {
    Certificate::from_der(&pem_to_der(&std::fs::read(path).unwrap())).unwrap()
}

/// What the little CRL server does with a request.
#[derive(Clone)]
pub enum Behaviour {
    /// 200 with these bytes, after a pause.
    Serve(Vec<u8>, Duration),
    /// Headers promising 1000 bytes, then one byte a second.
    Drip,
    /// 302 to this location.
    Redirect(String),
}

/// A tiny HTTP server on 127.0.0.1 that counts requests.
pub struct CrlServer {
    pub port: u16,
    pub requests: Arc<AtomicUsize>,
    pub behaviour: Arc<std::sync::Mutex<Behaviour>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CrlServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CrlServer {
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let behaviour = Arc::new(std::sync::Mutex::new(behaviour));
        let (count, b) = (requests.clone(), behaviour.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let now = b.lock().unwrap().clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    match now {
                        Behaviour::Serve(body, pause) => {
                            tokio::time::sleep(pause).await;
                            let head = format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            );
                            let _ = sock.write_all(head.as_bytes()).await;
                            let _ = sock.write_all(&body).await;
                        }
                        Behaviour::Redirect(location) => {
                            let head = format!(
                                "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
                            );
                            let _ = sock.write_all(head.as_bytes()).await;
                        }
                        Behaviour::Drip => {
                            let _ = sock
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
                                .await;
                            for _ in 0..1000 {
                                if sock.write_all(b"0").await.is_err() {
                                    return;
                                }
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                        }
                    }
                });
            }
        });
        Self {
            port,
            requests,
            behaviour,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    pub fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// A port with nothing listening.
pub async fn dead_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// The test database: a fresh SQLite file, or `SEALMAIL_TEST_DATABASE_URL` (PostgreSQL run).
pub async fn database(dir: &tempfile::TempDir) -> sealmail_server::db::Pool {
    let url = std::env::var("SEALMAIL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/test.db?mode=rwc", dir.path().display()));
    sealmail_server::db::open(&url)
        .await
        .expect("database opens")
}

pub fn settings(per_url: u64, overall: u64, check_crl: bool) -> PkiConfig {
    PkiConfig {
        revocation_url_retrieval_timeout_seconds: per_url,
        cert_url_retrieval_timeout_seconds: overall,
        check_crl,
        // The test CAs publish their CRLs on loopback.
        fetch_from_private_addresses: true,
        ..PkiConfig::default()
    }
}

pub fn checker(db: &sealmail_server::db::Pool, ca: &Ca, settings: PkiConfig) -> Checker {
    Checker::new(settings, db.clone(), vec![ca.certificate()], Vec::new())
}

/// A unique tag for URLs and addresses, so runs sharing one PostgreSQL never collide.
pub fn unique(label: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{label}{t:x}{}", N.fetch_add(1, Ordering::Relaxed))
}
