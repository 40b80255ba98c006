//! Finding a reader in a USB configuration descriptor: the smart-card interface (class 0x0B), its
//! endpoints, and the CCID class descriptor that says how the reader wants to be spoken to
//! (USB CCID 1.1 §5.1).

use alloc::vec::Vec;

use crate::Error;

pub const SMART_CARD_CLASS: u8 = 0x0B;
const INTERFACE: u8 = 0x04;
const ENDPOINT: u8 = 0x05;
const CCID_FUNCTIONAL: u8 = 0x21;
const CCID_DESCRIPTOR_LEN: usize = 54;

/// How the reader exchanges data with the card (dwFeatures bits 16–18).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeLevel {
    /// T=1 blocks: the host runs the transmission protocol.
    Tpdu,
    /// Whole APDUs, short encoding only.
    ShortApdu,
    /// Whole APDUs, short or extended.
    ExtendedApdu,
}

/// The parts of the CCID class descriptor the driver needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CcidDescriptor {
    pub exchange: ExchangeLevel,
    /// dwMaxCCIDMessageLength: header included.
    pub max_message_len: usize,
    /// dwMaxIFSD: the most a T=1 block from the card may carry.
    pub max_ifsd: u8,
    /// dwProtocols bit 1.
    pub t1: bool,
}

impl CcidDescriptor {
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() < CCID_DESCRIPTOR_LEN || bytes[1] != CCID_FUNCTIONAL {
            return Err(Error::NotAReader("its CCID class descriptor is malformed"));
        }
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let features = u32_at(40);
        let exchange = if features & 0x0004_0000 != 0 {
            ExchangeLevel::ExtendedApdu
        } else if features & 0x0002_0000 != 0 {
            ExchangeLevel::ShortApdu
        } else if features & 0x0001_0000 != 0 {
            ExchangeLevel::Tpdu
        } else {
            // Character level: the host would have to time every byte. No reader sold for
            // PIV cards needs it.
            return Err(Error::NotAReader(
                "it exchanges single characters, which Sealmail does not drive",
            ));
        };
        let t1 = u32_at(6) & 0x02 != 0;
        if exchange == ExchangeLevel::Tpdu && !t1 {
            return Err(Error::NotAReader("it offers T=0 only"));
        }
        Ok(Self {
            exchange,
            max_message_len: (u32_at(44) as usize).clamp(HEADER_LEN + 5, 65_544 + HEADER_LEN),
            max_ifsd: u32_at(28).clamp(1, 254) as u8,
            t1,
        })
    }
}

pub const HEADER_LEN: usize = 10;

/// A smart-card reader interface found in a configuration descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderInterface {
    pub interface: u8,
    pub alternate: u8,
    pub bulk_in: u8,
    pub bulk_out: u8,
    pub interrupt_in: Option<u8>,
    pub ccid: CcidDescriptor,
}

/// The first smart-card interface in a full configuration descriptor (as GET_DESCRIPTOR
/// returns it: configuration, then interfaces, class descriptors and endpoints).
pub fn find_reader(configuration: &[u8]) -> Result<ReaderInterface, Error> {
    let mut descriptors = Vec::new();
    let mut at = 0;
    while at + 2 <= configuration.len() {
        let len = usize::from(configuration[at]);
        if len < 2 || at + len > configuration.len() {
            return Err(Error::NotAReader(
                "its configuration descriptor is malformed",
            ));
        }
        descriptors.push(&configuration[at..at + len]);
        at += len;
    }
    let mut found: Option<(u8, u8)> = None;
    let mut ccid = None;
    let (mut bulk_in, mut bulk_out, mut interrupt_in) = (None, None, None);
    for d in descriptors {
        match d[1] {
            INTERFACE if d.len() >= 9 => {
                if found.is_some() {
                    break;
                }
                if d[5] == SMART_CARD_CLASS {
                    found = Some((d[2], d[3]));
                }
            }
            CCID_FUNCTIONAL if found.is_some() => ccid = Some(CcidDescriptor::parse(d)?),
            ENDPOINT if found.is_some() && d.len() >= 7 => {
                let address = d[2];
                let is_in = address & 0x80 != 0;
                match (d[3] & 0x03, is_in) {
                    (0x02, true) => bulk_in = Some(address),
                    (0x02, false) => bulk_out = Some(address),
                    (0x03, true) => interrupt_in = Some(address),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    let Some((interface, alternate)) = found else {
        return Err(Error::NotAReader("it has no smart-card interface"));
    };
    match (ccid, bulk_in, bulk_out) {
        (Some(ccid), Some(bulk_in), Some(bulk_out)) => Ok(ReaderInterface {
            interface,
            alternate,
            bulk_in,
            bulk_out,
            interrupt_in,
            ccid,
        }),
        _ => Err(Error::NotAReader(
            "its smart-card interface lacks endpoints or a class descriptor",
        )),
    }
}
