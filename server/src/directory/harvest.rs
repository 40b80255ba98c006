//! The user's address book: certificates harvested from signed mail and certificates added to
//! contacts, as they are kept, listed and removed.
//!
//! Harvesting is automatic: every signature the server finds valid and trusted files its
//! signer's certificate here under the sender's address (the caller decides that; this module
//! only keeps what it is given). For one address, the certificate of the newest signature is
//! the one mail is encrypted to, so a correspondent's renewed certificate takes over as soon
//! as they sign with it.

use sqlx::Row;

use super::{Directory, DirectoryError, UserSource, fingerprint_hex, normalize};
use pki::Certificate;

/// One certificate of the user's address book.
#[derive(Debug, Clone)]
pub struct Kept {
    pub source: UserSource,
    pub address: String,
    pub fingerprint: String,
    pub der: Vec<u8>,
    /// When it was added (contacts) or first harvested.
    pub added_at: i64,
    /// The signing time of the newest signature it came with (harvested only).
    pub signed_at: Option<i64>,
}

/// A certificate just found on a valid, trusted signature.
#[derive(Debug, Clone, Copy)]
pub struct Harvest<'a> {
    /// The reader: whose address book it goes into.
    pub owner: &'a str,
    /// The sender's address, which the certificate names.
    pub address: &'a str,
    pub certificate: &'a Certificate,
    /// The signature's signing time (never later than now).
    pub signed_at: i64,
    /// What the signature announced its sender can decrypt (policy names); empty when nothing.
    pub capabilities: &'a [&'a str],
}

impl Directory {
    /// Files a harvested certificate. Seen again, it keeps the newest signature's time and
    /// capabilities (an older message opened later changes nothing); a signature that announced
    /// no capabilities keeps the ones heard before.
    pub async fn harvest(&self, h: Harvest<'_>) -> Result<(), DirectoryError> {
        let capabilities = (!h.capabilities.is_empty()).then(|| h.capabilities.join(","));
        sqlx::query(
            "INSERT INTO user_certificates \
             (owner, source, address, fingerprint, der, added_at, signed_at, capabilities) \
             VALUES ($1, 'harvested', $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (owner, source, fingerprint) DO UPDATE SET address = excluded.address, \
             signed_at = excluded.signed_at, \
             capabilities = COALESCE(excluded.capabilities, user_certificates.capabilities) \
             WHERE user_certificates.signed_at IS NULL \
             OR user_certificates.signed_at <= excluded.signed_at",
        )
        .bind(normalize(h.owner))
        .bind(normalize(h.address))
        .bind(fingerprint_hex(h.certificate))
        .bind(h.certificate.der().to_vec())
        .bind(crate::db::now())
        .bind(h.signed_at)
        .bind(capabilities)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// `owner`'s harvested certificates filed under any of `addresses`, newest signature first.
    pub async fn harvested_for(
        &self,
        owner: &str,
        addresses: &[String],
    ) -> Result<Vec<Vec<u8>>, DirectoryError> {
        let mut found: Vec<(i64, Vec<u8>)> = Vec::new();
        for address in addresses {
            let rows = sqlx::query(
                "SELECT der, COALESCE(signed_at, added_at) AS newest FROM user_certificates \
                 WHERE owner = $1 AND source = 'harvested' AND address = $2",
            )
            .bind(normalize(owner))
            .bind(normalize(address))
            .fetch_all(&self.db)
            .await?;
            for row in rows {
                found.push((row.try_get("newest")?, row.try_get("der")?));
            }
        }
        found.sort_by_key(|f| std::cmp::Reverse(f.0));
        Ok(found.into_iter().map(|(_, der)| der).collect())
    }

    /// What `cert`'s owner announced they can decrypt, as harvested by `owner`; `None` when
    /// never heard.
    pub async fn harvested_capabilities(
        &self,
        owner: &str,
        cert: &Certificate,
    ) -> Result<Option<Vec<String>>, DirectoryError> {
        let row = sqlx::query(
            "SELECT capabilities FROM user_certificates \
             WHERE owner = $1 AND source = 'harvested' AND fingerprint = $2",
        )
        .bind(normalize(owner))
        .bind(fingerprint_hex(cert))
        .fetch_optional(&self.db)
        .await?;
        Ok(row
            .and_then(|r| r.try_get::<Option<String>, _>("capabilities").ok())
            .flatten()
            .map(|list| {
                list.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            }))
    }

    /// Everything in `owner`'s address book, by address, newest first within one.
    pub async fn address_book(&self, owner: &str) -> Result<Vec<Kept>, DirectoryError> {
        let rows = sqlx::query(
            "SELECT source, address, fingerprint, der, added_at, signed_at FROM user_certificates \
             WHERE owner = $1 ORDER BY address, added_at DESC",
        )
        .bind(normalize(owner))
        .fetch_all(&self.db)
        .await?;
        let mut out = Vec::new();
        for row in rows {
            let source: String = row.try_get("source")?;
            // A row of a kind this version does not know is left alone, not shown.
            let Some(source) = UserSource::from_name(&source) else {
                continue;
            };
            out.push(Kept {
                source,
                address: row.try_get("address")?,
                fingerprint: row.try_get("fingerprint")?,
                der: row.try_get("der")?,
                added_at: row.try_get("added_at")?,
                signed_at: row.try_get("signed_at")?,
            });
        }
        Ok(out)
    }

    /// Removes one certificate from `owner`'s address book; says whether there was one.
    pub async fn forget(
        &self,
        owner: &str,
        source: UserSource,
        fingerprint: &str,
    ) -> Result<bool, DirectoryError> {
        let done = sqlx::query(
            "DELETE FROM user_certificates WHERE owner = $1 AND source = $2 AND fingerprint = $3",
        )
        .bind(normalize(owner))
        .bind(source.as_str())
        .bind(fingerprint.trim().to_ascii_lowercase())
        .execute(&self.db)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
