//! Signed-in sessions and the login throttle, stored in the database so any server instance
//! can serve any request.
//!
//! The cookie carries a random session id and a random key. The database keeps only a hash of
//! the id and the user's IMAP password sealed under that key: a stolen database copy opens no
//! mailbox, and the server needs nothing in memory to resume a session.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::config::LoginThrottle;
use crate::db::{Pool, now};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// A signed-in user, as handlers see them.
#[derive(Clone)]
pub struct SignedIn {
    pub email: String,
    pub password: String,
    pub csrf_token: String,
    /// Identifies the session without being its secret; keys the IMAP connection pool.
    pub pool_key: String,
    /// Where this request came from (not stored: each request says it anew).
    pub client: Option<std::net::IpAddr>,
}

// By hand, so a `{:?}` in a log line or an error can never print the user's mail password or
// their form token.
impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("email", &self.email)
            .field("password", &"***")
            .field("csrf_token", &"***")
            .field("pool_key", &self.pool_key)
            .field("client", &self.client)
            .finish()
    }
}

/// What the cookie value resolves to.
#[derive(Debug)]
pub enum Lookup {
    Active(SignedIn),
    /// The cookie named a session that has ended (timed out, or signed out elsewhere).
    Expired,
}

pub struct NewSession {
    pub cookie_value: String,
    pub signed_in: SignedIn,
}

pub struct Sessions {
    pool: Pool,
    idle_seconds: i64,
    max_seconds: i64,
}

fn random_token() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

fn id_hash(id: &[u8]) -> String {
    send_rules::hex(&Sha256::digest(id))
}

impl Sessions {
    pub fn new(pool: Pool, idle_seconds: i64, max_seconds: i64) -> Self {
        Self {
            pool,
            idle_seconds,
            max_seconds,
        }
    }

