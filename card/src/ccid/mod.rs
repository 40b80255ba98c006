//! A USB CCID reader driver (USB Device Class: Smart Card CCID, rev 1.1): bulk messages to power
//! the card and carry its APDUs, time extensions, chained extended APDUs, and T=1 for readers
//! that leave the transmission protocol to the host.
//!
//! The USB transfers themselves are the caller's ([`UsbPipe`]): WebUSB in the browser, anything
//! else in tests.

mod descriptor;
pub mod t1;

use alloc::vec::Vec;

pub use descriptor::{
    CcidDescriptor, ExchangeLevel, HEADER_LEN, ReaderInterface, SMART_CARD_CLASS, find_reader,
};

use crate::Error;
use crate::transport::Transport;
use t1::{BlockLink, T1};

/// The two bulk endpoints of a reader's smart-card interface.
#[allow(async_fn_in_trait)]
pub trait UsbPipe {
    async fn bulk_out(&mut self, data: &[u8]) -> Result<(), Error>;
    /// One bulk transfer in, of at most `max_len` bytes.
    async fn bulk_in(&mut self, max_len: usize) -> Result<Vec<u8>, Error>;
}

const PC_TO_RDR_ICC_POWER_ON: u8 = 0x62;
const PC_TO_RDR_ICC_POWER_OFF: u8 = 0x63;
const PC_TO_RDR_XFR_BLOCK: u8 = 0x6F;
const RDR_TO_PC_DATA_BLOCK: u8 = 0x80;
const RDR_TO_PC_SLOT_STATUS: u8 = 0x81;
const RDR_TO_PC_NOTIFY_SLOT_CHANGE: u8 = 0x50;

/// bmCommandStatus (bStatus bits 6–7).
const COMMAND_FAILED: u8 = 1;
const TIME_EXTENSION: u8 = 2;
/// bmICCStatus (bStatus bits 0–1): 2 is "no ICC present".
const NO_ICC: u8 = 2;
/// bError values (CCID §6.2.6) that mean the card is not there to answer.
const ICC_MUTE: u8 = 0xFE;

/// Time extensions in a row before we stop waiting: a slow card asks for a few per signature;
/// hundreds is a wedged card.
const MAX_TIME_EXTENSIONS: usize = 600;
/// Answers to earlier commands (another bSeq) skipped before the reader counts as broken.
const MAX_STALE_ANSWERS: usize = 16;
/// Continuation rounds of one chained answer: 64 KiB in the smallest messages a reader may use
/// is about 250; more is a reader that never ends.
const MAX_CHAIN_ROUNDS: usize = 1024;

/// wLevelParameter / bChainParameter for extended APDUs split over several messages
/// (CCID §6.1.4).
const CHAIN_BEGIN: u16 = 0x01;
const CHAIN_END: u16 = 0x02;
const CHAIN_MIDDLE: u16 = 0x03;
const CHAIN_CONTINUE: u16 = 0x10;

/// One reader, its card powered on. Use it as a [`Transport`].
pub struct Reader<P: UsbPipe> {
    pipe: P,
    ccid: CcidDescriptor,
    seq: u8,
    t1: Option<T1>,
    atr: Vec<u8>,
}

/// An answer message from the reader.
struct Answer {
    kind: u8,
    status: u8,
    error: u8,
    chain: u8,
    data: Vec<u8>,
}

impl<P: UsbPipe> Reader<P> {
    /// Power the card on and get it ready for APDUs. Fails with [`Error::NoCard`] when the
    /// reader is empty.
    pub async fn power_on(pipe: P, ccid: CcidDescriptor) -> Result<Self, Error> {
        let mut reader = Self {
            pipe,
            ccid,
            seq: 0,
            t1: None,
            atr: Vec::new(),
        };
        // bPowerSelect 0: the reader chooses the voltage.
        let answer = reader
            .command(PC_TO_RDR_ICC_POWER_ON, [0, 0, 0], &[])
            .await?;
        reader.atr = answer.data;
        if ccid.exchange == ExchangeLevel::Tpdu {
            let mut t1 = T1::new(atr_ifsc(&reader.atr).unwrap_or(32));
            t1.negotiate_ifsd(&mut reader, ccid.max_ifsd).await?;
            reader.t1 = Some(t1);
        }
        Ok(reader)
    }

