//! Rendered public answers, kept briefly: the open endpoints are polled by every app in the city, and in a
//! flood everybody refreshes the same lists.
//!
//! An entry is the exact bytes of a 200 answer for one path and query string. It is served only while
//! - no write has committed in this process since it was made (the store's data epoch: every POST, staff
//!   action and back-office update moves it, so a change is visible at once), and
//! - it is younger than `max_age` (a change made by another process on the same database, such as
//!   `civic311 reroute`, and the 90-day window's moving edge, are seen within that time).
//!
//! An answer is kept from the second time it is made: a query string asked once (a scraper walking ids, a
//! client that adds a timestamp to every URL) would otherwise fill the cache with answers nobody asks for
//! again, and push out the lists that everybody polls.
//!
//! Memory is bounded by `max_bytes`; when full, the cache starts again empty rather than tracking use.

use super::format::Answer;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct ResponseCache {
    max_age: Duration,
    max_bytes: usize,
    inner: Mutex<Inner>,
    hasher: RandomState,
}

/// How many keys made once are remembered; past that the memory of them starts again.
const SEEN: usize = 16_384;

#[derive(Default)]
struct Inner {
    epoch: u64,
    bytes: usize,
    entries: HashMap<String, Entry>,
    /// Hashes of keys whose answer has been made once and not kept. A data change does not clear it:
    /// a popular query stays popular.
    seen: HashSet<u64>,
}

struct Entry {
    made: Instant,
    answer: Answer,
}

impl ResponseCache {
    /// `max_age` of zero turns the cache off.
    pub fn new(max_age: Duration, max_bytes: usize) -> Self {
        Self {
            max_age,
            max_bytes,
            inner: Mutex::default(),
            hasher: RandomState::new(),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.max_age.is_zero()
    }

    pub fn get(&self, key: &str, epoch: u64) -> Option<Answer> {
        if !self.enabled() {
            return None;
        }
        let mut inner = self.inner.lock().ok()?;
        if inner.epoch != epoch {
            inner.entries.clear();
            inner.bytes = 0;
            inner.epoch = epoch;
            return None;
        }
        let e = inner.entries.get(key)?;
        (e.made.elapsed() < self.max_age).then(|| e.answer.clone())
    }

    /// Keeps an answer made from data as of `epoch` (read before the data was).
    pub fn put(&self, key: String, epoch: u64, answer: Answer) {
        let size = answer.body.len() + answer.etag.len();
        if !self.enabled() || size > self.max_bytes / 8 {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.epoch != epoch {
            // A write landed while this answer was made: it may already be stale.
            return;
        }
        let hash = self.hasher.hash_one(&key);
        if !inner.entries.contains_key(&key) && inner.seen.insert(hash) {
            if inner.seen.len() > SEEN {
                inner.seen.clear();
                inner.seen.insert(hash);
            }
            return;
        }
        if inner.bytes + size > self.max_bytes {
            inner.entries.clear();
            inner.bytes = 0;
        }
        inner.bytes += size + key.len();
        if let Some(old) = inner.entries.insert(
            key,
            Entry {
                made: Instant::now(),
                answer,
            },
        ) {
            inner.bytes = inner
                .bytes
                .saturating_sub(old.answer.body.len() + old.answer.etag.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn answer(body: Bytes) -> Answer {
        Answer::new("x", body, None)
    }

    /// An answer made for the second time, which is kept.
    fn put_twice(c: &ResponseCache, key: &str, epoch: u64, body: &'static [u8]) {
        for _ in 0..2 {
            c.put(key.into(), epoch, answer(Bytes::from_static(body)));
        }
    }

    #[test]
    fn an_answer_is_kept_from_its_second_asking() {
        let c = ResponseCache::new(Duration::from_secs(5), 1 << 20);
        assert!(c.get("a", 1).is_none());
        c.put("a".into(), 1, answer(Bytes::from_static(b"one")));
        assert!(c.get("a", 1).is_none(), "asked once: not kept");
        c.put("a".into(), 1, answer(Bytes::from_static(b"one")));
        assert_eq!(c.get("a", 1).unwrap().body, Bytes::from_static(b"one"));
        assert!(c.get("a", 2).is_none(), "a newer epoch empties the cache");
        c.put("a".into(), 2, answer(Bytes::from_static(b"two")));
        assert_eq!(
            c.get("a", 2).unwrap().body,
            Bytes::from_static(b"two"),
            "a write does not make a popular answer a stranger again"
        );
    }

    #[test]
    fn answers_asked_once_take_no_room() {
        let c = ResponseCache::new(Duration::from_secs(5), 1 << 20);
        let _ = c.get("", 0);
        for i in 0..(SEEN * 2) {
            c.put(format!("k{i}"), 0, answer(Bytes::from_static(b"body")));
        }
        let inner = c.inner.lock().unwrap();
        assert_eq!(inner.entries.len(), 0);
        assert_eq!(inner.bytes, 0);
        assert!(inner.seen.len() <= SEEN);
    }

    #[test]
    fn a_write_or_age_ends_an_entry() {
        let c = ResponseCache::new(Duration::from_millis(50), 1 << 20);
        assert!(c.get("a", 1).is_none());
        put_twice(&c, "a", 1, b"one");
        assert_eq!(c.get("a", 1).unwrap().body, Bytes::from_static(b"one"));
        assert!(c.get("a", 2).is_none(), "a newer epoch empties the cache");
        assert!(c.get("a", 2).is_none());
        put_twice(&c, "a", 2, b"two");
        std::thread::sleep(Duration::from_millis(60));
        assert!(c.get("a", 2).is_none(), "too old");
    }

    #[test]
    fn an_answer_made_across_a_write_is_not_kept() {
        let c = ResponseCache::new(Duration::from_secs(5), 1 << 20);
        assert!(c.get("k", 1).is_none());
        assert!(c.get("k", 2).is_none());
        put_twice(&c, "k", 1, b"old");
        assert!(c.get("k", 2).is_none());
    }

    #[test]
    fn memory_stays_bounded() {
        let c = ResponseCache::new(Duration::from_secs(5), 1000);
        let _ = c.get("", 0);
        for i in 0..100 {
            for _ in 0..2 {
                c.put(format!("k{i}"), 0, answer(Bytes::from(vec![0u8; 100])));
            }
        }
        let inner = c.inner.lock().unwrap();
        assert!(inner.bytes <= 1000, "{}", inner.bytes);
        assert!(inner.entries.len() < 100);
    }

    #[test]
    fn zero_age_is_off() {
        let c = ResponseCache::new(Duration::ZERO, 1000);
        put_twice(&c, "a", 0, b"one");
        assert!(c.get("a", 0).is_none());
    }
}
