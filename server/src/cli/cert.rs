//! `sealmail cert check`: validates a certificate the way the server does before trusting it.
//!
//! Offline (with `--trust`): only the files given are used — trust anchors, untrusted
//! intermediates, CRLs — and nothing is fetched; a CRL that is needed but not given makes the
//! answer `invalid: The revocation status could not be checked. (missing: URL)`.
//! Live (a server configuration and no `--trust`): the server's trust anchors, untrusted list,
//! directory intermediates, AIA and CRL cache are used, and missing CRLs are fetched.
//!
//! Prints `valid` or `invalid: <reason>`; exit 0 only when valid, 1 when invalid, 2 when the
//! command could not run (unreadable file, bad time).
//!
//! `sealmail cert expiring`: the directory's certificates (the organisation's digital IDs) that
//! run out within `--days`, soonest first, so an admin can have them renewed in time. Exit 0 when
//! there are none, 1 when there are some (for a monitoring job), 2 when it could not run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::trust::{self, Checked, Checker};
use pki::{self, Certificate, Usage, containers};

#[derive(Debug, clap::Args)]
pub struct CertArgs {
    #[command(subcommand)]
    pub command: CertCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum CertCommand {
    /// Validate a certificate; prints `valid` or `invalid: <reason>`, exits 0 only when valid.
    Check(CheckArgs),
    /// List the directory's certificates that expire within --days (exit 1 when there are some).
    Expiring(ExpiringArgs),
}

#[derive(Debug, clap::Args)]
pub struct ExpiringArgs {
    /// How far ahead to look, in days.
    #[arg(long, default_value_t = crate::policy::RENEWAL_NOTICE_DAYS)]
    pub days: u32,
    /// The server's configuration: its database holds the directory.
    #[command(flatten)]
    pub config: super::ConfigFile,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum UsageArg {
    Sign,
    Encrypt,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The certificate to check (PEM or DER; the first certificate in the file).
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,
    /// Trust anchors: a file or a folder of PEM/DER files (repeatable).
    #[arg(long, value_name = "FILE|DIR")]
    pub trust: Vec<PathBuf>,
    /// Untrusted intermediates for chain building (repeatable).
    #[arg(long, value_name = "FILE|DIR")]
    pub certs: Vec<PathBuf>,
    /// CRLs (repeatable). Offline, revocation is checked and a missing CRL is reported.
    #[arg(long, value_name = "FILE|DIR")]
    pub crl: Vec<PathBuf>,
    /// The address the certificate must be for.
    #[arg(long, value_name = "ADDR")]
    pub email: Option<String>,
    /// What the key will be used for (default: no key usage requirement).
    #[arg(long, value_enum)]
    pub usage: Option<UsageArg>,
    /// Validate at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Server configuration: without --trust, validate as the running server would.
    #[arg(long, env = "SEALMAIL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {what}")]
    BadFile { path: PathBuf, what: String },
    #[error("--at {0}: not an RFC 3339 time (like 2030-01-01T00:00:00Z)")]
    BadTime(String),
    #[error("no --trust given and no server configuration (--config or SEALMAIL_CONFIG)")]
    NoTrust,
    #[error("{0}")]
    Server(String),
}

pub fn run(args: CertArgs) -> ExitCode {
    match args.command {
        CertCommand::Expiring(args) => match expiring(&args, crate::db::now()) {
            Ok(found) if found.is_empty() => {
                println!(
                    "no certificate in the directory expires within {} days",
                    args.days
                );
                ExitCode::SUCCESS
            }
            Ok(found) => {
                for line in found {
                    println!("{line}");
                }
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("sealmail cert: {e}");
                ExitCode::from(2)
            }
        },
        CertCommand::Check(args) => match check(&args) {
            Ok(checked) if checked.is_valid() => {
                println!("valid");
                ExitCode::SUCCESS
            }
            Ok(checked) => {
                println!("invalid: {}", checked.reason());
                if !checked.verdict.detail.is_empty() {
                    eprintln!("detail: {}", checked.verdict.detail);
                }
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("sealmail cert: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CheckError> {
    std::fs::read(path).map_err(|source| CheckError::Read {
        path: path.to_owned(),
        source,
    })
}

fn certificates(paths: &[PathBuf]) -> Result<Vec<Certificate>, CheckError> {
    let mut out = Vec::new();
    for path in paths {
        out.extend(
            trust::load_certificates(path).map_err(|source| CheckError::Read {
                path: path.clone(),
                source,
            })?,
        );
    }
    Ok(out)
}

/// Validates as the arguments say; `Ok` carries the verdict whatever it is.
pub fn check(args: &CheckArgs) -> Result<Checked, CheckError> {
    let bytes = read(&args.cert)?;
    let bad = |what: String| CheckError::BadFile {
        path: args.cert.clone(),
        what,
    };
    let der = containers::certificates_in(&bytes)
        .map_err(|e| bad(format!("no certificate could be read: {e}")))?
        .into_iter()
        .next()
        .ok_or_else(|| bad("no certificate in it".into()))?;
    let time = match &args.at {
        Some(text) => {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map(|t| t.unix_timestamp())
                .map_err(|_| CheckError::BadTime(text.clone()))?
        }
        None => crate::db::now(),
    };
    let usage = match args.usage {
        Some(UsageArg::Sign) => Usage::Sign,
        Some(UsageArg::Encrypt) => Usage::Encrypt,
        None => Usage::Any,
    };
    let intermediates = certificates(&args.certs)?;
    if args.trust.is_empty() {
        let Some(config_path) = &args.config else {
            return Err(CheckError::NoTrust);
        };
        return live(
            config_path,
            &der,
            &intermediates,
            usage,
            args.email.as_deref(),
            time,
        );
    }
    let anchors = certificates(&args.trust)?;
    let mut crls = Vec::new();
    for path in &args.crl {
        crls.extend(trust::load_crls(path).map_err(|source| CheckError::Read {
            path: path.clone(),
            source,
        })?);
    }
    let verdict = pki::validate(
        &der,
        &pki::Inputs {
            trust_anchors: &anchors,
            intermediates: &intermediates,
            crls: &crls,
            time,
            usage,
            email: args.email.as_deref(),
            untrusted: &[],
            check_revocation: true,
        },
    );
    Ok(Checked {
        verdict,
        problems: Vec::new(),
    })
}

fn live(
    config_path: &Path,
    der: &[u8],
    carried: &[Certificate],
    usage: Usage,
    email: Option<&str>,
    time: pki::UnixTime,
) -> Result<Checked, CheckError> {
    let cert = Certificate::from_der(der).map_err(|e| CheckError::BadFile {
        path: PathBuf::from("--cert"),
        what: e.to_string(),
    })?;
    super::with_database(config_path, |config, db| async move {
        let checker = Checker::from_config(&config.pki, db).map_err(|e| e.to_string())?;
        Ok(checker.check(&cert, carried, usage, email, time).await)
    })
    .map_err(CheckError::Server)
}

/// One line per directory certificate that runs out before `now` + `args.days`, soonest first:
/// address, the day it expires and how long is left, its subject and SHA-256 fingerprint.
pub fn expiring(args: &ExpiringArgs, now: i64) -> Result<Vec<String>, CheckError> {
    let stored = super::with_database(&args.config.path, |_, db| async move {
        crate::directory::Directory::new(db)
            .everyones_certificates()
            .await
            .map_err(|e| e.to_string())
    })
    .map_err(CheckError::Server)?;
    let horizon = now.saturating_add(i64::from(args.days) * 86_400);
    let mut soon: Vec<(i64, String)> = stored
        .iter()
        .filter_map(|(address, der)| {
            // An unreadable stored value is not a digital ID anyone can use; skip it.
            let cert = Certificate::from_der(der).ok()?;
            let end = cert.not_after();
            (end < horizon).then(|| {
                let left = if end <= now {
                    "expired".to_string()
                } else {
                    let days = (end - now + 86_399) / 86_400;
                    format!("in {days} day{}", if days == 1 { "" } else { "s" })
                };
                let line = format!(
                    "{address}  expires {} ({left})  {}  sha256:{}",
                    day(end),
                    cert.subject(),
                    crate::directory::fingerprint_hex(&cert)
                );
                (end, line)
            })
        })
        .collect();
    soon.sort();
    Ok(soon.into_iter().map(|(_, line)| line).collect())
}

/// A Unix time as its UTC day, 2026-12-31.
fn day(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| unix.to_string())
}
