//! A user's own settings: whether new messages are signed and encrypted by default (the
//! Options page; admin policy, when it forces either, overrides these), and whether folders
//! are shown as conversations (the folder page's own switch), and whether new messages start as
//! formatted text.

use sqlx::Row;

use crate::db::{Pool, now};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserOptions {
    /// "Add digital signature to outgoing messages".
    pub sign_by_default: bool,
    /// "Encrypt contents and attachments for outgoing messages".
    pub encrypt_by_default: bool,
    /// "Show as conversations": folders grouped into threads.
    pub conversations: bool,
    /// "Write new messages as formatted text"; off, they start as plain text.
    pub compose_formatted: bool,
}

pub async fn load(db: &Pool, email: &str) -> Result<UserOptions, sqlx::Error> {
    let row = sqlx::query(
        "SELECT sign_by_default, encrypt_by_default, conversations, compose_formatted \
         FROM user_options \
         WHERE email = $1",
    )
    .bind(email.to_ascii_lowercase())
    .fetch_optional(db)
    .await?;
    let Some(row) = row else {
        return Ok(UserOptions::default());
    };
    Ok(UserOptions {
        sign_by_default: row.try_get::<i64, _>("sign_by_default")? != 0,
        encrypt_by_default: row.try_get::<i64, _>("encrypt_by_default")? != 0,
        conversations: row.try_get::<i64, _>("conversations")? != 0,
        compose_formatted: row.try_get::<i64, _>("compose_formatted")? != 0,
    })
}

pub async fn save(db: &Pool, email: &str, options: UserOptions) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO user_options \
         (email, sign_by_default, encrypt_by_default, conversations, compose_formatted, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO UPDATE SET \
         sign_by_default = excluded.sign_by_default, \
         encrypt_by_default = excluded.encrypt_by_default, \
         conversations = excluded.conversations, \
         compose_formatted = excluded.compose_formatted, updated_at = excluded.updated_at",
    )
    .bind(email.to_ascii_lowercase())
    .bind(i64::from(options.sign_by_default))
    .bind(i64::from(options.encrypt_by_default))
    .bind(i64::from(options.conversations))
    .bind(i64::from(options.compose_formatted))
    .bind(now())
    .execute(db)
    .await?;
    Ok(())
}
