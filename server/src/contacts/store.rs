//! Contacts and recently used addresses in the database, per user.

use std::collections::HashMap;

use sqlx::{AnyConnection, Row};

use super::{Contact, Draft, Invalid, new_uid};
use crate::db::Pool;
use crate::directory::normalize;

#[derive(Clone)]
pub struct Contacts {
    db: Pool,
}

/// What an import came to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub added: usize,
    pub updated: usize,
    /// Cards left out: their place in the file, their name as written, and why.
    pub skipped: Vec<(usize, String, Invalid)>,
}

impl ImportReport {
    /// "3 contacts added, 1 updated, 1 skipped (contact 4, "Ann": …)."
    pub fn summary(&self) -> String {
        let plural = |n: usize| if n == 1 { "contact" } else { "contacts" };
        let mut text = format!(
            "{} {} added, {} updated, {} skipped",
            self.added,
            plural(self.added),
            self.updated,
            self.skipped.len()
        );
        if !self.skipped.is_empty() {
            let why: Vec<String> = self
                .skipped
                .iter()
                .take(5)
                .map(|(at, name, invalid)| {
                    let name = if name.trim().is_empty() {
                        String::new()
                    } else {
                        format!(" \"{}\"", name.trim())
                    };
                    format!("contact {at}{name}: {invalid}")
                })
                .collect();
            let more = self.skipped.len().saturating_sub(5);
            text.push_str(&format!(" ({}", why.join("; ")));
            if more > 0 {
                text.push_str(&format!("; and {more} more"));
            }
            text.push(')');
        }
        text.push('.');
        text
    }
}

impl Contacts {
    pub fn new(db: Pool) -> Self {
        Self { db }
    }

    /// All of `owner`'s contacts, by name.
    pub async fn list(&self, owner: &str) -> Result<Vec<Contact>, sqlx::Error> {
        let owner = normalize(owner);
        let rows = sqlx::query(
            "SELECT uid, display_name, phone, notes FROM contacts WHERE owner = $1 \
             ORDER BY LOWER(display_name), uid",
        )
        .bind(&owner)
        .fetch_all(&self.db)
        .await?;
        let mut addresses: HashMap<String, Vec<String>> = HashMap::new();
        for row in sqlx::query(
            "SELECT uid, address FROM contact_addresses WHERE owner = $1 ORDER BY uid, position",
        )
        .bind(&owner)
        .fetch_all(&self.db)
        .await?
        {
            addresses
                .entry(row.try_get("uid")?)
                .or_default()
                .push(row.try_get("address")?);
        }
        rows.iter()
            .map(|row| {
                let uid: String = row.try_get("uid")?;
                Ok(Contact {
                    addresses: addresses.remove(&uid).unwrap_or_default(),
                    uid,
                    display_name: row.try_get("display_name")?,
                    phone: row.try_get("phone")?,
                    notes: row.try_get("notes")?,
                })
            })
            .collect()
    }

