//! The search index of encrypted mail, as the page's worker holds it: one `SearchIndex` per page,
//! loaded from the bytes the page decrypted, fed the messages the user opens, and handed back as
//! bytes for the page to encrypt and store. The index itself is `sealmail-search-index`.

use search_index::{Entry, Index, text_of_html};
use wasm_bindgen::prelude::*;

use crate::js::{from_js, js_error, to_js};

#[wasm_bindgen]
pub struct SearchIndex(Index);

impl Default for SearchIndex {
    fn default() -> Self {
        Self::new()
    }
}

#[wasm_bindgen]
impl SearchIndex {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Self {
        Self(Index::new())
    }

    /// The index the page stored (after decrypting it); damaged bytes are refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<SearchIndex, JsError> {
        Index::from_bytes(bytes).map(Self).map_err(js_error)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes()
    }

    pub fn size(&self) -> usize {
        self.0.len()
    }

    /// Which of `uids` in `folder` are not indexed yet.
    pub fn missing(&self, folder: &str, uids: &[u32]) -> Vec<u32> {
        uids.iter()
            .copied()
            .filter(|&uid| !self.0.contains(folder, uid))
            .collect()
    }

    /// Indexes an opened message: `entry` is `{ folder, uid, subject, from, date }`; the body is
    /// its text, or else its HTML.
    pub fn add(&mut self, entry: JsValue, text: &str, html: &str) -> Result<(), JsError> {
        let entry: Entry = from_js(entry, "message to index")?;
        if text.trim().is_empty() && !html.is_empty() {
            self.0.add(entry, &text_of_html(html));
        } else {
            self.0.add(entry, text);
        }
        Ok(())
    }

    pub fn remove(&mut self, folder: &str, uid: u32) {
        self.0.remove(folder, uid);
    }

    /// The entries holding every word of `query` (in `folder` if given), newest first.
    pub fn search(&self, query: &str, folder: Option<String>) -> Result<JsValue, JsError> {
        let found = self.0.search(query, folder.as_deref()).map_err(js_error)?;
        to_js(&found)
    }
}
