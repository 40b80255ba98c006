//! The full-text index of encrypted mail. The server cannot search inside an encrypted message,
//! so the browser module keeps this index of the messages it opens, and the page stores its
//! bytes in IndexedDB encrypted under a key only the user's digital ID unlocks. Pure: no I/O, no
//! clock, no randomness.
//!
//! A message is known by its folder and UID; its header fields are kept with it so a result can
//! be listed without asking the server. A query finds the messages that hold every one of its
//! words (after folding and stemming, see `words`), newest first.

mod words;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

pub use words::text_of_html;
use words::{Stemmers, words};

/// Longer than any query a person types (the server's search box has the same limit).
pub const MAX_QUERY_CHARS: usize = 500;
/// Only this much of a message's text is indexed: the words people search for are near the top,
/// and one huge message must not make the index huge.
pub const MAX_TEXT_BYTES: usize = 1 << 20;
/// The first byte of the stored form, so a later layout is recognised rather than misread.
const FORMAT: u8 = 1;

/// A message as a result lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub folder: String,
    pub uid: u32,
    pub subject: String,
    pub from: String,
    /// Seconds since 1970, as the folder list shows it; results are newest first.
    pub date: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IndexError {
    #[error("Type a word to search for.")]
    EmptyQuery,
    #[error("The search is too long: at most {MAX_QUERY_CHARS} characters.")]
    QueryTooLong,
    #[error("The stored search index is damaged or from another version; it will be rebuilt.")]
    Unreadable,
}

/// The stored form: entries by slot (a removed message leaves `None`), and for each term the
/// slots that hold it, ascending, as gaps (small numbers, so postcard writes them in a byte).
#[derive(Serialize, Deserialize)]
struct Stored {
    entries: Vec<Option<Entry>>,
    postings: Vec<(String, Vec<u32>)>,
}

pub struct Index {
    entries: Vec<Option<Entry>>,
    slots: HashMap<(String, u32), u32>,
    postings: BTreeMap<String, Vec<u32>>,
    stemmers: Stemmers,
}

impl Default for Index {
    fn default() -> Self {
        Self::new()
    }
}

impl Index {
    pub fn new() -> Self {
        Self {
            entries: Vec::new(),
            slots: HashMap::new(),
            postings: BTreeMap::new(),
            stemmers: Stemmers::new(),
        }
    }

    /// How many messages the index holds.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn contains(&self, folder: &str, uid: u32) -> bool {
        self.slots.contains_key(&(folder.to_string(), uid))
    }

    /// Indexes a message's text under `entry`, replacing what was indexed for that folder and
    /// UID before. The subject and sender are searchable too.
    pub fn add(&mut self, entry: Entry, text: &str) {
        self.remove(&entry.folder, entry.uid);
        let slot = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        let mut end = text.len().min(MAX_TEXT_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let header = format!("{} {}", entry.subject, entry.from);
        // Each distinct word is stemmed once: mail repeats its words, and stemming is the cost.
        let distinct: HashSet<String> = words(&header).chain(words(&text[..end])).collect();
        let mut terms: Vec<String> = distinct
            .iter()
            .flat_map(|w| self.stemmers.terms(w))
            .collect();
        terms.sort_unstable();
        terms.dedup();
        for term in terms {
            // Slots only grow, so each list stays ascending by pushing.
            self.postings.entry(term).or_default().push(slot);
        }
        self.slots.insert((entry.folder.clone(), entry.uid), slot);
        self.entries.push(Some(entry));
    }

    /// Forgets a message (deleted or moved): it is no longer found.
    pub fn remove(&mut self, folder: &str, uid: u32) {
        if let Some(slot) = self.slots.remove(&(folder.to_string(), uid)) {
            self.entries[slot as usize] = None;
        }
    }

    /// The messages holding every word of `query`, in `folder` if given, newest first.
    pub fn search(&self, query: &str, folder: Option<&str>) -> Result<Vec<&Entry>, IndexError> {
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(IndexError::QueryTooLong);
        }
        let asked: Vec<String> = words(query).collect();
        if asked.is_empty() {
            return Err(IndexError::EmptyQuery);
        }
        let mut found: Option<Vec<u32>> = None;
        for word in asked {
            let mut holding: Vec<u32> = self
                .stemmers
                .terms(&word)
                .iter()
                .filter_map(|term| self.postings.get(term))
                .flatten()
                .copied()
                .collect();
            holding.sort_unstable();
            holding.dedup();
            found = Some(match found {
                None => holding,
                Some(so_far) => so_far
                    .into_iter()
                    .filter(|s| holding.binary_search(s).is_ok())
                    .collect(),
            });
        }
        let mut results: Vec<&Entry> = found
            .unwrap_or_default()
            .into_iter()
            .filter_map(|slot| self.entries.get(slot as usize)?.as_ref())
            .filter(|e| folder.is_none_or(|f| e.folder == f))
            .collect();
        results.sort_by(|a, b| b.date.cmp(&a.date).then(b.uid.cmp(&a.uid)));
        Ok(results)
    }

    /// The index as bytes, for the page to encrypt and store. Removed messages are dropped.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Renumber the live slots so the stored form carries no gaps.
        let mut renumbered = vec![u32::MAX; self.entries.len()];
        let mut entries = Vec::with_capacity(self.slots.len());
        for (old, entry) in self.entries.iter().enumerate() {
            if let Some(entry) = entry {
                renumbered[old] = entries.len() as u32;
                entries.push(Some(entry.clone()));
            }
        }
        let postings = self
            .postings
            .iter()
            .filter_map(|(term, slots)| {
                let mut previous = 0;
                let gaps: Vec<u32> = slots
                    .iter()
                    .map(|&s| renumbered[s as usize])
                    .filter(|&s| s != u32::MAX)
                    .map(|s| {
                        let gap = s - previous;
                        previous = s;
                        gap
                    })
                    .collect();
                (!gaps.is_empty()).then(|| (term.clone(), gaps))
            })
            .collect();
        let mut bytes = vec![FORMAT];
        // Serialising owned vectors of strings and integers cannot fail.
        bytes.extend(postcard::to_allocvec(&Stored { entries, postings }).unwrap_or_default());
        bytes
    }

    /// Reads what `to_bytes` wrote. Anything else is refused whole.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IndexError> {
        let (&format, rest) = bytes.split_first().ok_or(IndexError::Unreadable)?;
        if format != FORMAT {
            return Err(IndexError::Unreadable);
        }
        let stored: Stored = postcard::from_bytes(rest).map_err(|_| IndexError::Unreadable)?;
        let count = stored.entries.len();
        let mut postings = BTreeMap::new();
        for (term, gaps) in stored.postings {
            let mut slots = Vec::with_capacity(gaps.len());
            let mut at: u32 = 0;
            for (i, gap) in gaps.into_iter().enumerate() {
                at = at.checked_add(gap).ok_or(IndexError::Unreadable)?;
                // Gaps after the first are at least 1 and the slots exist: else it is not ours.
                if (i > 0 && gap == 0) || at as usize >= count {
                    return Err(IndexError::Unreadable);
                }
                slots.push(at);
            }
            postings.insert(term, slots);
        }
        let mut slots = HashMap::with_capacity(count);
        for (slot, entry) in stored.entries.iter().enumerate() {
            if let Some(e) = entry {
                slots.insert((e.folder.clone(), e.uid), slot as u32);
            }
        }
        Ok(Self {
            entries: stored.entries,
            slots,
            postings,
            stemmers: Stemmers::new(),
        })
    }
}

#[cfg(test)]
mod tests;