    /// The card's answer to reset.
    pub fn atr(&self) -> &[u8] {
        &self.atr
    }

    /// Power the card off; the reader stays usable for another `power_on`.
    pub async fn power_off(mut self) -> Result<P, Error> {
        self.command(PC_TO_RDR_ICC_POWER_OFF, [0, 0, 0], &[])
            .await?;
        Ok(self.pipe)
    }

    /// Send one message and wait for its answer, sitting out time extensions.
    async fn command(&mut self, kind: u8, specific: [u8; 3], data: &[u8]) -> Result<Answer, Error> {
        if HEADER_LEN + data.len() > self.ccid.max_message_len {
            return Err(Error::CommandTooLong);
        }
        self.seq = self.seq.wrapping_add(1);
        let mut message = Vec::with_capacity(HEADER_LEN + data.len());
        message.push(kind);
        message.extend_from_slice(&(data.len() as u32).to_le_bytes());
        message.extend_from_slice(&[0, self.seq]);
        message.extend_from_slice(&specific);
        message.extend_from_slice(data);
        self.pipe.bulk_out(&message).await?;
        for _ in 0..MAX_TIME_EXTENSIONS {
            let answer = self.receive().await?;
            let command_status = answer.status >> 6;
            if command_status == TIME_EXTENSION {
                continue;
            }
            if command_status == COMMAND_FAILED {
                return Err(
                    if answer.status & 0x03 == NO_ICC || answer.error == ICC_MUTE {
                        Error::NoCard
                    } else {
                        Error::Reader(answer.error)
                    },
                );
            }
            let expected = if kind == PC_TO_RDR_ICC_POWER_OFF {
                RDR_TO_PC_SLOT_STATUS
            } else {
                RDR_TO_PC_DATA_BLOCK
            };
            if answer.kind != expected {
                return Err(Error::Protocol(
                    "the reader answered with the wrong message",
                ));
            }
            return Ok(answer);
        }
        Err(Error::Protocol("the card kept asking for more time"))
    }

    /// One whole message from the bulk-in endpoint, for our sequence number.
    async fn receive(&mut self) -> Result<Answer, Error> {
        let max = self.ccid.max_message_len;
        for _ in 0..MAX_STALE_ANSWERS {
            let mut message = self.pipe.bulk_in(max).await?;
            if message.len() < HEADER_LEN {
                return Err(Error::Protocol("a reader message shorter than its header"));
            }
            let len = u32::from_le_bytes([message[1], message[2], message[3], message[4]]) as usize;
            if len > max {
                return Err(Error::Protocol(
                    "a reader message longer than the reader allows",
                ));
            }
            // A message longer than one transfer arrives in several.
            while message.len() < HEADER_LEN + len {
                let more = self.pipe.bulk_in(max).await?;
                if more.is_empty() {
                    return Err(Error::Protocol("a reader message ended early"));
                }
                message.extend_from_slice(&more);
            }
            if message[6] != self.seq {
                // An answer to an earlier command we gave up on: not ours to read.
                continue;
            }
            return Ok(Answer {
                kind: message[0],
                status: message[7],
                error: message[8],
                chain: message[9],
                data: message[HEADER_LEN..HEADER_LEN + len].to_vec(),
            });
        }
        Err(Error::Protocol("the reader keeps answering other commands"))
    }

    async fn xfr_block(&mut self, level: u16, bwi: u8, data: &[u8]) -> Result<Answer, Error> {
        let [low, high] = level.to_le_bytes();
        self.command(PC_TO_RDR_XFR_BLOCK, [bwi, low, high], data)
            .await
    }

