//! Bookkeeping that makes sending exactly-once.
//!
//! Every compose form carries a random send id. A send goes through these states, one row per
//! send id:
//!
//! - `submitting`: claimed; nothing has reached the mail server's DATA yet. If the claimer dies
//!   here, nothing went out, and once the lease runs out the row is forgotten.
//! - `sending`: the message body is going to the mail server, and the copy for Sent is stored.
//!   If the claimer dies here the mail server most likely has it (the usual case is a death
//!   after the server's 250), so an expired lease is treated as accepted and the copy is filed.
//! - `uncertain`: the connection failed after the message went out and before the server
//!   answered. It may have been delivered; it is never retried by itself, and a retry of the
//!   same send id is refused with that explanation.
//! - `filing`: accepted, and one request is filing the copy in Sent (leased like a claim, so two
//!   tabs of the same user never file it twice; a filer that dies leaves it `submitted` again).
//! - `submitted`: accepted; the copy for Sent waits for the user's next page to be filed.
//! - `filed`: done.
//!
//! A retried or double-clicked send finds the id already claimed and submits nothing again.

use sqlx::Row;

use crate::db::{Pool, now};

#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// Nobody has submitted this message yet: go ahead.
    Fresh,
    /// Another request is submitting it right now.
    InProgress,
    /// An earlier attempt may have been delivered: the mail server took the message and never
    /// confirmed it.
    Uncertain,
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
    /// How long a claim holds before the sweeper may recover it. Longer than any submission can
    /// take: the submission itself is cut off at this deadline.
    lease_seconds: i64,
}

impl Outbox {
    pub fn new(pool: Pool, lease_seconds: u64) -> Self {
        Self {
            pool,
            lease_seconds: i64::try_from(lease_seconds).unwrap_or(i64::MAX / 2),
        }
    }

    pub async fn claim(
        &self,
        send_id: &str,
        email: &str,
        message_id: &str,
    ) -> Result<Claim, sqlx::Error> {
        // A claim left by a dead process is settled first, so a retry never waits for the
        // sweeper.
        self.recover_expired(Some(send_id)).await?;
        let t = now();
        let inserted = sqlx::query(
            "INSERT INTO outbox (send_id, email, message_id, state, created_at, updated_at, lease_until) \
             VALUES ($1, $2, $3, 'submitting', $4, $4, $5) ON CONFLICT (send_id) DO NOTHING",
        )
        .bind(send_id)
        .bind(email)
        .bind(message_id)
        .bind(t)
        .bind(t.saturating_add(self.lease_seconds))
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
            "uncertain" => Claim::Uncertain,
            _ => Claim::InProgress,
        })
    }

    /// Nothing went out (refused, or failed before the message was sent): forget the claim so
    /// the user can try again.
    pub async fn release(&self, send_id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM outbox WHERE send_id = $1 AND state IN ('submitting', 'sending')")
            .bind(send_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The message body is about to go to the mail server. The copy for Sent is kept from here
    /// on, so a process that dies now leaves enough behind to finish the send's bookkeeping.
    pub async fn mark_sending(&self, send_id: &str, sent_copy: &[u8]) -> Result<(), sqlx::Error> {
        self.set_state(send_id, "sending", Some(sent_copy)).await
    }

    /// The mail server accepted the message, and the caller files its Sent copy now.
    pub async fn mark_filing(&self, send_id: &str) -> Result<(), sqlx::Error> {
        let t = now();
        sqlx::query("UPDATE outbox SET state = 'filing', updated_at = $1, lease_until = $2 WHERE send_id = $3")
            .bind(t)
            .bind(t.saturating_add(self.lease_seconds))
            .bind(send_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Takes an accepted send's Sent copy to file it; false when another request has it.
    pub async fn claim_filing(&self, send_id: &str) -> Result<bool, sqlx::Error> {
        let t = now();
        let claimed = sqlx::query(
            "UPDATE outbox SET state = 'filing', updated_at = $1, lease_until = $2 \
             WHERE send_id = $3 AND state = 'submitted'",
        )
        .bind(t)
        .bind(t.saturating_add(self.lease_seconds))
        .bind(send_id)
        .execute(&self.pool)
        .await?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Filing failed: a later page tries again.
    pub async fn release_filing(&self, send_id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE outbox SET state = 'submitted', updated_at = $1 WHERE send_id = $2 AND state = 'filing'")
            .bind(now())
            .bind(send_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The mail server may have the message but never confirmed it.
    pub async fn mark_uncertain(&self, send_id: &str) -> Result<(), sqlx::Error> {
        self.set_state(send_id, "uncertain", None).await
    }

    async fn set_state(
        &self,
        send_id: &str,
        state: &str,
        sent_copy: Option<&[u8]>,
    ) -> Result<(), sqlx::Error> {
        let query = match sent_copy {
            Some(copy) => sqlx::query(
                "UPDATE outbox SET state = $1, sent_copy = $2, updated_at = $3 WHERE send_id = $4",
            )
            .bind(state)
            .bind(copy),
            None => sqlx::query("UPDATE outbox SET state = $1, updated_at = $2 WHERE send_id = $3")
                .bind(state),
        };
        query.bind(now()).bind(send_id).execute(&self.pool).await?;
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

    /// Settles claims whose lease ran out (their process died): one that never reached the
    /// message body is forgotten, one that did is taken as accepted, so its Sent copy is filed
    /// on the user's next page, as is one whose filing stopped halfway. `only` limits this to
    /// one send id. Says how many were settled.
    pub async fn recover_expired(&self, only: Option<&str>) -> Result<u64, sqlx::Error> {
        let t = now();
        // Literal statements (no SQL assembled from strings): one pair for one send, one for all.
        const FORGET: [&str; 2] = [
            "DELETE FROM outbox WHERE state = 'submitting' AND lease_until < $1",
            "DELETE FROM outbox WHERE state = 'submitting' AND lease_until < $1 AND send_id = $2",
        ];
        const ACCEPT: [&str; 2] = [
            "UPDATE outbox SET state = 'submitted', updated_at = $1 WHERE state = 'sending' AND lease_until < $1",
            "UPDATE outbox SET state = 'submitted', updated_at = $1 WHERE state = 'sending' AND lease_until < $1 AND send_id = $2",
        ];
        const REFILE: [&str; 2] = [
            "UPDATE outbox SET state = 'submitted', updated_at = $1 WHERE state = 'filing' AND lease_until < $1",
            "UPDATE outbox SET state = 'submitted', updated_at = $1 WHERE state = 'filing' AND lease_until < $1 AND send_id = $2",
        ];
        let which = usize::from(only.is_some());
        let mut settled = 0;
        for sql in [FORGET[which], ACCEPT[which], REFILE[which]] {
            let mut q = sqlx::query(sql).bind(t);
            if let Some(id) = only {
                q = q.bind(id);
            }
            settled += q.execute(&self.pool).await?.rows_affected();
        }
        if settled > 0 {
            tracing::warn!(
                settled,
                "recovered sends whose server process stopped while submitting"
            );
        }
        Ok(settled)
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

    /// Forgets completed and uncertain sends after a week; the ids only need to outlive a retry.
    pub async fn purge_filed(&self) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "DELETE FROM outbox WHERE state IN ('filed', 'uncertain') AND updated_at < $1",
        )
        .bind(now() - 7 * 24 * 3600)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
