//! A short-lived, bounded memory of directory answers: a compose page asks for the same
//! recipients again and again while the user types, and the directory need not hear each time.
//! The clock is an argument, so the cache is tested without waiting.

use std::collections::HashMap;
use std::time::{Duration, Instant};

pub struct Cache<V> {
    ttl: Duration,
    capacity: usize,
    entries: HashMap<String, (Instant, V)>,
}

impl<V: Clone> Cache<V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            entries: HashMap::new(),
        }
    }

    /// The answer stored for `key`, unless it is older than the time to live.
    pub fn get(&self, key: &str, now: Instant) -> Option<V> {
        self.entries
            .get(key)
            .filter(|(at, _)| now.duration_since(*at) < self.ttl)
            .map(|(_, v)| v.clone())
    }

    /// Stores an answer. When full, expired answers go first, then all of them: a full cache of
    /// fresh answers is rare enough that forgetting everything once costs less than tracking age.
    pub fn put(&mut self, key: String, value: V, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            let ttl = self.ttl;
            self.entries
                .retain(|_, (at, _)| now.duration_since(*at) < ttl);
            if self.entries.len() >= self.capacity {
                self.entries.clear();
            }
        }
        self.entries.insert(key, (now, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_expire_and_the_size_is_bounded() {
        let t0 = Instant::now();
        let mut c = Cache::new(Duration::from_secs(60), 2);
        c.put("a".into(), 1, t0);
        assert_eq!(c.get("a", t0 + Duration::from_secs(59)), Some(1));
        assert_eq!(c.get("a", t0 + Duration::from_secs(60)), None);
        c.put("b".into(), 2, t0);
        c.put("c".into(), 3, t0 + Duration::from_secs(1));
        assert!(c.entries.len() <= 2);
        assert_eq!(c.get("c", t0 + Duration::from_secs(1)), Some(3));
    }

    #[test]
    fn a_zero_time_to_live_keeps_nothing() {
        let t0 = Instant::now();
        let mut c = Cache::new(Duration::ZERO, 10);
        c.put("a".into(), 1, t0);
        assert_eq!(c.get("a", t0), None);
    }
}
