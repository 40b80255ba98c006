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
        migrator(Dialect::Postgres).run(&pool).await?;
    } else {
        // WAL lets page reads proceed while a session row is being written.
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&pool)
            .await
            .map_err(DbError::Connect)?;
        migrator(Dialect::Sqlite).run(&pool).await?;
    }
    Ok(pool)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// The schema's steps, in order: version, name, and the SQL for each dialect. Each file is
/// embedded as written, so the checksum sqlx records is the one `sqlx::migrate!` would record
/// and databases migrated before stay valid. Listed here instead of with `sqlx::migrate!`
/// because that macro alone pulls a second, build-time copy of sqlx with both drivers and the
/// bundled SQLite C library into every build. A test checks this list against the folders.
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/sqlite/0001_initial.sql"),
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "directory",
        include_str!("../../migrations/sqlite/0002_directory.sql"),
        include_str!("../../migrations/postgres/0002_directory.sql"),
    ),
    (
        3,
        "user options",
        include_str!("../../migrations/sqlite/0003_user_options.sql"),
        include_str!("../../migrations/postgres/0003_user_options.sql"),
    ),
    (
        4,
        "capabilities",
        include_str!("../../migrations/sqlite/0004_capabilities.sql"),
        include_str!("../../migrations/postgres/0004_capabilities.sql"),
    ),
    (
        5,
        "outbox lease",
        include_str!("../../migrations/sqlite/0005_outbox_lease.sql"),
        include_str!("../../migrations/postgres/0005_outbox_lease.sql"),
    ),
    (
        6,
        "harvest",
        include_str!("../../migrations/sqlite/0006_harvest.sql"),
        include_str!("../../migrations/postgres/0006_harvest.sql"),
    ),
    (
        7,
        "contacts",
        include_str!("../../migrations/sqlite/0007_contacts.sql"),
        include_str!("../../migrations/postgres/0007_contacts.sql"),
    ),
    (
        8,
        "conversations",
        include_str!("../../migrations/sqlite/0008_conversations.sql"),
        include_str!("../../migrations/postgres/0008_conversations.sql"),
    ),
    (
        9,
        "identities",
        include_str!("../../migrations/sqlite/0009_identities.sql"),
        include_str!("../../migrations/postgres/0009_identities.sql"),
    ),
    (
        10,
        "compose_formatted",
        include_str!("../../migrations/sqlite/0010_compose_formatted.sql"),
        include_str!("../../migrations/postgres/0010_compose_formatted.sql"),
    ),
    (
        11,
        "key_archives",
        include_str!("../../migrations/sqlite/0011_key_archives.sql"),
        include_str!("../../migrations/postgres/0011_key_archives.sql"),
    ),
];

fn migrator(dialect: Dialect) -> sqlx::migrate::Migrator {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    use sqlx::{AssertSqlSafe, SqlSafeStr};
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, name, sqlite, postgres)| {
                let sql = match dialect {
                    Dialect::Sqlite => sqlite,
                    Dialect::Postgres => postgres,
                };
                Migration::new(
                    version,
                    name.into(),
                    MigrationType::Simple,
                    AssertSqlSafe(sql).into_sql_str(),
                    sql.starts_with("-- no-transaction"),
                )
            })
            .collect(),
    )
}

/// A `LIKE $n ESCAPE '\'` pattern matching any text that contains `text`, lower-cased (compare
/// it with `LOWER(column)`: PostgreSQL's LIKE minds case, SQLite's does not).
pub fn contains_pattern(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Seconds since the Unix epoch; the schema stores every time this way so both dialects agree.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file in `migrations/<dialect>/` is in [`MIGRATIONS`] under its number and name, and
    /// nothing else is: a new migration file that is not listed fails here, not in production.
    #[test]
    fn the_list_matches_the_migration_folders() {
        for (dialect, folder) in [(0, "sqlite"), (1, "postgres")] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../migrations")
                .join(folder);
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            let listed: Vec<String> = MIGRATIONS
                .iter()
                .map(|(v, name, ..)| format!("{v:04}_{}.sql", name.replace(' ', "_")))
                .collect();
            assert_eq!(files, listed, "{folder}");
            for ((v, _, sqlite, postgres), file) in MIGRATIONS.iter().zip(&files) {
                let on_disk = std::fs::read_to_string(dir.join(file)).unwrap();
                let embedded = if dialect == 0 { sqlite } else { postgres };
                assert_eq!(&on_disk, embedded, "migration {v} of {folder}");
            }
        }
    }
}
