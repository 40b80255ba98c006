//! The certificate directory: people (primary and alias addresses, display name, certificates
//! in the `userCertificate` and `userSMIMECertificate` attributes admins know), distribution
//! lists, and each user's contact and harvested certificates.
//!
//! The two attributes are only ever written together, from one certificate set
//! ([`Directory::set_certificates`]): the "different certificates" problem of the Exchange
//! S/MIME guide — Outlook reading one attribute, OWA the other, and using different
//! certificates — cannot arise from anything this server writes.
//!
//! When a live LDAP directory is configured ([`ldap`]), it is asked first: people, their
//! certificates and groups come from it, and the tables imported from LDIF files answer what it
//! does not know, or everything while it cannot be reached.
//!
//! [`import`] parses admin exports; [`lookup`] holds the pure matching, ordering and list
//! expansion, and the recipient search that feeds them from here; [`harvest`] keeps the
//! certificates signed mail brought and the user's address book.

pub mod harvest;
pub mod import;
pub mod ldap;
pub mod lookup;

use std::sync::Arc;

use sqlx::Row;

use crate::db::Pool;
use pki::{Certificate, containers};

pub const USER_CERTIFICATE: &str = "userCertificate";
pub const USER_SMIME_CERTIFICATE: &str = "userSMIMECertificate";

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Refused(String),
}

/// A person in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub address: String,
    pub display_name: String,
    pub aliases: Vec<String>,
}

impl Person {
    /// Refuses a certificate that is not this person's own: issued for their address or one of
    /// their aliases. What they may publish, and deposit a key's recovery copy for.
    pub fn check_own(&self, cert: &Certificate) -> Result<(), DirectoryError> {
        if lookup::address_match(cert, &self.address, &self.aliases, true).is_some() {
            return Ok(());
        }
        Err(DirectoryError::Refused(format!(
            "the certificate for {} is not for your address {}",
            cert.subject(),
            self.address
        )))
    }
}

/// Addresses are compared case-insensitively everywhere; they are stored lower-cased.
pub fn normalize(address: &str) -> String {
    address.trim().to_ascii_lowercase()
}

/// Hex SHA-256 of a certificate, the key of per-user certificate rows.
pub fn fingerprint_hex(cert: &Certificate) -> String {
    send_rules::hex(&cert.fingerprint())
}

/// Where a user certificate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSource {
    Contact,
    Harvested,
}

impl UserSource {
    /// The name stored in `user_certificates.source` and used in forms.
    pub fn as_str(self) -> &'static str {
        match self {
            UserSource::Contact => "contact",
            UserSource::Harvested => "harvested",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "contact" => Some(UserSource::Contact),
            "harvested" => Some(UserSource::Harvested),
            _ => None,
        }
    }
}

/// A person with the certificates their directory entry holds.
#[derive(Debug, Clone)]
pub struct Entry {
    pub person: Person,
    /// DER certificates (`userCertificate`).
    pub user_certificates: Vec<Vec<u8>>,
    /// PKCS#7 certificate sets (`userSMIMECertificate`).
    pub smime_certificates: Vec<Vec<u8>>,
}

impl Entry {
    /// Whether a value in either certificate attribute is not a certificate (or certificate
    /// set) at all: a damaged entry the user should hear about, not "no certificate".
    pub fn has_unreadable_certificates(&self) -> bool {
        self.user_certificates
            .iter()
            .any(|der| Certificate::from_der(der).is_err())
            || self.smime_certificates.iter().any(|p7| {
                containers::pkcs7_certificates(p7).map_or(true, |ders| {
                    ders.iter().any(|der| Certificate::from_der(der).is_err())
                })
            })
    }
}

#[derive(Clone)]
pub struct Directory {
    db: Pool,
    ldap: Option<Arc<ldap::LdapDirectory>>,
}

impl Directory {
    pub fn new(db: Pool) -> Self {
        Self { db, ldap: None }
    }

    /// Asks `ldap` first from now on.
    pub fn with_ldap(mut self, ldap: ldap::LdapDirectory) -> Self {
        self.ldap = Some(Arc::new(ldap));
        self
    }

    pub fn ldap(&self) -> Option<&ldap::LdapDirectory> {
        self.ldap.as_deref()
    }

    /// Why the live directory is not being used right now, as a sentence for the user; None
    /// when it answers (or none is configured).
    pub fn live_directory_trouble(&self) -> Option<String> {
        let e = self.ldap.as_ref()?.outage()?;
        Some(format!(
            "The directory could not be reached ({e}); certificates from your contacts and from \
             signed mail were used, and distribution lists only as imported."
        ))
    }

