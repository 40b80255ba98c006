//! `sealmail smime sign|verify|encrypt|decrypt`: the S/MIME engine from the command line, for
//! admins troubleshooting mail and for interop tests against openssl and gpgsm.
//!
//! `--in` is an RFC 5322 message or a bare MIME entity. The engine keeps transport header
//! fields (From, To, Subject, …) outside the protected entity and protects the Content-* fields
//! and the body. Keys come from PKCS#12 files ([`smime::pkcs12`]); certificates, trust anchors
//! and CRLs from PEM or DER files, several per file allowed.
//!
//! Exit codes: 0 success (for `verify`: the message is valid); 1 `verify` found the message
//! invalid (one `invalid: <reason>` line on stdout); 2 the command failed (one `sealmail smime:
//! …` line on stderr: unreadable file, wrong password, no matching key, …).
//!
//! Revocation in `verify`: checked only when `--crl` files are given, and then for every
//! certificate of the path (a missing CRL makes the result `invalid: revocation-unknown`).
//! Without `--crl` nothing is fetched and revocation is not checked; stderr says so.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use smime::algorithms::{ContentEncryption, DigestAlgorithm, KeyTransport};
use smime::envelope::{EncryptOptions, RecipientIdKind};
use smime::pkcs12::{Pkcs12, Pkcs12Error};
use smime::sign::{SignOptions, SignedFormat};
use smime::verify::{SignerProblem, SignerResult};
use smime::wrap::Layer;
use smime::{Certificate, Decryptor};

#[derive(Debug, clap::Args)]
pub struct SmimeArgs {
    #[command(subcommand)]
    pub command: SmimeCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum SmimeCommand {
    /// Sign a message with the key and certificate of a PKCS#12 file.
    Sign(SignArgs),
    /// Verify a signed message; prints `valid` or `invalid: <reason>`, exits 0 only when valid.
    Verify(VerifyArgs),
    /// Encrypt a message to one or more recipient certificates.
    Encrypt(EncryptArgs),
    /// Decrypt a message (any nesting of signed and encrypted layers) and write the inner entity.
    Decrypt(DecryptArgs),
}

/// The PKCS#12 key file and its password.
#[derive(clap::Args)]
pub struct KeyArgs {
    /// PKCS#12 (.p12/.pfx) file with the private key and its certificate.
    #[arg(long, value_name = "FILE")]
    pub p12: PathBuf,
    /// Password of the PKCS#12 file (or set SEALMAIL_P12_PASS, which keeps it out of `ps`).
    #[arg(
        long,
        value_name = "PW",
        env = "SEALMAIL_P12_PASS",
        hide_env_values = true
    )]
    pub pass: String,
}