    /// An APDU at the reader's APDU level, splitting command and answer over several messages
    /// when they exceed the reader's message size.
    async fn transmit_apdu(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        let room = self.ccid.max_message_len - HEADER_LEN;
        let mut answer = if apdu.len() <= room {
            self.xfr_block(0, 0, apdu).await?
        } else {
            let chunks: Vec<&[u8]> = apdu.chunks(room).collect();
            let last = chunks.len() - 1;
            let mut answer = None;
            for (i, chunk) in chunks.iter().enumerate() {
                let level = match i {
                    0 => CHAIN_BEGIN,
                    i if i == last => CHAIN_END,
                    _ => CHAIN_MIDDLE,
                };
                let reply = self.xfr_block(level, 0, chunk).await?;
                if i < last && !reply.data.is_empty() {
                    return Err(Error::Protocol(
                        "the reader answered in the middle of a command",
                    ));
                }
                answer = Some(reply);
            }
            answer.ok_or(Error::Protocol("nothing to send"))?
        };
        let mut data = core::mem::take(&mut answer.data);
        let mut chain = u16::from(answer.chain);
        let mut rounds = 0;
        // bChainParameter 0x01/0x03: more of the answer follows (CCID §6.2.1). (0x10 in an
        // answer means the reader wants more command, which we never leave unsent.)
        while chain == CHAIN_BEGIN || chain == CHAIN_MIDDLE {
            rounds += 1;
            let mut next = self.xfr_block(CHAIN_CONTINUE, 0, &[]).await?;
            if next.data.is_empty() || rounds > MAX_CHAIN_ROUNDS {
                return Err(Error::Protocol(
                    "the reader's chained answer does not progress",
                ));
            }
            data.append(&mut next.data);
            chain = u16::from(next.chain);
            if data.len() > 65_538 {
                return Err(Error::Protocol(
                    "the reader's answer is longer than any APDU",
                ));
            }
        }
        Ok(data)
    }
}

impl<P: UsbPipe> BlockLink for Reader<P> {
    async fn exchange_block(&mut self, block: &[u8], wtx: u8) -> Result<Vec<u8>, Error> {
        Ok(self.xfr_block(0, wtx, block).await?.data)
    }
}

impl<P: UsbPipe> Transport for Reader<P> {
    async fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        match self.t1.take() {
            Some(mut t1) => {
                let answer = t1.transmit(self, apdu).await;
                self.t1 = Some(t1);
                answer
            }
            None => self.transmit_apdu(apdu).await,
        }
    }

    fn carries_extended_apdus(&self) -> bool {
        // T=1 carries extended APDUs (they are only bytes in blocks) when the card does;
        // PIV cards do.
        matches!(
            self.ccid.exchange,
            ExchangeLevel::ExtendedApdu | ExchangeLevel::Tpdu
        )
    }
}

/// Whether a card is in slot 0, from an interrupt-IN message: `Some(present)` for
/// RDR_to_PC_NotifySlotChange (CCID §6.3.1: two bits per slot, the low one "card present"),
/// `None` for any other message.
pub fn slot_change(message: &[u8]) -> Option<bool> {
    match message {
        [RDR_TO_PC_NOTIFY_SLOT_CHANGE, slots, ..] => Some(slots & 0x01 != 0),
        _ => None,
    }
}

/// IFSC from an ATR: the first TA(i), i ≥ 3, after a TD indicating T=1 (ISO/IEC 7816-3 §8.2.3,
/// §11.4.2). Each interface-byte group is announced by the high nibble of the byte before it.
fn atr_ifsc(atr: &[u8]) -> Option<u8> {
    let mut present = atr.get(1)? >> 4;
    let mut at = 2;
    let mut group = 1;
    let mut protocol = None;
    loop {
        let ta = if present & 0x1 != 0 {
            at += 1;
            Some(*atr.get(at - 1)?)
        } else {
            None
        };
        if group >= 3 && protocol == Some(1) && ta.is_some() {
            return ta;
        }
        at += usize::from(present & 0x2 != 0) + usize::from(present & 0x4 != 0);
        if present & 0x8 == 0 {
            return None;
        }
        let td = *atr.get(at)?;
        at += 1;
        protocol = Some(td & 0x0F);
        present = td >> 4;
        group += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_changes_say_whether_the_card_is_in() {
        assert_eq!(slot_change(&[0x50, 0x03]), Some(true));
        assert_eq!(slot_change(&[0x50, 0x02]), Some(false));
        assert_eq!(slot_change(&[0x51, 0x03, 0x00, 0x00]), None);
        assert_eq!(slot_change(&[]), None);
    }

    #[test]
    fn ifsc_comes_from_the_atr() {
        // TD1 = 0x81 (T=1, TD2 follows), TD2 = 0x31 (T=1, TA3 and TB3 follow): TA3 = 0xFE.
        assert_eq!(
            atr_ifsc(&[0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x80]),
            Some(0xFE)
        );
        assert_eq!(atr_ifsc(&[0x3B, 0x00]), None);
    }
}