    /// The directory entry of `address` (primary or alias): the live directory's when it knows
    /// the address, else the imported one.
    pub async fn entry(&self, address: &str) -> Option<Entry> {
        if let Some(ldap) = &self.ldap {
            // An unreachable directory was logged and is reported by live_directory_trouble.
            if let Ok(Some(p)) = ldap.person(address).await {
                // What the person published through Sealmail, or an admin imported, is kept in
                // the tables under the same address: it counts too, after LDAP's.
                let mut user_certificates = p.user_certificates;
                user_certificates.extend(
                    self.attribute(&p.person.address, USER_CERTIFICATE)
                        .await
                        .unwrap_or_default(),
                );
                let mut smime_certificates = p.smime_certificates;
                smime_certificates.extend(
                    self.attribute(&p.person.address, USER_SMIME_CERTIFICATE)
                        .await
                        .unwrap_or_default(),
                );
                return Some(Entry {
                    person: p.person,
                    user_certificates,
                    smime_certificates,
                });
            }
        }
        let person = self.person(address).await.ok().flatten()?;
        Some(Entry {
            user_certificates: self
                .attribute(&person.address, USER_CERTIFICATE)
                .await
                .unwrap_or_default(),
            smime_certificates: self
                .attribute(&person.address, USER_SMIME_CERTIFICATE)
                .await
                .unwrap_or_default(),
            person,
        })
    }

    /// The members of the group or distribution list `address` (the live directory's, else an
    /// imported list), or None when it is neither. `limit`: more members than that need not be
    /// listed (the caller refuses that many).
    pub async fn members(
        &self,
        address: &str,
        limit: usize,
    ) -> Result<Option<Vec<String>>, DirectoryError> {
        if let Some(ldap) = &self.ldap
            && let Ok(Some(members)) = ldap.group_members(address, limit).await
        {
            return Ok(Some(members));
        }
        self.list_members(address).await
    }