// By hand, so the file's password never reaches a `{:?}` in a log line or a panic message.
impl std::fmt::Debug for KeyArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyArgs")
            .field("p12", &self.p12)
            .field("pass", &"***")
            .finish()
    }
}

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The message (RFC 5322) or bare MIME entity to sign.
    #[arg(long = "in", value_name = "FILE")]
    pub input: PathBuf,
    /// Where the signed message goes.
    #[arg(long = "out", value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub key: KeyArgs,
    /// Opaque signing (application/pkcs7-mime) instead of multipart/signed.
    #[arg(long)]
    pub opaque: bool,
    /// Carry the other certificates of the PKCS#12 file (the chain) in the signature.
    #[arg(long)]
    pub chain: bool,
    /// Digest algorithm.
    #[arg(long, value_enum, default_value_t = Md::Sha256)]
    pub md: Md,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Md {
    Sha256,
    Sha384,
    Sha512,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The signed message (multipart/signed or application/pkcs7-mime).
    #[arg(long = "in", value_name = "FILE")]
    pub input: PathBuf,
    /// Trust anchors (PEM or DER; repeatable). Without it only the cryptography is checked.
    #[arg(long, value_name = "FILE")]
    pub trust: Vec<PathBuf>,
    /// CRLs (PEM or DER; repeatable). Given any, revocation is checked for the whole path.
    #[arg(long, value_name = "FILE")]
    pub crl: Vec<PathBuf>,
    /// Further untrusted certificates (PEM or DER; repeatable): the signer's own when the
    /// message carries none (as `openssl cms -verify -certfile`), and path-building material.
    #[arg(long, value_name = "FILE")]
    pub certs: Vec<PathBuf>,
    /// Validate at this time (RFC 3339, e.g. 2030-01-01T00:00:00Z) instead of now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct EncryptArgs {
    /// The message (RFC 5322) or bare MIME entity to encrypt.
    #[arg(long = "in", value_name = "FILE")]
    pub input: PathBuf,
    /// Where the encrypted message goes.
    #[arg(long = "out", value_name = "FILE")]
    pub output: PathBuf,
    /// Recipient certificate files (PEM or DER; each may hold several certificates).
    #[arg(long, value_name = "CERT", required = true, num_args = 1..)]
    pub to: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Cipher::Aes256Cbc)]
    pub cipher: Cipher,
    /// RSAES-OAEP with SHA-256 instead of PKCS#1 v1.5 for RSA recipients.
    #[arg(long)]
    pub oaep: bool,
    /// Name recipients by subjectKeyIdentifier instead of issuer and serial number.
    #[arg(long)]
    pub keyid: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Cipher {
    #[value(name = "aes-256-gcm")]
    Aes256Gcm,
    #[value(name = "aes-128-gcm")]
    Aes128Gcm,
    #[value(name = "aes-256-cbc")]
    Aes256Cbc,
    #[value(name = "aes-128-cbc")]
    Aes128Cbc,
}

#[derive(Debug, clap::Args)]
pub struct DecryptArgs {
    /// The encrypted (or triple-wrapped) message.
    #[arg(long = "in", value_name = "FILE")]
    pub input: PathBuf,
    /// Where the innermost entity goes.
    #[arg(long = "out", value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub key: KeyArgs,
}

/// Why a command could not do its job (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Pkcs12 { path: PathBuf, source: Pkcs12Error },
    #[error("{path}: {what}")]
    BadFile { path: PathBuf, what: String },
    #[error("--at {0}: not an RFC 3339 time (like 2030-01-01T00:00:00Z)")]
    BadTime(String),
    #[error(
        "no matching key: the message is not encrypted to the certificate in {0} (or it is damaged)"
    )]
    NoMatchingKey(PathBuf),
    #[error("the message is not encrypted")]
    NotEncrypted,
    #[error("a signature layer does not verify: {0}")]
    BadSignatureLayer(&'static str),
    #[error("{0}")]
    Smime(#[from] smime::Error),
}

pub fn run(args: SmimeArgs) -> ExitCode {
    let result = match args.command {
        SmimeCommand::Sign(args) => sign(&args).map(|()| ExitCode::SUCCESS),
        SmimeCommand::Verify(args) => verify(&args),
        SmimeCommand::Encrypt(args) => encrypt(&args).map(|()| ExitCode::SUCCESS),
        SmimeCommand::Decrypt(args) => decrypt(&args).map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        eprintln!("sealmail smime: {e}");
        ExitCode::from(2)
    })
}

fn sign(args: &SignArgs) -> Result<(), CliError> {
    let message = read(&args.input)?;
    let identity = load_p12(&args.key)?;
    let options = SignOptions {
        format: if args.opaque {
            SignedFormat::Opaque
        } else {
            SignedFormat::Clear
        },
        digest: Some(match args.md {
            Md::Sha256 => DigestAlgorithm::Sha256,
            Md::Sha384 => DigestAlgorithm::Sha384,
            Md::Sha512 => DigestAlgorithm::Sha512,
        }),
        signing_time: Some(now()),
        extra_certificates: if args.chain {
            identity.chain.clone()
        } else {
            Vec::new()
        },
        capabilities: ContentEncryption::STRONGEST_FIRST.to_vec(),
        ..SignOptions::default()
    };
    let signed = smime::sign(
        &message,
        &identity.certificate,
        &identity.key,
        &options,
        &mut rng(),
    )?;
    write(&args.output, &signed)
}

