//! The database: SQLite embedded by default, PostgreSQL when several servers share state.
//!
//! One code path serves both through sqlx's `Any` driver; only the migrations differ by dialect.

use sqlx::any::{AnyPoolOptions, install_default_drivers};

pub type Pool = sqlx::AnyPool;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot bring the database schema up to date: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Opens the pool and applies pending migrations for the URL's dialect.
pub async fn open(url: &str) -> Result<Pool, DbError> {
    install_default_drivers();
    let postgres = url.starts_with("postgres:") || url.starts_with("postgresql:");
    let pool = AnyPoolOptions::new()
        // SQLite serialises writers anyway; a few connections are enough for readers.
        .max_connections(if postgres { 16 } else { 4 })
        // A database that does not answer costs a page a few seconds and a clear error, not
        // sqlx's default half minute per query.
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(DbError::Connect)?;
    if postgres {
        sqlx::migrate!("../migrations/postgres").run(&pool).await?;
    } else {
        // WAL lets page reads proceed while a session row is being written.
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&pool)
            .await
            .map_err(DbError::Connect)?;
        sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
    }
    Ok(pool)
}

/// Seconds since the Unix epoch; the schema stores every time this way so both dialects agree.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
