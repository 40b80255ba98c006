//! Key recovery on the server: it names the recovery agents, keeps the copies of users'
//! encryption keys the browser made for them, and hands a copy to the admin. The copies are
//! CMS EnvelopedData to the agents: the server can check whom one is for, never open it.
//!
//! Which keys need a copy is the shared rule `send_rules::recovery::needs_archival`, the same
//! the browser follows; `[smime] require_key_archival` makes the server refuse to publish an
//! encryption certificate whose copy it does not hold.

use std::path::Path;

use pki::Certificate;
use sqlx::Row;

use crate::db::Pool;
use crate::directory::normalize;

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("the recovery agents' certificates in {path} cannot be read: {why}")]
    Agents { path: String, why: String },
    #[error("the recovery copy is not an encrypted CMS message")]
    NotEnvelope,
    #[error(
        "the recovery copy is not encrypted to the recovery agent {0}: every agent must be able to open it"
    )]
    MissingAgent(String),
    #[error("the key of {0} only signs: signing keys are never archived")]
    SigningKey(String),
    #[error(
        "your organization keeps a copy of every encryption key for recovery, and none was deposited for {0}: import the digital ID again in this browser"
    )]
    NotArchived(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The recovery agents named in `path` (PEM, DER or PKCS#7), end-entity certificates only.
pub fn agents(path: &Path) -> Result<Vec<Certificate>, RecoveryError> {
    let failed = |why: String| RecoveryError::Agents {
        path: path.display().to_string(),
        why,
    };
    let bytes = std::fs::read(path).map_err(|e| failed(e.to_string()))?;
    let ders = pki::containers::certificates_in(&bytes).map_err(|e| failed(e.to_string()))?;
    let agents = ders
        .iter()
        .map(|der| Certificate::from_der(der).map_err(|e| failed(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|c| !c.is_ca())
        .collect::<Vec<_>>();
    if agents.is_empty() {
        return Err(failed("it holds no agent's certificate".into()));
    }
    Ok(agents)
}

/// Checks that `archive` is EnvelopedData naming every one of `agents` among its recipients
/// (the server cannot check what is inside; the agents find out when they open it).
pub fn check_archive(archive: &[u8], agents: &[Certificate]) -> Result<(), RecoveryError> {
    let envelope =
        smime::decrypt::Envelope::from_cms(archive).map_err(|_| RecoveryError::NotEnvelope)?;
    for agent in agents {
        let agent_smime =
            smime::Certificate::from_der(agent.der()).map_err(|_| RecoveryError::NotEnvelope)?;
        if !envelope
            .recipients()
            .iter()
            .any(|r| r.id.matches(&agent_smime))
        {
            return Err(RecoveryError::MissingAgent(agent.subject()));
        }
    }
    Ok(())
}

/// One deposited copy, as `sealmail recovery export` lists it.
pub struct Deposit {
    pub fingerprint: String,
    pub certificate: Vec<u8>,
    pub archive: Vec<u8>,
    pub deposited_at: i64,
}

/// The deposited copies, in the database.
#[derive(Clone)]
pub struct Archives {
    db: Pool,
}

impl Archives {
    pub fn new(db: Pool) -> Self {
        Self { db }
    }

    /// Keeps `owner`'s copy of the key of `certificate` (replacing an earlier one).
    pub async fn deposit(
        &self,
        owner: &str,
        certificate: &Certificate,
        archive: &[u8],
        now: i64,
    ) -> Result<(), RecoveryError> {
        if !send_rules::recovery::needs_archival(certificate.der()) {
            return Err(RecoveryError::SigningKey(certificate.subject()));
        }
        sqlx::query(
            "INSERT INTO key_archives (owner, fingerprint, certificate, archive, deposited_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (owner, fingerprint) DO UPDATE SET archive = $4, deposited_at = $5",
        )
        .bind(normalize(owner))
        .bind(send_rules::hex(&certificate.fingerprint()))
        .bind(certificate.der().to_vec())
        .bind(archive.to_vec())
        .bind(now)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Refuses when one of `certificates` (about to be published by `owner`) needs a copy that
    /// was not deposited.
    pub async fn check_publish(
        &self,
        owner: &str,
        certificates: &[Certificate],
    ) -> Result<(), RecoveryError> {
        for cert in certificates
            .iter()
            .filter(|c| send_rules::recovery::needs_archival(c.der()))
        {
            let held = sqlx::query(
                "SELECT 1 AS held FROM key_archives WHERE owner = $1 AND fingerprint = $2",
            )
            .bind(normalize(owner))
            .bind(send_rules::hex(&cert.fingerprint()))
            .fetch_optional(&self.db)
            .await?;
            if held.is_none() {
                return Err(RecoveryError::NotArchived(cert.subject()));
            }
        }
        Ok(())
    }

    /// Every copy deposited for `owner`, newest first.
    pub async fn of(&self, owner: &str) -> Result<Vec<Deposit>, RecoveryError> {
        let rows = sqlx::query(
            "SELECT fingerprint, certificate, archive, deposited_at FROM key_archives \
             WHERE owner = $1 ORDER BY deposited_at DESC, fingerprint",
        )
        .bind(normalize(owner))
        .fetch_all(&self.db)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Deposit {
                    fingerprint: r.try_get("fingerprint")?,
                    certificate: r.try_get("certificate")?,
                    archive: r.try_get("archive")?,
                    deposited_at: r.try_get("deposited_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }
}
