//! Bookkeeping that makes sending exactly-once.
//!
//! Every compose form carries a random send id. Submitting claims the id; SMTP acceptance is
//! recorded together with the copy for Sent; filing in Sent completes it. A retried or
//! double-clicked send finds the id already claimed and submits nothing again, and a Sent copy
//! whose filing failed is filed later, on the user's next page.

use sqlx::Row;

use crate::db::{Pool, now};

#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// Nobody has submitted this message yet: go ahead.
    Fresh,
    /// Another request is submitting it right now.
    InProgress,
    /// SMTP accepted it; only filing in Sent is left.
    Submitted {
        sent_copy: Vec<u8>,
        message_id: String,
    },
    /// Delivered and filed; nothing left to do.
    Done,
}

pub struct PendingCopy {
    pub send_id: String,
    pub message_id: String,
    pub sent_copy: Vec<u8>,
}

pub struct Outbox {
    pool: Pool,
}

impl Outbox {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    pub async fn claim(
        &self,
        send_id: &str,
        email: &str,
        message_id: &str,
    ) -> Result<Claim, sqlx::Error> {
        let t = now();
        let inserted = sqlx::query(
            "INSERT INTO outbox (send_id, email, message_id, state, created_at, updated_at) \
             VALUES ($1, $2, $3, 'submitting', $4, $4) ON CONFLICT (send_id) DO NOTHING",
        )
        .bind(send_id)
        .bind(email)
        .bind(message_id)
        .bind(t)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(Claim::Fresh);
        }
        let row = sqlx::query(
            "SELECT email, state, message_id, sent_copy FROM outbox WHERE send_id = $1",
        )
        .bind(send_id)
        .fetch_one(&self.pool)
        .await?;
        let owner: String = row.try_get("email")?;
        let state: String = row.try_get("state")?;
        if owner != email {
            // Another user's id (a guess or a collision): never act on it.
            return Ok(Claim::InProgress);
        }
        Ok(match state.as_str() {
            "submitted" => Claim::Submitted {
                sent_copy: row
                    .try_get::<Option<Vec<u8>>, _>("sent_copy")?
                    .unwrap_or_default(),
                message_id: row.try_get("message_id")?,
            },
            "filed" => Claim::Done,
            _ => Claim::InProgress,
        })
    }

    /// SMTP refused or failed: forget the claim so the user can try again.
    pub async fn release(&self, send_id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM outbox WHERE send_id = $1 AND state = 'submitting'")
            .bind(send_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn mark_submitted(&self, send_id: &str, sent_copy: &[u8]) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE outbox SET state = 'submitted', sent_copy = $1, updated_at = $2 WHERE send_id = $3")
            .bind(sent_copy)
            .bind(now())
            .bind(send_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn mark_filed(&self, send_id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE outbox SET state = 'filed', sent_copy = NULL, updated_at = $1 WHERE send_id = $2")
            .bind(now())
            .bind(send_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Messages SMTP accepted whose Sent copy is still to be filed.
    pub async fn pending(&self, email: &str) -> Result<Vec<PendingCopy>, sqlx::Error> {
        let rows = sqlx::query("SELECT send_id, message_id, sent_copy FROM outbox WHERE email = $1 AND state = 'submitted'")
            .bind(email)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(PendingCopy {
                    send_id: row.try_get("send_id")?,
                    message_id: row.try_get("message_id")?,
                    sent_copy: row
                        .try_get::<Option<Vec<u8>>, _>("sent_copy")?
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Forgets completed sends after a week; the ids only need to outlive a retry.
    pub async fn purge_filed(&self) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM outbox WHERE state = 'filed' AND updated_at < $1")
            .bind(now() - 7 * 24 * 3600)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