    /// One page of `owner`'s contacts whose name or an address contains `filter` (all when it
    /// is empty), by name, and how many match in all.
    pub async fn page(
        &self,
        owner: &str,
        filter: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Contact>, usize), sqlx::Error> {
        // The two queries share their WHERE clause; keep them in step.
        let owner = normalize(owner);
        let pattern = crate::db::contains_pattern(filter);
        let total: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM contacts c WHERE c.owner = $1 AND \
             (LOWER(c.display_name) LIKE $2 ESCAPE '\\' OR EXISTS (SELECT 1 FROM contact_addresses a \
             WHERE a.owner = c.owner AND a.uid = c.uid AND a.address LIKE $2 ESCAPE '\\'))",
        )
        .bind(&owner)
        .bind(&pattern)
        .fetch_one(&self.db)
        .await?
        .try_get("n")?;
        let rows = sqlx::query(
            "SELECT c.uid, c.display_name, c.phone, c.notes FROM contacts c WHERE c.owner = $1 AND \
             (LOWER(c.display_name) LIKE $2 ESCAPE '\\' OR EXISTS (SELECT 1 FROM contact_addresses a \
             WHERE a.owner = c.owner AND a.uid = c.uid AND a.address LIKE $2 ESCAPE '\\')) \
             ORDER BY LOWER(c.display_name), c.uid LIMIT $3 OFFSET $4",
        )
        .bind(&owner)
        .bind(&pattern)
        .bind(limit as i64)
        .bind(offset as i64)
        .fetch_all(&self.db)
        .await?;
        let mut conn = self.db.acquire().await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let uid: String = row.try_get("uid")?;
            out.push(Contact {
                addresses: addresses_of(&mut conn, &owner, &uid).await?,
                uid,
                display_name: row.try_get("display_name")?,
                phone: row.try_get("phone")?,
                notes: row.try_get("notes")?,
            });
        }
        Ok((out, usize::try_from(total).unwrap_or(0)))
    }

    /// One contact of `owner`'s.
    pub async fn get(&self, owner: &str, uid: &str) -> Result<Option<Contact>, sqlx::Error> {
        let owner = normalize(owner);
        let Some(row) = sqlx::query(
            "SELECT display_name, phone, notes FROM contacts WHERE owner = $1 AND uid = $2",
        )
        .bind(&owner)
        .bind(uid)
        .fetch_optional(&self.db)
        .await?
        else {
            return Ok(None);
        };
        let mut conn = self.db.acquire().await?;
        Ok(Some(Contact {
            uid: uid.to_string(),
            display_name: row.try_get("display_name")?,
            addresses: addresses_of(&mut conn, &owner, uid).await?,
            phone: row.try_get("phone")?,
            notes: row.try_get("notes")?,
        }))
    }

    /// The contact that has `address` among its addresses, if any.
    pub async fn holding(&self, owner: &str, address: &str) -> Result<Option<String>, sqlx::Error> {
        let mut conn = self.db.acquire().await?;
        holder_of(&mut conn, &normalize(owner), &normalize(address)).await
    }

    /// Creates or replaces a contact (its addresses too).
    pub async fn save(&self, owner: &str, contact: &Contact) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin().await?;
        write(&mut tx, &normalize(owner), contact).await?;
        tx.commit().await
    }

    /// Deletes a contact; says whether there was one.
    pub async fn delete(&self, owner: &str, uid: &str) -> Result<bool, sqlx::Error> {
        let owner = normalize(owner);
        let mut tx = self.db.begin().await?;
        sqlx::query("DELETE FROM contact_addresses WHERE owner = $1 AND uid = $2")
            .bind(&owner)
            .bind(uid)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM contacts WHERE owner = $1 AND uid = $2")
            .bind(&owner)
            .bind(uid)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Keeps the cards of one file, all or nothing. A card updates the contact with its UID,
    /// else the contact holding one of its addresses, else it is added; a card that does not
    /// make a valid contact is skipped and named in the report.
    pub async fn import(
        &self,
        owner: &str,
        cards: Vec<Draft>,
    ) -> Result<ImportReport, sqlx::Error> {
        let owner = normalize(owner);
        let mut report = ImportReport::default();
        let mut tx = self.db.begin().await?;
        for (i, card) in cards.into_iter().enumerate() {
            let name = card.display_name.clone();
            let mut contact = match card.check(new_uid) {
                Ok(contact) => contact,
                Err(why) => {
                    report.skipped.push((i + 1, name, why));
                    continue;
                }
            };
            let exists = sqlx::query("SELECT uid FROM contacts WHERE owner = $1 AND uid = $2")
                .bind(&owner)
                .bind(&contact.uid)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            let existing = if exists {
                Some(contact.uid.clone())
            } else {
                let mut found = None;
                for address in &contact.addresses {
                    found = holder_of(&mut tx, &owner, address).await?;
                    if found.is_some() {
                        break;
                    }
                }
                found
            };
            match existing {
                Some(uid) => {
                    contact.uid = uid;
                    report.updated += 1;
                }
                None => report.added += 1,
            }
            write(&mut tx, &owner, &contact).await?;
        }
        tx.commit().await?;
        Ok(report)
    }

    /// `owner`'s contacts whose name or an address contains `query`: (name, address) pairs.
    pub async fn matching(
        &self,
        owner: &str,
        query: &str,
        limit: usize,
    ) -> Result<Vec<(String, String)>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT c.display_name, a.address FROM contacts c \
             JOIN contact_addresses a ON a.owner = c.owner AND a.uid = c.uid \
             WHERE c.owner = $1 AND (LOWER(c.display_name) LIKE $2 ESCAPE '\\' \
             OR a.address LIKE $2 ESCAPE '\\') \
             ORDER BY LOWER(c.display_name), a.position LIMIT $3",
        )
        .bind(normalize(owner))
        .bind(crate::db::contains_pattern(query))
        .bind(limit as i64)
        .fetch_all(&self.db)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("display_name")?, r.try_get("address")?)))
            .collect()
    }

    /// Remembers that `owner` just sent mail to `addresses`.
    pub async fn remember_recipients(
        &self,
        owner: &str,
        addresses: &[String],
    ) -> Result<(), sqlx::Error> {
        let now = crate::db::now();
        for address in addresses {
            sqlx::query(
                "INSERT INTO recent_recipients (owner, address, last_used) VALUES ($1, $2, $3) \
                 ON CONFLICT (owner, address) DO UPDATE SET last_used = excluded.last_used",
            )
            .bind(normalize(owner))
            .bind(normalize(address))
            .bind(now)
            .execute(&self.db)
            .await?;
        }
        Ok(())
    }

    /// Addresses `owner` sent to that contain `query`, most recent first.
    pub async fn recent(
        &self,
        owner: &str,
        query: &str,
        limit: usize,
    ) -> Result<Vec<String>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT address FROM recent_recipients WHERE owner = $1 AND address LIKE $2 ESCAPE '\\' \
             ORDER BY last_used DESC, address LIMIT $3",
        )
        .bind(normalize(owner))
        .bind(crate::db::contains_pattern(query))
        .bind(limit as i64)
        .fetch_all(&self.db)
        .await?;
        rows.iter().map(|r| r.try_get("address")).collect()
    }
}

