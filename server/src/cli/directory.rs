//! `sealmail directory import|list`: fills the certificate directory from admin exports.
//!
//! `import --email ADDR FILE…` adds the certificates of PEM, DER or PKCS#7 (.p7b) files to one
//! person (created if new); `import --ldif FILE` loads people and distribution lists from an
//! LDIF export, replacing the certificates of every person it names. `list --address L
//! --member M…` creates or replaces a distribution list. Both attributes, `userCertificate` and
//! `userSMIMECertificate`, are always written from the same certificate set.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::directory::import::{self, CertificateSet};
use crate::directory::{Directory, Person, USER_CERTIFICATE, lookup, normalize};
use pki::Certificate;

#[derive(Debug, clap::Args)]
pub struct DirectoryArgs {
    /// The server's configuration: its database is where the work is done.
    #[command(flatten)]
    pub config: super::ConfigFile,
    #[command(subcommand)]
    pub command: DirectoryCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum DirectoryCommand {
    /// Import certificates for one person (FILEs) or a whole LDIF export (--ldif).
    Import(ImportArgs),
    /// Create or replace a distribution list.
    List(ListArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// An LDIF export (userCertificate;binary, userSMIMECertificate;binary, groups).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["email", "files"])]
    pub ldif: Option<PathBuf>,
    /// The person's primary address.
    #[arg(long, value_name = "ADDR", required_unless_present = "ldif")]
    pub email: Option<String>,
    /// Display name (default: the address, or the name already stored).
    #[arg(long)]
    pub name: Option<String>,
    /// Alias (proxy) addresses (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub alias: Vec<String>,
    /// Certificate files: PEM, DER or PKCS#7 (.p7b).
    pub files: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[arg(long, value_name = "ADDR")]
    pub address: String,
    #[arg(long)]
    pub name: Option<String>,
    /// Members: people, other lists or outside addresses (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub member: Vec<String>,
}

pub fn run(args: DirectoryArgs) -> ExitCode {
    let result = super::with_database(&args.config.path, |_, db| async move {
        let directory = Directory::new(db);
        match args.command {
            DirectoryCommand::Import(a) => import_command(&directory, a).await,
            DirectoryCommand::List(a) => {
                let name = a.name.clone().unwrap_or_else(|| a.address.clone());
                directory
                    .upsert_list(&a.address, &name, &a.member)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(vec![format!(
                    "list {} with {} members",
                    normalize(&a.address),
                    a.member.len()
                )])
            }
        }
    });
    super::finish("directory", result)
}

/// Runs an import and returns the lines to print.
pub async fn import_command(
    directory: &Directory,
    args: ImportArgs,
) -> Result<Vec<String>, String> {
    if let Some(path) = &args.ldif {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        return import_ldif(directory, &text)
            .await
            .map_err(|e| format!("{}: {e}", path.display()));
    }
    let Some(email) = &args.email else {
        return Err("--email or --ldif is required".into());
    };
    let mut set = CertificateSet::default();
    for path in &args.files {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        set.add_file_bytes(&bytes)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let existing = directory.person(email).await.map_err(|e| e.to_string())?;
    let mut aliases: Vec<String> = existing
        .as_ref()
        .map(|p| p.aliases.clone())
        .unwrap_or_default();
    aliases.extend(args.alias.iter().map(|a| normalize(a)));
    aliases.sort();
    aliases.dedup();
    let person = Person {
        address: normalize(email),
        display_name: args
            .name
            .clone()
            .or_else(|| existing.as_ref().map(|p| p.display_name.clone()))
            .unwrap_or_else(|| normalize(email)),
        aliases,
    };
    // An admin import must not file a certificate under someone it was not issued to.
    for c in &set.end_entity {
        if lookup::address_match(c, &person.address, &person.aliases, true).is_none() {
            return Err(format!(
                "the certificate {} is for {}, not {} (add --alias if it is theirs)",
                c.subject(),
                c.email_addresses().join(", "),
                person.address
            ));
        }
    }
    directory
        .upsert_person(&person)
        .await
        .map_err(|e| e.to_string())?;
    let mut ders = directory
        .attribute(&person.address, USER_CERTIFICATE)
        .await
        .map_err(|e| e.to_string())?;
    ders.extend(set.end_entity.iter().map(|c| c.der().to_vec()));
    directory
        .set_certificates(&person.address, &ders)
        .await
        .map_err(|e| e.to_string())?;
    directory
        .add_intermediates(&set.authorities)
        .await
        .map_err(|e| e.to_string())?;
    Ok(vec![format!(
        "{}: {} certificate(s) imported, {} CA certificate(s) kept for chain building",
        person.address,
        set.end_entity.len(),
        set.authorities.len()
    )])
}

/// Imports an LDIF export; returns a summary line and the warnings.
pub async fn import_ldif(directory: &Directory, text: &str) -> Result<Vec<String>, String> {
    let records = import::parse_ldif(text).map_err(|e| e.to_string())?;
    let parsed = import::from_ldif(&records).map_err(|e| e.to_string())?;
    let mut cas: Vec<Certificate> = Vec::new();
    for p in &parsed.people {
        directory
            .upsert_person(&p.person)
            .await
            .map_err(|e| e.to_string())?;
        let ders: Vec<Vec<u8>> = p
            .certificates
            .end_entity
            .iter()
            .map(|c| c.der().to_vec())
            .collect();
        directory
            .set_certificates(&p.person.address, &ders)
            .await
            .map_err(|e| e.to_string())?;
        cas.extend(p.certificates.authorities.iter().cloned());
    }
    directory
        .add_intermediates(&cas)
        .await
        .map_err(|e| e.to_string())?;
    for l in &parsed.lists {
        directory
            .upsert_list(&l.address, &l.display_name, &l.members)
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut lines = vec![format!(
        "{} people, {} lists imported",
        parsed.people.len(),
        parsed.lists.len()
    )];
    lines.extend(parsed.warnings.iter().map(|w| format!("warning: {w}")));
    Ok(lines)
}