    pub async fn create(&self, email: &str, password: &str) -> Result<NewSession, SessionError> {
        let id = random_token();
        let key = random_token();
        let csrf_token = B64.encode(random_token());
        let sealed = seal(&key, password.as_bytes());
        let hash = id_hash(&id);
        let t = now();
        sqlx::query(
            "INSERT INTO sessions (id_hash, email, sealed_password, csrf_token, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&hash)
        .bind(email)
        .bind(&sealed)
        .bind(&csrf_token)
        .bind(t)
        .bind(t)
        .execute(&self.pool)
        .await?;
        Ok(NewSession {
            cookie_value: format!("{}.{}", B64.encode(id), B64.encode(key)),
            signed_in: SignedIn {
                email: email.to_string(),
                password: password.to_string(),
                csrf_token,
                pool_key: hash,
                client: None,
            },
        })
    }

    /// Resolves a cookie; an unreadable cookie counts as no session at all.
    pub async fn lookup(&self, cookie_value: &str) -> Result<Option<Lookup>, SessionError> {
        let Some((id, key)) = split_cookie(cookie_value) else {
            return Ok(None);
        };
        let hash = id_hash(&id);
        let row = sqlx::query("SELECT email, sealed_password, csrf_token, created_at, last_seen_at FROM sessions WHERE id_hash = $1")
            .bind(&hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(Some(Lookup::Expired));
        };
        let (created, last_seen): (i64, i64) =
            (row.try_get("created_at")?, row.try_get("last_seen_at")?);
        let t = now();
        if t - last_seen > self.idle_seconds || t - created > self.max_seconds {
            self.delete_hash(&hash).await?;
            return Ok(Some(Lookup::Expired));
        }
        let sealed: String = row.try_get("sealed_password")?;
        let Some(password) = open(&key, &sealed) else {
            return Ok(Some(Lookup::Expired));
        };
        // One write a minute at most: a busy page must not turn every read into a write.
        if t - last_seen >= 60 {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
                .bind(t)
                .bind(&hash)
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(Lookup::Active(SignedIn {
            email: row.try_get("email")?,
            password,
            csrf_token: row.try_get("csrf_token")?,
            pool_key: hash,
            client: None,
        })))
    }

    pub async fn delete(&self, signed_in: &SignedIn) -> Result<(), SessionError> {
        self.delete_hash(&signed_in.pool_key).await
    }

    async fn delete_hash(&self, hash: &str) -> Result<(), SessionError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes sessions past their lifetime; run now and then.
    pub async fn purge_expired(&self) -> Result<u64, SessionError> {
        let t = now();
        let done = sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2")
            .bind(t - self.idle_seconds)
            .bind(t - self.max_seconds)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

fn split_cookie(value: &str) -> Option<(Vec<u8>, [u8; 32])> {
    let (id, key) = value.split_once('.')?;
    let id = B64.decode(id).ok().filter(|i| i.len() == 32)?;
    let key: [u8; 32] = B64.decode(key).ok()?.try_into().ok()?;
    Some((id, key))
}

fn seal(key: &[u8; 32], plaintext: &[u8]) -> String {
    let cipher = Aes256Gcm::new(key.into());
    let mut nonce = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut nonce);
    // Encryption with a fresh key and nonce cannot fail for inputs of this size.
    let ciphertext = cipher
        .encrypt(Nonce::from_slice(&nonce), plaintext)
        .unwrap_or_default();
    let mut out = nonce.to_vec();
    out.extend(ciphertext);
    B64.encode(out)
}

fn open(key: &[u8; 32], sealed: &str) -> Option<String> {
    let bytes = B64.decode(sealed).ok()?;
    if bytes.len() < 12 {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(12);
    let plaintext = Aes256Gcm::new(key.into())
        .decrypt(Nonce::from_slice(nonce), ciphertext)
        .ok()?;
    String::from_utf8(plaintext).ok()
}

/// What the throttle says about a sign-in attempt for one address.
#[derive(Debug, PartialEq, Eq)]
pub enum Throttle {
    /// Go ahead after waiting this long (zero for the first few failures).
    Wait(std::time::Duration),
    /// Too many failures recently: refuse without trying the password.
    Locked,
}

pub struct LoginGuard {
    pool: Pool,
    rules: LoginThrottle,
}

impl LoginGuard {
    pub fn new(pool: Pool, rules: LoginThrottle) -> Self {
        Self { pool, rules }
    }

    /// Counts a sign-in attempt for `email` *before* its password is tried, in one statement,
    /// and says what the attempts before it allow. Counting after the check let hundreds of
    /// parallel guesses through while each still saw the old count.
    pub async fn begin_attempt(&self, email: &str) -> Result<Throttle, SessionError> {
        let t = now();
        let row = sqlx::query(
            "INSERT INTO login_failures (email, failures, first_failure_at) VALUES ($1, 1, $2) \
             ON CONFLICT (email) DO UPDATE SET \
               failures = CASE WHEN login_failures.first_failure_at < $3 THEN 1 \
                               ELSE login_failures.failures + 1 END, \
               first_failure_at = CASE WHEN login_failures.first_failure_at < $3 THEN $2 \
                                       ELSE login_failures.first_failure_at END \
             RETURNING failures",
        )
        .bind(email)
        .bind(t)
        .bind(t - self.rules.window_seconds)
        .fetch_one(&self.pool)
        .await?;
        let attempts: i64 = row.try_get("failures")?;
        Ok(throttle_for(&self.rules, attempts - 1))
    }

    /// The attempt could not be judged (the mail server was unreachable): it does not count.
    pub async fn undo_attempt(&self, email: &str) -> Result<(), SessionError> {
        sqlx::query(
            "UPDATE login_failures SET failures = failures - 1 WHERE email = $1 AND failures > 0",
        )
        .bind(email)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn clear(&self, email: &str) -> Result<(), SessionError> {
        sqlx::query("DELETE FROM login_failures WHERE email = $1")
            .bind(email)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

fn throttle_for(rules: &LoginThrottle, failures: i64) -> Throttle {
    if failures >= rules.lockout_failures {
        return Throttle::Locked;
    }
    let over = (failures - rules.free_failures + 1).clamp(0, 8) as u32;
    let delay = if over == 0 {
        0
    } else {
        rules.delay_step_ms.saturating_mul(1 << (over - 1))
    };
    Throttle::Wait(std::time::Duration::from_millis(delay))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sealed_password_opens_only_with_its_key() {
        let key = random_token();
        let sealed = seal(&key, b"alice-secret");
        assert_eq!(open(&key, &sealed).as_deref(), Some("alice-secret"));
        assert_eq!(open(&random_token(), &sealed), None);
        assert_eq!(open(&key, "garbage"), None);
    }

    #[test]
    fn throttle_delays_then_locks() {
        let rules = LoginThrottle {
            free_failures: 3,
            delay_step_ms: 100,
            lockout_failures: 6,
            window_seconds: 60,
        };
        assert_eq!(throttle_for(&rules, 2), Throttle::Wait(Duration::ZERO));
        assert_eq!(
            throttle_for(&rules, 3),
            Throttle::Wait(Duration::from_millis(100))
        );
        assert_eq!(
            throttle_for(&rules, 5),
            Throttle::Wait(Duration::from_millis(400))
        );
        assert_eq!(throttle_for(&rules, 6), Throttle::Locked);
    }

    #[test]
    fn debug_output_hides_the_password_and_the_form_token() {
        let user = SignedIn {
            email: "alice@example.test".into(),
            password: "alice-secret".into(),
            csrf_token: "form-token-value".into(),
            pool_key: "pool".into(),
            client: None,
        };
        let shown = format!("{user:?} {:?}", Lookup::Active(user.clone()));
        assert!(shown.contains("alice@example.test"), "{shown}");
        assert!(!shown.contains("alice-secret"), "{shown}");
        assert!(!shown.contains("form-token-value"), "{shown}");
    }

    #[test]
    fn malformed_cookies_are_not_sessions() {
        assert!(split_cookie("").is_none());
        assert!(split_cookie("abc.def").is_none());
        assert!(
            split_cookie(&format!(
                "{}.{}",
                B64.encode([1u8; 32]),
                B64.encode([2u8; 31])
            ))
            .is_none()
        );
    }
}