async fn addresses_of(
    conn: &mut AnyConnection,
    owner: &str,
    uid: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query(
        "SELECT address FROM contact_addresses WHERE owner = $1 AND uid = $2 ORDER BY position",
    )
    .bind(owner)
    .bind(uid)
    .fetch_all(conn)
    .await?
    .iter()
    .map(|r| r.try_get("address"))
    .collect()
}

async fn holder_of(
    conn: &mut AnyConnection,
    owner: &str,
    address: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query("SELECT uid FROM contact_addresses WHERE owner = $1 AND address = $2 ORDER BY uid")
        .bind(owner)
        .bind(address)
        .fetch_optional(conn)
        .await?
        .map(|r| r.try_get("uid"))
        .transpose()
}

async fn write(conn: &mut AnyConnection, owner: &str, c: &Contact) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO contacts (owner, uid, display_name, phone, notes, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (owner, uid) DO UPDATE SET \
         display_name = excluded.display_name, phone = excluded.phone, notes = excluded.notes, \
         updated_at = excluded.updated_at",
    )
    .bind(owner)
    .bind(&c.uid)
    .bind(&c.display_name)
    .bind(&c.phone)
    .bind(&c.notes)
    .bind(crate::db::now())
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM contact_addresses WHERE owner = $1 AND uid = $2")
        .bind(owner)
        .bind(&c.uid)
        .execute(&mut *conn)
        .await?;
    for (i, address) in c.addresses.iter().enumerate() {
        sqlx::query(
            "INSERT INTO contact_addresses (owner, uid, address, position) VALUES ($1, $2, $3, $4)",
        )
        .bind(owner)
        .bind(&c.uid)
        .bind(address)
        .bind(i as i64)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
