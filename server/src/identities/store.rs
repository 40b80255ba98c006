//! What each user chose for their identities (display name, signature, default), in the
//! database. Which addresses may be used is not decided here (see [`super::may_send_as`]).

use sqlx::Row;

use super::Stored;
use crate::db::Pool;
use crate::directory::normalize;

#[derive(Clone)]
pub struct Identities {
    db: Pool,
}

impl Identities {
    pub fn new(db: Pool) -> Self {
        Self { db }
    }

    pub async fn list(&self, owner: &str) -> Result<Vec<Stored>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT address, display_name, signature, is_default FROM identities \
             WHERE owner = $1 ORDER BY address",
        )
        .bind(normalize(owner))
        .fetch_all(&self.db)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Stored {
                    address: r.try_get("address")?,
                    display_name: r.try_get("display_name")?,
                    signature: r.try_get("signature")?,
                    is_default: r.try_get::<i64, _>("is_default")? != 0,
                })
            })
            .collect()
    }

    /// Keeps the name and signature of `address` (adding it when new; its default mark stays).
    pub async fn save(
        &self,
        owner: &str,
        address: &str,
        display_name: &str,
        signature: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO identities (owner, address, display_name, signature, is_default) \
             VALUES ($1, $2, $3, $4, 0) \
             ON CONFLICT (owner, address) DO UPDATE SET display_name = $3, signature = $4",
        )
        .bind(normalize(owner))
        .bind(normalize(address))
        .bind(display_name)
        .bind(signature)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Makes `address` the default, and no other.
    pub async fn set_default(&self, owner: &str, address: &str) -> Result<(), sqlx::Error> {
        let owner = normalize(owner);
        let mut tx = self.db.begin().await?;
        sqlx::query("UPDATE identities SET is_default = 0 WHERE owner = $1")
            .bind(&owner)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO identities (owner, address, display_name, signature, is_default) \
             VALUES ($1, $2, '', '', 1) \
             ON CONFLICT (owner, address) DO UPDATE SET is_default = 1",
        )
        .bind(&owner)
        .bind(normalize(address))
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Forgets `address`; says whether it was kept.
    pub async fn remove(&self, owner: &str, address: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM identities WHERE owner = $1 AND address = $2")
            .bind(normalize(owner))
            .bind(normalize(address))
            .execute(&self.db)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
