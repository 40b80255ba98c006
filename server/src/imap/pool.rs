//! Signed-in users' idle IMAP connections, kept so a page does not pay for a fresh login.
//!
//! Losing this pool loses nothing: a connection is rebuilt from the session's credentials. It is
//! bounded per user and in total, so memory per signed-in user stays at most one or two sockets;
//! and an idle connection gives way when a page needs one (see `limits`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::limits::Connection;

const PER_USER: usize = 2;

pub struct SessionPool {
    idle: Mutex<HashMap<String, Vec<(Connection, Instant)>>>,
    max_total: usize,
}

impl SessionPool {
    pub fn new(max_total: usize) -> Self {
        Self {
            idle: Mutex::new(HashMap::new()),
            max_total,
        }
    }

    /// An idle connection for `key` and how long it has been idle.
    pub fn take(&self, key: &str) -> Option<(Connection, Duration)> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(key)?;
        let (session, since) = list.pop()?;
        if list.is_empty() {
            idle.remove(key);
        }
        Some((session, since.elapsed()))
    }

    /// Keeps a healthy connection for later; drops it when the user or the pool is full.
    pub fn put(&self, key: &str, session: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let total: usize = idle.values().map(Vec::len).sum();
        let list = idle.entry(key.to_string()).or_default();
        if list.len() < PER_USER && total < self.max_total {
            list.push((session, Instant::now()));
        }
    }

    /// Drops a user's connections (sign-out).
    pub fn forget(&self, key: &str) -> Vec<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.remove(key)
            .map(|l| l.into_iter().map(|(s, _)| s).collect())
            .unwrap_or_default()
    }

    /// Takes out every idle connection of the IMAP user `user`, whichever session it was kept
    /// for, for the caller to close.
    pub fn evict_user(&self, user: &str) -> Vec<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let mut evicted = Vec::new();
        for list in idle.values_mut() {
            let (theirs, others): (Vec<_>, Vec<_>) =
                list.drain(..).partition(|(c, _)| c.user() == user);
            *list = others;
            evicted.extend(theirs.into_iter().map(|(c, _)| c));
        }
        idle.retain(|_, l| !l.is_empty());
        evicted
    }

    /// Removes connections idle longer than `max_idle`, for the caller to close.
    pub fn expire(&self, max_idle: Duration) -> Vec<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let mut expired = Vec::new();
        for list in idle.values_mut() {
            let (keep, old): (Vec<_>, Vec<_>) =
                list.drain(..).partition(|(_, t)| t.elapsed() < max_idle);
            *list = keep;
            expired.extend(old.into_iter().map(|(s, _)| s));
        }
        idle.retain(|_, l| !l.is_empty());
        expired
    }

    /// Takes out the connection idle longest, of any user, for the caller to close.
    pub fn evict_oldest(&self) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let (key, index) = idle
            .iter()
            .flat_map(|(key, list)| list.iter().enumerate().map(move |(i, (_, t))| (key, i, *t)))
            .min_by_key(|(_, _, t)| *t)
            .map(|(key, i, _)| (key.clone(), i))?;
        let list = idle.get_mut(&key)?;
        let (connection, _) = list.remove(index);
        if list.is_empty() {
            idle.remove(&key);
        }
        Some(connection)
    }

    pub fn idle_count(&self) -> usize {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(Vec::len)
            .sum()
    }
}