fn encrypt(args: &EncryptArgs) -> Result<(), CliError> {
    let message = read(&args.input)?;
    let mut recipients = Vec::new();
    for path in &args.to {
        recipients.extend(load_certificates(path)?.into_iter().map(|(cert, _)| cert));
    }
    let options = EncryptOptions {
        algorithm: match args.cipher {
            Cipher::Aes256Gcm => ContentEncryption::Aes256Gcm,
            Cipher::Aes128Gcm => ContentEncryption::Aes128Gcm,
            Cipher::Aes256Cbc => ContentEncryption::Aes256Cbc,
            Cipher::Aes128Cbc => ContentEncryption::Aes128Cbc,
        },
        key_transport: if args.oaep {
            KeyTransport::RsaOaep(DigestAlgorithm::Sha256)
        } else {
            KeyTransport::RsaPkcs1v15
        },
        recipient_id: if args.keyid {
            RecipientIdKind::SubjectKeyIdentifier
        } else {
            RecipientIdKind::IssuerAndSerial
        },
        protect_headers: false,
    };
    let encrypted = smime::encrypt(&message, &recipients, &options, &mut rng())?;
    write(&args.output, &encrypted)
}

fn decrypt(args: &DecryptArgs) -> Result<(), CliError> {
    let message = read(&args.input)?;
    let identity = load_p12(&args.key)?;
    let keys: [(&Certificate, &dyn Decryptor); 1] = [(&identity.certificate, &identity.key)];
    let opened = match smime::wrap::open(&message, &keys, &mut rng()) {
        Ok(opened) => opened,
        Err(smime::Error::DecryptionFailed) => {
            return Err(CliError::NoMatchingKey(args.key.p12.clone()));
        }
        Err(e) => return Err(e.into()),
    };
    if !opened.is_encrypted() {
        return Err(CliError::NotEncrypted);
    }
    // Every signature layer (inner and outer of a triple wrap) must hold cryptographically;
    // trust in the signer is `verify`'s business.
    for layer in &opened.layers {
        if let Layer::Signed { signers, .. } = layer
            && let Some(reason) = first_crypto_failure(signers)
        {
            return Err(CliError::BadSignatureLayer(reason));
        }
    }
    write(&args.output, &opened.entity)
}

fn verify(args: &VerifyArgs) -> Result<ExitCode, CliError> {
    let message = read(&args.input)?;
    let time = match &args.at {
        Some(text) => parse_time(text)?,
        None => i64::try_from(now().as_secs()).unwrap_or(i64::MAX),
    };
    let mut trust = Vec::new();
    for path in &args.trust {
        trust.extend(load_certificates(path)?.into_iter().map(|(_, pki)| pki));
    }
    // Like `openssl cms -verify -certfile`: the signer's certificate when the message carries
    // none (`-nocerts`), and untrusted path-building material either way.
    let mut candidates = Vec::new();
    let mut intermediates = Vec::new();
    for path in &args.certs {
        for (cert, pki) in load_certificates(path)? {
            candidates.push(cert);
            intermediates.push(pki);
        }
    }
    let mut crls = Vec::new();
    for path in &args.crl {
        crls.extend(load_crls(path)?);
    }

    let verification = match smime::verify::verify_with_candidates(&message, &candidates) {
        Ok(v) => v,
        Err(smime::Error::NotSmime | smime::Error::UnexpectedContentType { .. }) => {
            return Ok(invalid("not-signed"));
        }
        Err(e) => {
            eprintln!("sealmail smime: {e}");
            return Ok(invalid("malformed"));
        }
    };
    if let Some(reason) = check_signers(&verification.signers) {
        return Ok(invalid(reason));
    }
    if trust.is_empty() {
        eprintln!("note: no --trust given: cryptographic checks only, the chain was not validated");
    } else {
        if crls.is_empty() {
            eprintln!("note: no --crl given: revocation was not checked");
        }
        // Certificates carried in the message are untrusted path-building material, like --certs.
        intermediates.extend(
            verification
                .certificates
                .iter()
                .filter_map(|c| pki::Certificate::from_der(c.der()).ok()),
        );
        let inputs = pki::Inputs {
            trust_anchors: &trust,
            intermediates: &intermediates,
            crls: &crls,
            time,
            usage: pki::Usage::Sign,
            // The signer was compared with From already; the path is validated for whatever
            // addresses the certificate carries.
            email: None,
            untrusted: &[],
            check_revocation: !crls.is_empty(),
        };
        if let Some(reason) = validate_signers(&verification.signers, &inputs) {
            return Ok(invalid(reason));
        }
    }
    println!("valid");
    Ok(ExitCode::SUCCESS)
}

