//! Smart cards for Sealmail, with no I/O of its own (it builds for wasm32 and natively):
//!
//! * [`piv`]: the PIV card application — certificates, PIN, sign, decrypt, ECDH.
//! * [`apdu`]: command/response APDUs, chaining and GET RESPONSE.
//! * [`transport`]: the trait every way of reaching a card implements.
//! * [`ccid`]: a USB CCID reader driver (APDU and TPDU/T=1 readers) over any [`ccid::UsbPipe`].
//! * [`rsa_encoding`]: the RSA paddings done on the host.
//!
//! The browser module supplies the I/O: WebUSB for [`ccid`], or the Web Smart Card API as a
//! [`transport::Transport`] of its own.

#![no_std]
// Input from a card or reader must never panic; tests may unwrap freely.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

extern crate alloc;

use alloc::string::String;

pub mod apdu;
pub mod ccid;
pub mod piv;
pub mod rsa_encoding;
pub mod tlv;
pub mod transport;

pub use rsa_encoding::Hash;

/// What went wrong talking to a card, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("There is no card in the reader.")]
    NoCard,
    #[error("The card was removed.")]
    Removed,
    #[error("This device is not a smart card reader Sealmail can use: {0}.")]
    NotAReader(&'static str),
    #[error("The card reader reported error {0:#04x}.")]
    Reader(u8),
    #[error("The card reader could not be reached: {0}")]
    Usb(String),
    #[error("The card or reader broke the protocol: {0}.")]
    Protocol(&'static str),
    #[error("The card refused the command (status {0:04X}).")]
    Status(u16),
    #[error("The command is too long for this card.")]
    CommandTooLong,
    #[error("This card has no PIV application.")]
    NotPiv,
    #[error("The PIN is wrong. {tries_left} tries left before the card locks.")]
    WrongPin { tries_left: u8 },
    #[error("The card's PIN is blocked. Ask your administrator to unblock the card.")]
    PinBlocked,
    #[error("A PIN has 6 to 8 characters.")]
    PinFormat,
    #[error("The card needs the PIN first.")]
    PinNeeded,
    #[error("The card has no key in that slot.")]
    NoSuchKey,
    #[error("The certificate on the card is compressed, which Sealmail cannot read yet.")]
    CompressedCertificate,
    #[error("The data does not fit the card's key.")]
    Encoding,
}
