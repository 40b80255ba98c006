//! The kiosk app's half of the card (`KioskReader` in JS). An Isolated Web App may claim a USB
//! card reader, but it shows Sealmail's pages in a frame from the server, and the frame may
//! not. So the app holds the reader and carries raw APDUs for the framed page, which runs PIV
//! itself as it would on a reader of its own ([`super::pcsc`] on the page's side).
//!
//! The reader stays open while the pages in the frame come and go: each page selects PIV
//! again, and the app never sees what the APDUs mean.

use std::cell::RefCell;
use std::rc::Rc;

use card::Error;
use card::ccid::Reader;
use card::transport::Transport;
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::webusb::{RemovalWatch, WebUsbPipe, card_removed_promise, power_on};

/// A USB reader the kiosk app opened with Sealmail's CCID driver.
#[wasm_bindgen]
pub struct KioskReader {
    // Taken out for each exchange so no borrow is held across an await; `None` meanwhile.
    reader: Rc<RefCell<Option<Reader<WebUsbPipe>>>>,
    removal: Option<Rc<RemovalWatch>>,
    extended_apdus: bool,
}

/// A rejection the page can act on: the sentence, and for a card that left, the Web Smart
/// Card API's `responseCode`, which the page already understands.
fn rejection(error: Error) -> JsValue {
    let code = match error {
        Error::Removed => Some("removed-card"),
        Error::NoCard => Some("no-smartcard"),
        _ => None,
    };
    let value: JsValue = JsError::new(&error.to_string()).into();
    if let Some(code) = code {
        // Setting a property on a fresh Error object cannot fail.
        let _ = Reflect::set(&value, &"responseCode".into(), &code.into());
    }
    value
}

#[wasm_bindgen]
impl KioskReader {
    /// Open the USB reader (`navigator.usb`) and power the card on.
    #[wasm_bindgen(js_name = openUsb)]
    pub async fn open_usb(device: web_sys::UsbDevice) -> Result<KioskReader, JsValue> {
        let (reader, removal) = power_on(device).await.map_err(rejection)?;
        Ok(Self {
            extended_apdus: reader.carries_extended_apdus(),
            reader: Rc::new(RefCell::new(Some(reader))),
            removal,
        })
    }

    /// Whether whole extended APDUs may be sent; if not, the page chains its commands.
    #[wasm_bindgen(getter, js_name = extendedApdus)]
    pub fn extended_apdus(&self) -> bool {
        self.extended_apdus
    }

    /// Send one command APDU; resolves to the response with its status word.
    pub fn transmit(&self, apdu: Vec<u8>) -> js_sys::Promise {
        let slot = Rc::clone(&self.reader);
        future_to_promise(async move {
            let taken = slot.borrow_mut().take();
            let mut reader =
                taken.ok_or_else(|| rejection(Error::Usb("the reader is busy".into())))?;
            let answer = reader.transmit(&apdu).await;
            *slot.borrow_mut() = Some(reader);
            let answer = answer.map_err(rejection)?;
            Ok(Uint8Array::from(answer.as_slice()).into())
        })
    }

    /// Resolves to `true` when the card leaves a reader that stays plugged in, or to `false`
    /// at once when this reader cannot tell.
    #[wasm_bindgen(js_name = cardRemoved)]
    pub fn card_removed(&self) -> js_sys::Promise {
        card_removed_promise(self.removal.clone(), rejection)
    }
}