/// The cryptographic and sender checks of every signer; the first failure as a reason token.
fn check_signers(signers: &[SignerResult]) -> Option<&'static str> {
    if signers.is_empty() {
        return Some("no-signers");
    }
    for signer in signers {
        if let Some(cert) = &signer.certificate {
            eprintln!("signer: {}", describe(cert));
        }
        if let Some(reason) = crypto_failure(signer) {
            return Some(reason);
        }
        // SHA-1 signatures can be forged by collision: never report them valid.
        if signer.weak_algorithm {
            return Some("weak-algorithm");
        }
        match signer.matches_from {
            Some(false) => return Some("signer-not-sender"),
            Some(true) => {}
            None => eprintln!("note: no From field; the signer was not compared with the sender"),
        }
    }
    None
}

/// RFC 5280 validation of every signer's certificate; the first failure as a reason token,
/// with the validator's detail (and any missing CRLs) on stderr.
fn validate_signers(signers: &[SignerResult], inputs: &pki::Inputs<'_>) -> Option<&'static str> {
    for signer in signers {
        let Some(cert) = &signer.certificate else {
            return Some("signer-certificate-missing");
        };
        let verdict = pki::validate(cert.der(), inputs);
        if let pki::Status::Invalid(reason) = verdict.status {
            if !verdict.detail.is_empty() {
                eprintln!("detail: {}", verdict.detail);
            }
            if let pki::Revocation::Unknown { missing } = &verdict.revocation {
                for crl in missing {
                    eprintln!("missing: {crl}");
                }
            }
            return Some(reason_token(reason));
        }
    }
    None
}

/// The first cryptographic failure among a layer's signers, as a reason token.
fn first_crypto_failure(signers: &[SignerResult]) -> Option<&'static str> {
    if signers.is_empty() {
        return Some("no-signers");
    }
    signers.iter().find_map(crypto_failure)
}

/// Why one signer's cryptography does not hold, as a `verify` reason token.
fn crypto_failure(signer: &SignerResult) -> Option<&'static str> {
    match &signer.problem {
        Some(SignerProblem::CertificateNotFound) => Some("signer-certificate-missing"),
        Some(SignerProblem::BadSignedAttributes) => Some("bad-signed-attributes"),
        Some(
            SignerProblem::UnsupportedDigest(_)
            | SignerProblem::UnsupportedSignatureAlgorithm(_)
            | SignerProblem::UnsupportedKey,
        ) => Some("unsupported-algorithm"),
        // The content no longer hashes to what was signed.
        None if !signer.digest_ok => Some("content-altered"),
        None if !signer.signature_ok => Some("bad-signature"),
        None => None,
    }
}

fn invalid(reason: &str) -> ExitCode {
    println!("invalid: {reason}");
    ExitCode::FAILURE
}

/// Stable, script-friendly words for the validator's reasons.
fn reason_token(reason: pki::Reason) -> &'static str {
    use pki::Reason::*;
    match reason {
        UntrustedIssuer => "untrusted",
        Distrusted => "distrusted",
        Expired => "expired",
        NotYetValid => "not-yet-valid",
        Revoked => "revoked",
        RevocationUnknown => "revocation-unknown",
        WrongUsage => "wrong-usage",
        EmailMismatch => "email-mismatch",
        BadSignature => "bad-chain-signature",
        NotACa => "not-a-ca",
        PathTooLong => "path-too-long",
        NameConstraints => "name-constraints",
        Policy => "policy",
        UnknownCriticalExtension => "unknown-critical-extension",
        Malformed => "malformed-certificate",
    }
}

