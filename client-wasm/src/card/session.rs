//! The page's card session (`CardSession` in JS): opened on a reader the user picked, it lists
//! the card's certificates, verifies the PIN, and answers the engine's requests. It lives only
//! in the page's memory: nothing from the card is stored, and closing it (sign-out, card
//! removed) forgets it all.

use std::rc::Rc;

use card::Error;
use card::ccid::Reader;
use card::piv::PinStatus;
use card::transport::Transport;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::pcsc::SmartCardConnection;
use super::webusb::{RemovalWatch, WebUsbPipe, card_removed_promise, power_on};
use super::{CardRequest, LocalCard};
use crate::js::{from_js, js_error, to_js};

/// However the card is reached.
pub enum AnyTransport {
    Usb(Reader<WebUsbPipe>),
    SmartCardApi(SmartCardConnection),
}

impl Transport for AnyTransport {
    async fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        match self {
            Self::Usb(reader) => reader.transmit(apdu).await,
            Self::SmartCardApi(connection) => connection.transmit(apdu).await,
        }
    }

    fn carries_extended_apdus(&self) -> bool {
        match self {
            Self::Usb(reader) => reader.carries_extended_apdus(),
            Self::SmartCardApi(connection) => connection.carries_extended_apdus(),
        }
    }
}

/// A connected card, for the page.
#[wasm_bindgen]
pub struct CardSession {
    card: Rc<LocalCard<AnyTransport>>,
    removal: Option<Rc<RemovalWatch>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PinState {
    verified: bool,
    tries_left: Option<u8>,
    blocked: bool,
}

fn to_promise_error(e: JsError) -> JsValue {
    e.into()
}

#[wasm_bindgen]
impl CardSession {
    /// Open a USB reader the user picked (`navigator.usb.requestDevice`), power the card and
    /// select PIV.
    #[wasm_bindgen(js_name = openUsb)]
    pub async fn open_usb(device: web_sys::UsbDevice) -> Result<CardSession, JsError> {
        let (reader, removal) = power_on(device).await.map_err(js_error)?;
        let card = LocalCard::open(AnyTransport::Usb(reader))
            .await
            .map_err(js_error)?;
        Ok(Self {
            card: Rc::new(card),
            removal,
        })
    }

    /// Open a card through a Web Smart Card API connection the page made.
    #[wasm_bindgen(js_name = openSmartCard)]
    pub async fn open_smart_card(connection: JsValue) -> Result<CardSession, JsError> {
        let transport = AnyTransport::SmartCardApi(SmartCardConnection::new(connection));
        let card = LocalCard::open(transport).await.map_err(js_error)?;
        Ok(Self {
            card: Rc::new(card),
            removal: None,
        })
    }

    /// Resolves to `true` when the card is pulled out of a USB reader (the reader itself stays
    /// connected), or to `false` at once when this reader cannot tell.
    #[wasm_bindgen(js_name = cardRemoved)]
    pub fn card_removed(&self) -> js_sys::Promise {
        card_removed_promise(self.removal.clone(), |e| js_error(e).into())
    }

    /// Resolves to `[{ slot, certificate }]`: every usable certificate on the card.
    pub fn certificates(&self) -> js_sys::Promise {
        let card = Rc::clone(&self.card);
        future_to_promise(async move {
            let found = card
                .certificates()
                .await
                .map_err(|e| to_promise_error(js_error(e)))?;
            to_js(&found).map_err(to_promise_error)
        })
    }

    /// Resolves to `{ verified, triesLeft, blocked }`.
    #[wasm_bindgen(js_name = pinStatus)]
    pub fn pin_status(&self) -> js_sys::Promise {
        let card = Rc::clone(&self.card);
        future_to_promise(async move {
            let state = match card
                .pin_status()
                .await
                .map_err(|e| to_promise_error(js_error(e)))?
            {
                PinStatus::Verified => PinState {
                    verified: true,
                    tries_left: None,
                    blocked: false,
                },
                PinStatus::TriesLeft(n) => PinState {
                    verified: false,
                    tries_left: Some(n),
                    blocked: false,
                },
                PinStatus::Blocked => PinState {
                    verified: false,
                    tries_left: Some(0),
                    blocked: true,
                },
            };
            to_js(&state).map_err(to_promise_error)
        })
    }

    /// Verify the PIN and hold it until `forgetPin` (a signature key needs it before every
    /// signature). Rejects with the tries left when it is wrong.
    pub fn unlock(&self, pin: String) -> js_sys::Promise {
        let card = Rc::clone(&self.card);
        future_to_promise(async move {
            let mut pin = zeroize::Zeroizing::new(pin);
            let result = card.unlock(&pin).await;
            zeroize::Zeroize::zeroize(&mut *pin);
            result.map_err(|e| to_promise_error(js_error(e)))?;
            Ok(JsValue::UNDEFINED)
        })
    }

    #[wasm_bindgen(js_name = forgetPin)]
    pub fn forget_pin(&self) {
        self.card.forget_pin();
    }

    /// Forget the PIN here and on the card (the operation is over).
    pub fn lock(&self) -> js_sys::Promise {
        let card = Rc::clone(&self.card);
        future_to_promise(async move {
            card.lock()
                .await
                .map_err(|e| to_promise_error(js_error(e)))?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Answer one request from the engine (`{ op: "sign" | "decrypt" | "agree", … }`) with
    /// the card's output bytes.
    pub fn perform(&self, request: JsValue) -> js_sys::Promise {
        let card = Rc::clone(&self.card);
        future_to_promise(async move {
            let request: CardRequest =
                from_js(request, "card request").map_err(to_promise_error)?;
            let output = card
                .perform(&request)
                .await
                .map_err(|e| to_promise_error(js_error(e)))?;
            Ok(js_sys::Uint8Array::from(output.as_slice()).into())
        })
    }
}
