//! How many IMAP connections this instance holds open at once.
//!
//! Dovecot serves a bounded number of connections (by default 100 `imap-login` processes). A
//! burst of page loads that each opened a connection would exhaust them and turn pages into
//! errors; instead a page waits in line for a connection, for at most the IMAP deadline. While
//! anyone waits, connections idle in the pool give way: the longest idle is closed when a page
//! arrives, and a connection coming back from a page is closed instead of pooled.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Session;
use super::pool::SessionPool;

/// An open IMAP connection and its place under the limit, given back when it is dropped.
pub struct Connection {
    pub session: Session,
    _permit: OwnedSemaphorePermit,
}

#[derive(Debug, thiserror::Error)]
#[error("every connection to the mail server is in use")]
pub struct Busy;

pub struct ConnectionLimit {
    open: Arc<Semaphore>,
    waiting: AtomicUsize,
}

impl ConnectionLimit {
    pub fn new(max_open: usize) -> Self {
        Self {
            open: Arc::new(Semaphore::new(max_open.max(1))),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Waits (at most `patience`) for leave to open one more connection, closing the one idle
    /// longest in `pool` when there is no room. Then `login` opens it.
    pub async fn open<E>(
        &self,
        pool: &SessionPool,
        patience: Duration,
        login: impl Future<Output = Result<Session, E>>,
    ) -> Result<Result<Connection, E>, Busy> {
        let permit = match Arc::clone(&self.open).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                self.waiting.fetch_add(1, Ordering::SeqCst);
                // Counted as waiting first, so no connection is pooled from here on that this
                // eviction would miss.
                drop(pool.evict_oldest());
                let waited =
                    tokio::time::timeout(patience, Arc::clone(&self.open).acquire_owned()).await;
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                match waited {
                    Ok(Ok(permit)) => permit,
                    _ => return Err(Busy),
                }
            }
        };
        Ok(login.await.map(|session| Connection {
            session,
            _permit: permit,
        }))
    }

    /// Whether a page is waiting for a connection: then a connection coming back is closed.
    pub fn anyone_waiting(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) > 0
    }
}

/// Says goodbye to the server without making anyone wait for it.
pub fn close_in_background(mut connection: Connection) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(5), connection.session.logout()).await;
    });
}