fn describe(cert: &Certificate) -> String {
    let subject = cert.x509().tbs_certificate().subject().to_string();
    match cert.email_addresses().first() {
        Some(email) => format!("{email} ({subject})"),
        None => subject,
    }
}

// --- files, keys, time -----------------------------------------------------------------------

fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|source| CliError::Read {
        path: path.to_owned(),
        source,
    })
}

fn write(path: &Path, data: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, data).map_err(|source| CliError::Write {
        path: path.to_owned(),
        source,
    })
}

fn load_p12(args: &KeyArgs) -> Result<Pkcs12, CliError> {
    let file = read(&args.p12)?;
    smime::pkcs12::parse(&file, &args.pass).map_err(|source| CliError::Pkcs12 {
        path: args.p12.clone(),
        source,
    })
}

/// What a certificate or CRL file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Certificate,
    Crl,
}

/// The DER objects of one kind in a PEM file (other blocks are skipped) or a DER file (one or
/// more concatenated elements).
fn der_objects(path: &Path, kind: Kind) -> Result<Vec<Vec<u8>>, CliError> {
    let data = read(path)?;
    let bad = |what: String| CliError::BadFile {
        path: path.to_owned(),
        what,
    };
    let text_start = data.iter().position(|b| !b.is_ascii_whitespace());
    let is_pem = text_start.is_some_and(|i| data[i..].starts_with(b"-----BEGIN"));
    if !is_pem {
        let elements =
            smime::ber::parse_all(&data).map_err(|e| bad(format!("not PEM or DER: {e}")))?;
        return Ok(elements.into_iter().map(|e| e.raw.to_vec()).collect());
    }
    let mut out = Vec::new();
    for item in rustls_pemfile::read_all(&mut data.as_slice()) {
        match (item.map_err(|e| bad(format!("bad PEM: {e:?}")))?, kind) {
            (rustls_pemfile::Item::X509Certificate(der), Kind::Certificate) => {
                out.push(der.to_vec())
            }
            (rustls_pemfile::Item::Crl(der), Kind::Crl) => out.push(der.to_vec()),
            _ => {}
        }
    }
    Ok(out)
}

/// Certificates in both forms: the engine's and the validator's.
fn load_certificates(path: &Path) -> Result<Vec<(Certificate, pki::Certificate)>, CliError> {
    let objects = der_objects(path, Kind::Certificate)?;
    if objects.is_empty() {
        return Err(CliError::BadFile {
            path: path.to_owned(),
            what: "no certificate in it".into(),
        });
    }
    objects
        .iter()
        .map(|der| {
            let bad = |e: &dyn std::fmt::Display| CliError::BadFile {
                path: path.to_owned(),
                what: format!("unreadable certificate: {e}"),
            };
            let cert = Certificate::from_der(der).map_err(|e| bad(&e))?;
            let parsed = pki::Certificate::from_der(der).map_err(|e| bad(&e))?;
            Ok((cert, parsed))
        })
        .collect()
}

fn load_crls(path: &Path) -> Result<Vec<pki::crl::Crl>, CliError> {
    let objects = der_objects(path, Kind::Crl)?;
    if objects.is_empty() {
        return Err(CliError::BadFile {
            path: path.to_owned(),
            what: "no CRL in it".into(),
        });
    }
    objects
        .iter()
        .map(|der| {
            pki::crl::Crl::from_der(der).map_err(|e| CliError::BadFile {
                path: path.to_owned(),
                what: format!("unreadable CRL: {e}"),
            })
        })
        .collect()
}

/// Now, from the system clock (the engine has none; it takes the time as an argument).
fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn parse_time(text: &str) -> Result<pki::UnixTime, CliError> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| CliError::BadTime(text.to_owned()))
}

fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}
