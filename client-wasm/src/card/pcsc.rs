//! The Web Smart Card API (`navigator.smartCard`, Isolated Web Apps): the operating system's
//! PC/SC stack drives the reader, so APDUs go straight to the card and no CCID is ours to do.
//! A page framed by the kiosk app gets a connection of the same shape from the app.

use card::Error;
use card::transport::Transport;
use js_sys::{Function, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::js_message;

/// A `SmartCardConnection` the page opened (`context.connect(reader, "exclusive", …)`, so no
/// other program shares the card while the page holds it).
pub struct SmartCardConnection {
    connection: JsValue,
}

impl SmartCardConnection {
    pub fn new(connection: JsValue) -> Self {
        Self { connection }
    }
}

fn pcsc_error(error: JsValue) -> Error {
    // SmartCardError.responseCode names what happened; a removed card is the one the user
    // can act on.
    let code = Reflect::get(&error, &"responseCode".into())
        .ok()
        .and_then(|c| c.as_string());
    match code.as_deref() {
        Some("removed-card" | "reset-card") => Error::Removed,
        Some("no-smartcard") => Error::NoCard,
        _ => Error::Usb(js_message(&error)),
    }
}

impl Transport for SmartCardConnection {
    async fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        let transmit: Function = Reflect::get(&self.connection, &"transmit".into())
            .map_err(pcsc_error)?
            .dyn_into()
            .map_err(|_| {
                Error::Usb("this browser's smart card connection cannot transmit".into())
            })?;
        let command = Uint8Array::from(apdu);
        let promise: js_sys::Promise = transmit
            .call1(&self.connection, &command.buffer())
            .map_err(pcsc_error)?
            .dyn_into()
            .map_err(|_| Error::Usb("transmit did not return a promise".into()))?;
        let answer = JsFuture::from(promise).await.map_err(pcsc_error)?;
        Ok(Uint8Array::new(&answer).to_vec())
    }

    fn carries_extended_apdus(&self) -> bool {
        // PC/SC readers and PIV cards carry them; a reader that cannot answers 6700 and the
        // user is told the command is too long. The kiosk app's connection (`KioskReader`
        // behind it) says `extendedApdus: false` for a USB reader that takes short ones only.
        Reflect::get(&self.connection, &"extendedApdus".into())
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(true)
    }
}
