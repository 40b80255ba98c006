//! How APDUs reach a card. The PIV client does not care what carries them: a USB reader driven
//! by our own CCID driver ([`crate::ccid`]), or the browser's Web Smart Card API, which talks
//! PC/SC to the operating system's reader driver.

use alloc::vec::Vec;

use crate::Error;

/// Something that carries one command APDU to a card and brings back its response.
// The browser is single-threaded and transports there wait on promises, so the futures need
// not be Send; that is what this lint is about.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// Send one encoded command APDU; the answer is response data followed by SW1 SW2.
    async fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error>;

    /// Whether extended-length APDUs get through. Without them, long commands are chained and
    /// long answers fetched with GET RESPONSE.
    fn carries_extended_apdus(&self) -> bool;
}

impl<T: Transport + ?Sized> Transport for &mut T {
    async fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        (**self).transmit(apdu).await
    }

    fn carries_extended_apdus(&self) -> bool {
        (**self).carries_extended_apdus()
    }
}
