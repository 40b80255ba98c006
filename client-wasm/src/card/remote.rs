//! The engine's side of the card in the browser: the engine runs in a worker and the card
//! belongs to the page, so each request is posted to the page (engine-worker.js defines
//! `sealmailCardRequest`) and the answer awaited.

use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use zeroize::Zeroizing;

use super::{CardChannel, CardRequest, js_message};
use crate::js::to_js;

#[wasm_bindgen]
extern "C" {
    /// Resolves with the card's answer bytes, or rejects with the card's sentence.
    #[wasm_bindgen(catch, js_name = sealmailCardRequest)]
    fn card_request(request: JsValue) -> Result<js_sys::Promise, JsValue>;
}

/// The page, as the engine's card.
pub struct PageChannel;

impl CardChannel for PageChannel {
    async fn request(&self, request: CardRequest) -> Result<Zeroizing<Vec<u8>>, String> {
        let request =
            to_js(&request).map_err(|_| "the card request could not be sent".to_string())?;
        let promise = card_request(request).map_err(|e| js_message(&e))?;
        let answer = JsFuture::from(promise).await.map_err(|e| js_message(&e))?;
        let answer = Uint8Array::new(&answer);
        let bytes = Zeroizing::new(answer.to_vec());
        // The answer may be a content key: leave no copy in JS memory.
        answer.fill(0, 0, answer.length());
        Ok(bytes)
    }
}
