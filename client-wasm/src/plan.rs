//! Planning a send in the browser with the shared send rules (`send_rules`): reading the typed
//! recipients, and deciding which of the certificates the server offered the message may be
//! encrypted to, and which of the user's own digital IDs fit signing or encryption. The page asks
//! before using any certificate this plan doubts.

use wasm_bindgen::prelude::*;

use crate::js::{from_js, js_error, to_js};

/// To, Cc and Bcc as typed → `{to, cc, bcc, all}` (`send_rules::Recipients`), or the sentence
/// naming what is not an address.
#[wasm_bindgen]
pub fn read_recipients(to: &str, cc: &str, bcc: &str) -> Result<JsValue, JsError> {
    let read = send_rules::recipients(to, cc, bcc)
        .map_err(|e| js_error(format!("Your message was not sent: {e}.")))?;
    to_js(&read)
}

/// A `send_rules::plan::Request` → its `Plan`.
#[wasm_bindgen]
pub fn plan_send(request: JsValue) -> Result<JsValue, JsError> {
    let request: send_rules::plan::Request = from_js(request, "send plan")?;
    to_js(&send_rules::plan::plan(&request).map_err(js_error)?)
}

#[derive(serde::Deserialize)]
struct ReadingRequest {
    remembered: Vec<send_rules::continuity::Remembered>,
    address: String,
    #[serde(with = "serde_bytes")]
    certificate: Vec<u8>,
    trusted: bool,
}

/// A signature read from a correspondent → `{changed, remember}` (key continuity on reading).
#[wasm_bindgen]
pub fn read_signer(request: JsValue) -> Result<JsValue, JsError> {
    let r: ReadingRequest = from_js(request, "signer")?;
    let reading =
        send_rules::continuity::on_reading(&r.remembered, &r.address, &r.certificate, r.trusted)
            .map_err(js_error)?;
    to_js(&reading)
}

#[derive(serde::Deserialize)]
struct FittingRequest {
    certificates: Vec<serde_bytes::ByteBuf>,
    purpose: send_rules::own::Purpose,
    address: Option<String>,
    time: i64,
}

/// `{ certificates, purpose: "sign"|"encrypt", address, time }` → the positions of the user's
/// own digital IDs that fit (`send_rules::own`, the rule the server validates with).
#[wasm_bindgen]
pub fn own_fitting(request: JsValue) -> Result<Vec<u32>, JsError> {
    let r: FittingRequest = from_js(request, "digital IDs")?;
    Ok(
        send_rules::own::fitting(&r.certificates, r.purpose, r.address.as_deref(), r.time)
            .into_iter()
            .filter_map(|i| u32::try_from(i).ok())
            .collect(),
    )
}
