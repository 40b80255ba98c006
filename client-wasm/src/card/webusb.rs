//! A USB smart-card reader through WebUSB: the configuration descriptor read over the control
//! endpoint (WebUSB does not expose class descriptors), the CCID interface claimed, and the bulk
//! endpoints handed to our CCID driver.

use std::rc::Rc;

use card::Error;
use card::ccid::{CcidDescriptor, Reader, UsbPipe, find_reader, slot_change};
use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{JsFuture, future_to_promise};
use web_sys::{
    UsbControlTransferParameters, UsbDevice, UsbInTransferResult, UsbOutTransferResult,
    UsbRecipient, UsbRequestType, UsbTransferStatus,
};

use super::js_message;

/// The reader's bulk endpoints on a claimed interface.
pub struct WebUsbPipe {
    device: UsbDevice,
    bulk_in: u8,
    bulk_out: u8,
}

fn usb_error(error: JsValue) -> Error {
    // A device unplugged mid-transfer rejects with NotFoundError.
    if js_sys::Reflect::get(&error, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .is_some_and(|n| n == "NotFoundError")
    {
        return Error::Removed;
    }
    Error::Usb(js_message(&error))
}

async fn wait(promise: js_sys::Promise<impl JsCast>) -> Result<JsValue, Error> {
    JsFuture::from(promise.unchecked_into::<js_sys::Promise>())
        .await
        .map_err(usb_error)
}

fn in_bytes(result: &UsbInTransferResult) -> Result<Vec<u8>, Error> {
    if result.status() != UsbTransferStatus::Ok {
        return Err(Error::Usb(format!(
            "the transfer ended with {:?}",
            result.status()
        )));
    }
    Ok(match result.data() {
        Some(view) => Uint8Array::new_with_byte_offset_and_length(
            &view.buffer(),
            view.byte_offset() as u32,
            view.byte_length() as u32,
        )
        .to_vec(),
        None => Vec::new(),
    })
}

impl UsbPipe for WebUsbPipe {
    async fn bulk_out(&mut self, data: &[u8]) -> Result<(), Error> {
        let promise = self
            .device
            .transfer_out_with_u8_slice(self.bulk_out & 0x0F, data)
            .map_err(usb_error)?;
        let result: UsbOutTransferResult = wait(promise).await?.unchecked_into();
        if result.status() != UsbTransferStatus::Ok {
            return Err(Error::Usb(format!(
                "the transfer ended with {:?}",
                result.status()
            )));
        }
        Ok(())
    }

    async fn bulk_in(&mut self, max_len: usize) -> Result<Vec<u8>, Error> {
        let promise = self.device.transfer_in(self.bulk_in & 0x0F, max_len as u32);
        let result: UsbInTransferResult = wait(promise).await?.unchecked_into();
        in_bytes(&result)
    }
}

/// GET_DESCRIPTOR(CONFIGURATION) over the default control pipe: first its 9-byte header for
/// wTotalLength, then the whole of it.
async fn configuration_descriptor(device: &UsbDevice) -> Result<Vec<u8>, Error> {
    let setup = UsbControlTransferParameters::new(
        0,
        UsbRecipient::Device,
        0x06,
        UsbRequestType::Standard,
        0x0200,
    );
    let header: UsbInTransferResult = wait(device.control_transfer_in(&setup, 9))
        .await?
        .unchecked_into();
    let header = in_bytes(&header)?;
    if header.len() < 4 {
        return Err(Error::NotAReader("it returned no configuration descriptor"));
    }
    let total = u16::from_le_bytes([header[2], header[3]]);
    let whole: UsbInTransferResult = wait(device.control_transfer_in(&setup, total))
        .await?
        .unchecked_into();
    in_bytes(&whole)
}

/// The reader's interrupt endpoint, where it says a card came or went.
pub struct RemovalWatch {
    device: UsbDevice,
    endpoint: u8,
}

impl RemovalWatch {
    /// Resolves when the card leaves the reader (a reader with a slot stays plugged in, so
    /// WebUSB's `disconnect` does not fire for that).
    pub async fn card_removed(&self) -> Result<(), Error> {
        loop {
            let result: UsbInTransferResult =
                wait(self.device.transfer_in(self.endpoint & 0x0F, 8))
                    .await?
                    .unchecked_into();
            if slot_change(&in_bytes(&result)?) == Some(false) {
                return Ok(());
            }
        }
    }
}

/// A reader the user picked, opened with its card powered: our CCID driver on it, and the
/// watch for the card leaving if the reader has an interrupt endpoint.
pub async fn power_on(
    device: UsbDevice,
) -> Result<(Reader<WebUsbPipe>, Option<Rc<RemovalWatch>>), Error> {
    let (pipe, ccid, removal) = open_reader(device).await?;
    let reader = Reader::power_on(pipe, ccid).await?;
    Ok((reader, removal.map(Rc::new)))
}

/// For JS: resolves to `true` when the card is pulled out of a reader that stays plugged in,
/// or to `false` at once when the reader cannot tell (`removal` is `None`); a failing reader
/// rejects with what `reject` makes of the error.
pub fn card_removed_promise(
    removal: Option<Rc<RemovalWatch>>,
    reject: fn(Error) -> JsValue,
) -> js_sys::Promise {
    future_to_promise(async move {
        let Some(removal) = removal else {
            return Ok(JsValue::FALSE);
        };
        removal.card_removed().await.map_err(reject)?;
        Ok(JsValue::TRUE)
    })
}

/// An open reader: the pipe for the CCID driver, its descriptor, and its removal watch if it
/// has an interrupt endpoint.
type OpenReader = (WebUsbPipe, CcidDescriptor, Option<RemovalWatch>);

/// Open the device the user picked, claim its smart-card interface and return the pipe.
async fn open_reader(device: UsbDevice) -> Result<OpenReader, Error> {
    if !device.opened() {
        wait(device.open()).await?;
    }
    let configuration = configuration_descriptor(&device).await?;
    let reader = find_reader(&configuration)?;
    if device.configuration().is_none() {
        wait(device.select_configuration(configuration.get(5).copied().unwrap_or(1))).await?;
    }
    // Chrome refuses the smart-card class here unless the page is an Isolated Web App with
    // the usb-unrestricted permission; say so rather than pass on a bare SecurityError.
    match wait(device.claim_interface(reader.interface)).await {
        Ok(_) => {}
        Err(Error::Usb(why)) => {
            return Err(Error::Usb(format!(
                "the browser would not hand over the reader ({why}). Chrome hands smart-card readers only to kiosk (Isolated Web App) pages."
            )));
        }
        Err(other) => return Err(other),
    }
    if reader.alternate != 0 {
        wait(device.select_alternate_interface(reader.interface, reader.alternate)).await?;
    }
    let watch = reader.interrupt_in.map(|endpoint| RemovalWatch {
        device: device.clone(),
        endpoint,
    });
    Ok((
        WebUsbPipe {
            device,
            bulk_in: reader.bulk_in,
            bulk_out: reader.bulk_out,
        },
        reader.ccid,
        watch,
    ))
}
