//! Test tool: a USB CCID smart-card reader model with a real PIV card inside.
//!
//! Our smart-card tests drive our own host driver against this crate, so everything here follows
//! the specifications (USB CCID rev 1.1, ISO/IEC 7816-3 and -4, NIST SP 800-73-4) and a third
//! party's card, never our driver. The card is Nitrokey's `piv-authenticator` on trussed's
//! software platform ([`VirtualPiv`]); [`provision`] loads it through APDUs as a card-management
//! tool would; [`ccid::CcidReader`] is the reader around any [`Icc`].

mod apdu;
pub mod ccid;
mod platform;
pub mod provision;
mod t1;
mod virtual_piv;

pub use ccid::{CcidReader, Exchange, ReaderConfig};
pub use virtual_piv::VirtualPiv;

/// A card in the reader's slot, as the reader sees it: an ATR at power-up, then APDUs.
pub trait Icc {
    /// The answer-to-reset the card sends when powered up.
    fn atr(&self) -> Vec<u8>;
    /// One command APDU in, response data and SW1 SW2 out.
    fn transmit(&mut self, apdu: &[u8]) -> Vec<u8>;
    /// Called at every power-up (cold or warm reset): a real card forgets its volatile state.
    fn reset(&mut self) {}
}

impl Icc for VirtualPiv {
    fn atr(&self) -> Vec<u8> {
        VirtualPiv::atr(self)
    }

    fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        VirtualPiv::transmit(self, apdu)
    }

    fn reset(&mut self) {
        VirtualPiv::reset(self);
    }
}