    /// Creates or replaces a person (their aliases are replaced; certificates are kept).
    pub async fn upsert_person(&self, person: &Person) -> Result<(), DirectoryError> {
        let address = normalize(&person.address);
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO directory_people (address, display_name, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (address) DO UPDATE SET display_name = $2, updated_at = $3",
        )
        .bind(&address)
        .bind(&person.display_name)
        .bind(crate::db::now())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM directory_aliases WHERE person = $1")
            .bind(&address)
            .execute(&mut *tx)
            .await?;
        for alias in &person.aliases {
            let alias = normalize(alias);
            if alias == address {
                continue;
            }
            sqlx::query(
                "INSERT INTO directory_aliases (alias, person) VALUES ($1, $2) \
                 ON CONFLICT (alias) DO UPDATE SET person = $2",
            )
            .bind(&alias)
            .bind(&address)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a person's certificates: every DER in `userCertificate`, and one PKCS#7
    /// holding exactly the same certificates in `userSMIMECertificate`, in one transaction.
    pub async fn set_certificates(
        &self,
        person: &str,
        certs: &[Vec<u8>],
    ) -> Result<(), DirectoryError> {
        let person = normalize(person);
        let mut unique: Vec<&[u8]> = certs.iter().map(Vec::as_slice).collect();
        unique.sort();
        unique.dedup();
        let mut tx = self.db.begin().await?;
        sqlx::query("DELETE FROM directory_attributes WHERE person = $1")
            .bind(&person)
            .execute(&mut *tx)
            .await?;
        for (i, der) in unique.iter().enumerate() {
            sqlx::query(
                "INSERT INTO directory_attributes (person, attribute, position, value) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&person)
            .bind(USER_CERTIFICATE)
            .bind(i as i64)
            .bind(der.to_vec())
            .execute(&mut *tx)
            .await?;
        }
        if !unique.is_empty() {
            sqlx::query(
                "INSERT INTO directory_attributes (person, attribute, position, value) \
                 VALUES ($1, $2, 0, $3)",
            )
            .bind(&person)
            .bind(USER_SMIME_CERTIFICATE)
            .bind(containers::pkcs7_certs_only(&unique))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE directory_people SET updated_at = $2 WHERE address = $1")
            .bind(&person)
            .bind(crate::db::now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every person's certificates (`userCertificate`), as (address, DER), by address.
    pub async fn everyones_certificates(&self) -> Result<Vec<(String, Vec<u8>)>, DirectoryError> {
        let rows = sqlx::query(
            "SELECT person, value FROM directory_attributes WHERE attribute = $1 \
             ORDER BY person, position",
        )
        .bind(USER_CERTIFICATE)
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((r.try_get("person").ok()?, r.try_get("value").ok()?)))
            .collect())
    }

    /// The raw values of one attribute of a person.
    pub async fn attribute(
        &self,
        person: &str,
        attribute: &str,
    ) -> Result<Vec<Vec<u8>>, DirectoryError> {
        let rows = sqlx::query(
            "SELECT value FROM directory_attributes WHERE person = $1 AND attribute = $2 \
             ORDER BY position",
        )
        .bind(normalize(person))
        .bind(attribute)
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.try_get::<Vec<u8>, _>("value").ok())
            .collect())
    }

    /// The person whose primary or alias address is `address`.
    pub async fn person(&self, address: &str) -> Result<Option<Person>, DirectoryError> {
        let address = normalize(address);
        let primary: Option<String> =
            match sqlx::query("SELECT address FROM directory_people WHERE address = $1")
                .bind(&address)
                .fetch_optional(&self.db)
                .await?
            {
                Some(row) => Some(row.try_get("address")?),
                None => sqlx::query("SELECT person FROM directory_aliases WHERE alias = $1")
                    .bind(&address)
                    .fetch_optional(&self.db)
                    .await?
                    .map(|r| r.try_get("person"))
                    .transpose()?,
            };
        let Some(primary) = primary else {
            return Ok(None);
        };
        let row = sqlx::query("SELECT display_name FROM directory_people WHERE address = $1")
            .bind(&primary)
            .fetch_optional(&self.db)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let aliases =
            sqlx::query("SELECT alias FROM directory_aliases WHERE person = $1 ORDER BY alias")
                .bind(&primary)
                .fetch_all(&self.db)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>("alias"))
                .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Person {
            address: primary,
            display_name: row.try_get("display_name")?,
            aliases,
        }))
    }

    /// People whose name or primary address contains `query` (case-insensitive), by name:
    /// (address, display name) pairs, for recipient suggestions.
    pub async fn people_matching(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<Vec<(String, String)>, DirectoryError> {
        let rows = sqlx::query(
            "SELECT address, display_name FROM directory_people \
             WHERE LOWER(display_name) LIKE $1 ESCAPE '\\' OR address LIKE $1 ESCAPE '\\' \
             ORDER BY LOWER(display_name), address LIMIT $2",
        )
        .bind(crate::db::contains_pattern(query))
        .bind(limit as i64)
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Ok((r.try_get("address")?, r.try_get("display_name")?)))
            .collect::<Result<_, sqlx::Error>>()?)
    }

    /// Creates or replaces a distribution list and its members.
    pub async fn upsert_list(
        &self,
        address: &str,
        display_name: &str,
        members: &[String],
    ) -> Result<(), DirectoryError> {
        let address = normalize(address);
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO directory_lists (address, display_name) VALUES ($1, $2) \
             ON CONFLICT (address) DO UPDATE SET display_name = $2",
        )
        .bind(&address)
        .bind(display_name)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM directory_list_members WHERE list = $1")
            .bind(&address)
            .execute(&mut *tx)
            .await?;
        for m in members {
            sqlx::query(
                "INSERT INTO directory_list_members (list, member) VALUES ($1, $2) \
                 ON CONFLICT (list, member) DO NOTHING",
            )
            .bind(&address)
            .bind(normalize(m))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The members of list `address`, or None when it is not a list.
    pub async fn list_members(&self, address: &str) -> Result<Option<Vec<String>>, DirectoryError> {
        let address = normalize(address);
        let exists = sqlx::query("SELECT address FROM directory_lists WHERE address = $1")
            .bind(&address)
            .fetch_optional(&self.db)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT member FROM directory_list_members WHERE list = $1 ORDER BY member",
        )
        .bind(&address)
        .fetch_all(&self.db)
        .await?;
        Ok(Some(
            rows.iter()
                .map(|r| r.try_get::<String, _>("member"))
                .collect::<Result<_, _>>()?,
        ))
    }

    /// Remembers CA certificates (from imports) for chain building.
    pub async fn add_intermediates(&self, certs: &[Certificate]) -> Result<(), DirectoryError> {
        for c in certs {
            sqlx::query(
                "INSERT INTO directory_intermediates (fingerprint, der) VALUES ($1, $2) \
                 ON CONFLICT (fingerprint) DO NOTHING",
            )
            .bind(fingerprint_hex(c))
            .bind(c.der().to_vec())
            .execute(&self.db)
            .await?;
        }
        Ok(())
    }

    /// The CA certificates remembered from imports, for the chain builder. A failure to read
    /// them only means fewer paths can be built, so it is logged, not raised.
    pub async fn intermediates(&self) -> Vec<Certificate> {
        match sqlx::query("SELECT der FROM directory_intermediates")
            .fetch_all(&self.db)
            .await
        {
            Ok(rows) => rows
                .iter()
                .filter_map(|r| r.try_get::<Vec<u8>, _>("der").ok())
                .filter_map(|d| Certificate::from_der(&d).ok())
                .collect(),
            Err(e) => {
                tracing::warn!("reading directory intermediates failed: {e}");
                Vec::new()
            }
        }
    }

    /// Adds a certificate to `owner`'s contacts or harvested certificates, under `address`.
    pub async fn add_user_certificate(
        &self,
        owner: &str,
        source: UserSource,
        address: &str,
        cert: &Certificate,
    ) -> Result<(), DirectoryError> {
        sqlx::query(
            "INSERT INTO user_certificates (owner, source, address, fingerprint, der, added_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (owner, source, fingerprint) DO UPDATE SET address = $3",
        )
        .bind(normalize(owner))
        .bind(source.as_str())
        .bind(normalize(address))
        .bind(fingerprint_hex(cert))
        .bind(cert.der().to_vec())
        .bind(crate::db::now())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// `owner`'s certificates from `source` filed under any of `addresses`.
    pub async fn user_certificates(
        &self,
        owner: &str,
        source: UserSource,
        addresses: &[String],
    ) -> Result<Vec<Vec<u8>>, DirectoryError> {
        let mut out = Vec::new();
        for address in addresses {
            let rows = sqlx::query(
                "SELECT der FROM user_certificates WHERE owner = $1 AND source = $2 AND address = $3 \
                 ORDER BY added_at DESC",
            )
            .bind(normalize(owner))
            .bind(source.as_str())
            .bind(normalize(address))
            .fetch_all(&self.db)
            .await?;
            out.extend(
                rows.iter()
                    .filter_map(|r| r.try_get::<Vec<u8>, _>("der").ok()),
            );
        }
        Ok(out)
    }

    /// Remember what a signer's software can decrypt (names as in `policy::EncryptionAlgorithm`),
    /// unless a newer signature already told us.
    pub async fn record_capabilities(
        &self,
        cert: &Certificate,
        algorithms: &[&str],
        signed_at: i64,
    ) -> Result<(), DirectoryError> {
        let fingerprint = fingerprint_hex(cert);
        let list = algorithms.join(",");
        sqlx::query(
            "INSERT INTO smime_capabilities (fingerprint, algorithms, signed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (fingerprint) DO UPDATE SET algorithms = excluded.algorithms, \
             signed_at = excluded.signed_at WHERE smime_capabilities.signed_at <= excluded.signed_at",
        )
        .bind(fingerprint)
        .bind(list)
        .bind(signed_at)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// What the certificate's owner said they can decrypt; `None` when never heard.
    pub async fn capabilities(
        &self,
        cert: &Certificate,
    ) -> Result<Option<Vec<String>>, DirectoryError> {
        let row = sqlx::query("SELECT algorithms FROM smime_capabilities WHERE fingerprint = $1")
            .bind(fingerprint_hex(cert))
            .fetch_optional(&self.db)
            .await?;
        Ok(row
            .and_then(|r| r.try_get::<String, _>("algorithms").ok())
            .map(|list| {
                list.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            }))
    }

    /// "Publish my certificates": `owner` replaces the certificates of their own directory
    /// entry. Every certificate must be for one of the owner's addresses; CA certificates that
    /// come along are kept for chain building, not published.
    pub async fn publish(
        &self,
        owner: &str,
        certs: &[Certificate],
    ) -> Result<usize, DirectoryError> {
        let person = match self.person(owner).await? {
            Some(p) => p,
            None => {
                let p = Person {
                    address: normalize(owner),
                    display_name: owner.to_string(),
                    aliases: Vec::new(),
                };
                self.upsert_person(&p).await?;
                p
            }
        };
        let mut own = Vec::new();
        let mut cas = Vec::new();
        for c in certs {
            if c.is_ca() {
                cas.push(c.clone());
                continue;
            }
            person.check_own(c)?;
            own.push(c.der().to_vec());
        }
        if own.is_empty() {
            return Err(DirectoryError::Refused(
                "no certificate of yours was given".into(),
            ));
        }
        self.add_intermediates(&cas).await?;
        self.set_certificates(&person.address, &own).await?;
        Ok(own.len())
    }
}
