//! How many IMAP connections this instance holds open at once, in all and for one user.
//!
//! Dovecot serves a bounded number of connections (by default 100 `imap-login` processes, and
//! 10 per user and address). A burst of page loads that each opened a connection would exhaust
//! them and turn pages into errors; instead a page waits in line for a connection, for at most
//! the IMAP deadline. While anyone waits, connections idle in the pool give way: the longest
//! idle is closed when a page arrives, and a connection coming back from a page is closed
//! instead of pooled. One user's many tabs wait for that user's own connections the same way,
//! so they cannot take every connection from the others.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Session;
use super::pool::SessionPool;

/// An open IMAP connection and its place under the limit, given back when it is dropped.
pub struct Connection {
    pub session: Session,
    /// Whose connection it is (the IMAP user), for that user's limit.
    user: String,
    _permit: OwnedSemaphorePermit,
    _user_permit: OwnedSemaphorePermit,
}

#[derive(Debug, thiserror::Error)]
#[error("every connection to the mail server is in use")]
pub struct Busy;

impl Connection {
    pub fn user(&self) -> &str {
        &self.user
    }
}

/// Room for connections, and how many pages wait for it.
struct Slots {
    room: Arc<Semaphore>,
    waiting: AtomicUsize,
}

impl Slots {
    fn new(size: usize) -> Self {
        Self {
            room: Arc::new(Semaphore::new(size.max(1))),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Room for one more, waiting until `deadline` if there is none; `make_room` runs once the
    /// wait is counted, so no connection is pooled from then on that it would miss.
    async fn take(
        &self,
        deadline: tokio::time::Instant,
        make_room: impl FnOnce(),
    ) -> Result<OwnedSemaphorePermit, Busy> {
        if let Ok(permit) = Arc::clone(&self.room).try_acquire_owned() {
            return Ok(permit);
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        make_room();
        let waited =
            tokio::time::timeout_at(deadline, Arc::clone(&self.room).acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Busy),
        }
    }

    fn anyone_waiting(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) > 0
    }
}

pub struct ConnectionLimit {
    all: Slots,
    per_user: usize,
    /// Each user's own room, while the user holds or waits for a connection.
    users: Mutex<HashMap<String, Arc<Slots>>>,
}

impl ConnectionLimit {
    pub fn new(max_open: usize, max_per_user: usize) -> Self {
        Self {
            all: Slots::new(max_open),
            per_user: max_per_user.max(1),
            users: Mutex::new(HashMap::new()),
        }
    }

    fn user(&self, key: &str) -> Arc<Slots> {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            users
                .entry(key.to_string())
                .or_insert_with(|| Arc::new(Slots::new(self.per_user))),
        )
    }

    /// Waits (at most `patience` in all) for leave to open one more connection for the IMAP
    /// user `key`, then `login` opens it. When the user has no room, the user's idle
    /// connections in `pool` (of any of the user's sessions) are closed; when the instance has
    /// none, the one idle longest of anyone's.
    pub async fn open<E>(
        &self,
        key: &str,
        pool: &SessionPool,
        patience: Duration,
        login: impl Future<Output = Result<Session, E>>,
    ) -> Result<Result<Connection, E>, Busy> {
        let deadline = tokio::time::Instant::now() + patience;
        let user_permit = self
            .user(key)
            .take(deadline, || {
                for connection in pool.evict_user(key) {
                    close_in_background(connection);
                }
            })
            .await?;
        let permit = self
            .all
            .take(deadline, || drop(pool.evict_oldest()))
            .await?;
        Ok(login.await.map(|session| Connection {
            session,
            user: key.to_string(),
            _permit: permit,
            _user_permit: user_permit,
        }))
    }

    /// Whether a page is waiting for room this connection could make (anyone's, or its own
    /// user's): then it is closed when it comes back, rather than pooled.
    pub fn anyone_waiting_for(&self, connection: &Connection) -> bool {
        self.all.anyone_waiting()
            || self
                .users
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&connection.user)
                .is_some_and(|user| user.anyone_waiting())
    }

    /// Forgets the users who hold no connection and wait for none (upkeep).
    pub fn forget_idle_users(&self) {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        // A permit out or a page holding the entry counts the entry's `Arc`s above one.
        users.retain(|_, user| Arc::strong_count(user) > 1 || Arc::strong_count(&user.room) > 1);
    }
}

/// Says goodbye to the server without making anyone wait for it.
pub fn close_in_background(mut connection: Connection) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(5), connection.session.logout()).await;
    });
}
