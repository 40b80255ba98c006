//! A USB smart-card reader, modelled on the "Universal Serial Bus Device Class: Smart Card
//! CCID" specification, revision 1.10 (section numbers below are that document's).
//!
//! The model has one slot, answers bulk-OUT messages on bulk-IN in order, and reports card
//! insertion and removal on the interrupt endpoint. It implements the commands a host driver
//! needs for a T=1 card (§6.1.1 IccPowerOn, §6.1.2 IccPowerOff, §6.1.3 GetSlotStatus, §6.1.4
//! XfrBlock, §6.1.5 GetParameters, §6.1.6 ResetParameters, §6.1.7 SetParameters) and answers every
//! other command with "command not supported". The exchange level is configurable: short APDU,
//! extended APDU (with §6.1.4's chaining of long messages) or TPDU, where the host speaks T=1 to
//! the card (the card's side of T=1 is in the `t1` module).

use std::collections::VecDeque;

use crate::Icc;
use crate::t1::CardT1;

/// §6.1 and §6.2: message types.
const PC_TO_RDR_SET_PARAMETERS: u8 = 0x61;
const PC_TO_RDR_ICC_POWER_ON: u8 = 0x62;
const PC_TO_RDR_ICC_POWER_OFF: u8 = 0x63;
const PC_TO_RDR_GET_SLOT_STATUS: u8 = 0x65;
const PC_TO_RDR_SECURE: u8 = 0x69;
const PC_TO_RDR_ESCAPE: u8 = 0x6B;
const PC_TO_RDR_GET_PARAMETERS: u8 = 0x6C;
const PC_TO_RDR_RESET_PARAMETERS: u8 = 0x6D;
const PC_TO_RDR_XFR_BLOCK: u8 = 0x6F;
const PC_TO_RDR_SET_DATA_RATE_AND_CLOCK_FREQUENCY: u8 = 0x73;
const RDR_TO_PC_DATA_BLOCK: u8 = 0x80;
const RDR_TO_PC_SLOT_STATUS: u8 = 0x81;
const RDR_TO_PC_PARAMETERS: u8 = 0x82;
const RDR_TO_PC_ESCAPE: u8 = 0x83;
const RDR_TO_PC_DATA_RATE_AND_CLOCK_FREQUENCY: u8 = 0x84;
const RDR_TO_PC_NOTIFY_SLOT_CHANGE: u8 = 0x50;

const HEADER_LEN: usize = 10;

/// §6.2.6 table 6.2-2: slot errors. Values 01..7F name the offset of the faulty field.
pub const CMD_NOT_SUPPORTED: u8 = 0x00;
pub const ICC_MUTE: u8 = 0xFE;
pub const XFR_OVERRUN: u8 = 0xFC;
const BAD_LENGTH: u8 = 1;
const BAD_SLOT: u8 = 5;
const BAD_BYTE_7: u8 = 7;
const BAD_LEVEL_PARAMETER: u8 = 8;
const BAD_DATA: u8 = 10;

/// bmICCStatus (§6.2.6 table 6.2-3).
#[derive(Clone, Copy)]
enum IccStatus {
    Active = 0,
    Inactive = 1,
    Absent = 2,
}

/// bmCommandStatus (§6.2.6 table 6.2-3).
#[derive(Clone, Copy)]
enum CommandStatus {
    Ok = 0,
    Failed = 1,
    TimeExtension = 2,
}

/// The BWT multiplier a time-extension message carries in bError.
const TIME_EXTENSION_MULTIPLIER: u8 = 1;

/// dwFeatures (§5.1 table 5.1-1): the reader configures clock, baud rate, voltage and protocol
/// parameters itself, so the host only powers the card and exchanges data.
const FEATURES_AUTOMATIC: u32 = 0x02 | 0x08 | 0x10 | 0x20 | 0x40;
const FEATURE_TPDU: u32 = 0x0001_0000;
const FEATURE_SHORT_APDU: u32 = 0x0002_0000;
const FEATURE_EXTENDED_APDU: u32 = 0x0004_0000;

/// §5.1: the largest message of the extended APDU level (a 65544-byte APDU and the header).
const MAX_MESSAGE_LEN_LIMIT: u32 = 65544 + 10;
/// The smallest message length that carries every short APDU (261 bytes and the header), and
/// every T=1 block the host may ask for with dwMaxIFSD 254.
const MIN_MESSAGE_LEN: u32 = 261 + 10;
/// Largest command APDU (extended case 4), the limit for a chained command.
const MAX_APDU_LEN: usize = 65544;

/// How the reader and host exchange data with the card (dwFeatures' exchange level).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exchange {
    /// Short APDUs only, each in one XfrBlock.
    ShortApdu,
    /// Short and extended APDUs; long ones are chained over several XfrBlocks (§6.1.4).
    ExtendedApdu,
    /// The host sends and receives T=1 blocks (ISO/IEC 7816-3 §11).
    Tpdu,
}

#[derive(Clone, Debug)]
pub struct ReaderConfig {
    pub exchange: Exchange,
    /// dwMaxCCIDMessageLength: the longest message in either direction, header included.
    pub max_message_len: u32,
    /// How many time-extension answers precede each real XfrBlock answer; at TPDU level the
    /// card also sends this many S(WTX request)s before each response.
    pub time_extensions: u32,
    /// The card's T=1 information field size (IFSC), as GetParameters reports it; the card
    /// refuses longer I-blocks.
    pub ifsc: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReaderConfigError {
    #[error("the maximum message length must be {MIN_MESSAGE_LEN} to {MAX_MESSAGE_LEN_LIMIT}")]
    MessageLength,
    #[error("the IFSC must be 1 to 254")]
    Ifsc,
}

impl ReaderConfig {
    /// The message length must carry a short case-4 APDU (261 bytes) or the largest T=1 block
    /// (IFSD 254) with the 10-byte header, and at most an extended one (65544 bytes).
    pub fn check(&self) -> Result<(), ReaderConfigError> {
        if !(MIN_MESSAGE_LEN..=MAX_MESSAGE_LEN_LIMIT).contains(&self.max_message_len) {
            return Err(ReaderConfigError::MessageLength);
        }
        if !(1..=0xFE).contains(&self.ifsc) {
            return Err(ReaderConfigError::Ifsc);
        }
        Ok(())
    }

    fn max_data_len(&self) -> usize {
        usize::try_from(self.max_message_len).unwrap_or(usize::MAX) - HEADER_LEN
    }
}

/// T=1 protocol data (§6.1.7 table 6.1-7), as GetParameters reports and SetParameters sets.
#[derive(Clone, Copy, PartialEq, Eq)]
struct T1Parameters {
    findex_dindex: u8,
    tcckst1: u8,
    guard_time: u8,
    waiting_integers: u8,
    clock_stop: u8,
    ifsc: u8,
    nad: u8,
}

impl T1Parameters {
    /// What the ATR of a T=1 card without interface bytes for it means: Fi 372 / Di 1, LRC,
    /// direct convention, BWI 4, CWI 13.
    fn from_atr(ifsc: u8) -> Self {
        Self {
            findex_dindex: 0x11,
            tcckst1: 0x10,
            guard_time: 0x00,
            waiting_integers: 0x4D,
            clock_stop: 0x00,
            ifsc,
            nad: 0x00,
        }
    }

    fn to_bytes(self) -> [u8; 7] {
        [
            self.findex_dindex,
            self.tcckst1,
            self.guard_time,
            self.waiting_integers,
            self.clock_stop,
            self.ifsc,
            self.nad,
        ]
    }
}

/// Where an extended-APDU-level exchange stands between XfrBlocks.
enum Chaining {
    None,
    /// Parts of a command APDU received so far.
    Command(Vec<u8>),
    /// What is left of the response APDU.
    Response(Vec<u8>),
}

/// A one-slot CCID reader holding `card`.
pub struct CcidReader<C: Icc> {
    card: C,
    config: ReaderConfig,
    present: bool,
    powered: bool,
    parameters: T1Parameters,
    chaining: Chaining,
    t1: CardT1,
    bulk_in: VecDeque<Vec<u8>>,
    interrupt_in: VecDeque<Vec<u8>>,
}

impl<C: Icc> CcidReader<C> {
    /// A reader with `card` inserted but not powered.
    ///
    /// # Panics
    /// If `config` fails [`ReaderConfig::check`].
    pub fn new(card: C, config: ReaderConfig) -> Self {
        if let Err(error) = config.check() {
            panic!("reader configuration: {error}");
        }
        Self {
            card,
            parameters: T1Parameters::from_atr(config.ifsc),
            t1: CardT1::new(config.ifsc, config.time_extensions),
            config,
            present: true,
            powered: false,
            chaining: Chaining::None,
            bulk_in: VecDeque::new(),
            interrupt_in: VecDeque::new(),
        }
    }

    /// The card, for inspection between exchanges.
    pub fn card(&mut self) -> &mut C {
        &mut self.card
    }

    /// The smart-card device class descriptor (§5.1 table 5.1-1), 54 bytes.
    pub fn class_descriptor(&self) -> Vec<u8> {
        let level = match self.config.exchange {
            Exchange::ShortApdu => FEATURE_SHORT_APDU,
            Exchange::ExtendedApdu => FEATURE_EXTENDED_APDU,
            Exchange::Tpdu => FEATURE_TPDU,
        };
        let clock_khz: u32 = 4000;
        // Fi 372, Di 1 at 4 MHz.
        let data_rate: u32 = 10752;
        let mut descriptor = vec![0x36, 0x21];
        descriptor.extend_from_slice(&0x0110u16.to_le_bytes()); // bcdCCID
        descriptor.push(0x00); // bMaxSlotIndex
        descriptor.push(0x07); // bVoltageSupport: 5 V, 3 V, 1.8 V
        descriptor.extend_from_slice(&0x0000_0002u32.to_le_bytes()); // dwProtocols: T=1
        descriptor.extend_from_slice(&clock_khz.to_le_bytes()); // dwDefaultClock
        descriptor.extend_from_slice(&clock_khz.to_le_bytes()); // dwMaximumClock
        descriptor.push(0x00); // bNumClockSupported
        descriptor.extend_from_slice(&data_rate.to_le_bytes()); // dwDataRate
        descriptor.extend_from_slice(&data_rate.to_le_bytes()); // dwMaxDataRate
        descriptor.push(0x00); // bNumDataRatesSupported
        descriptor.extend_from_slice(&254u32.to_le_bytes()); // dwMaxIFSD
        descriptor.extend_from_slice(&0u32.to_le_bytes()); // dwSynchProtocols
        descriptor.extend_from_slice(&0u32.to_le_bytes()); // dwMechanical
        descriptor.extend_from_slice(&(FEATURES_AUTOMATIC | level).to_le_bytes()); // dwFeatures
        descriptor.extend_from_slice(&self.config.max_message_len.to_le_bytes());
        descriptor.push(0xFF); // bClassGetResponse: echo the APDU's class
        descriptor.push(0xFF); // bClassEnvelope: likewise
        descriptor.extend_from_slice(&0u16.to_le_bytes()); // wLcdLayout: none
        descriptor.push(0x00); // bPINSupport: none
        descriptor.push(0x01); // bMaxCCIDBusySlots
        descriptor
    }

    /// Host to reader: one complete bulk-OUT message. Its answers queue up for [`Self::bulk_in`].
    pub fn bulk_out(&mut self, message: &[u8]) {
        let Some(header) = message.get(..HEADER_LEN) else {
            // Too short to say what it is; the sequence number is echoed if it is there.
            let seq = message.get(6).copied().unwrap_or(0);
            let answer = self.slot_status(seq, CommandStatus::Failed, BAD_LENGTH);
            self.bulk_in.push_back(answer);
            return;
        };
        let message_type = header[0];
        let length = u32::from_le_bytes([header[1], header[2], header[3], header[4]]);
        let (slot, seq) = (header[5], header[6]);
        let data = &message[HEADER_LEN..];

        let length_ok = usize::try_from(length).is_ok_and(|length| length == data.len())
            && message.len() <= self.config.max_data_len() + HEADER_LEN;
        let error = if !length_ok {
            Some((self.icc_status(), BAD_LENGTH))
        } else if slot != 0 {
            Some((IccStatus::Absent, BAD_SLOT))
        } else {
            None
        };
        if let Some((icc, error)) = error {
            let answer = failed_answer(message_type, seq, icc, error);
            self.bulk_in.push_back(answer);
            return;
        }

        match message_type {
            PC_TO_RDR_ICC_POWER_ON => self.power_on(seq, header[7], data),
            PC_TO_RDR_ICC_POWER_OFF => {
                self.power_off();
                let answer = self.slot_status(seq, CommandStatus::Ok, 0);
                self.bulk_in.push_back(answer);
            }
            PC_TO_RDR_GET_SLOT_STATUS => {
                let answer = self.slot_status(seq, CommandStatus::Ok, 0);
                self.bulk_in.push_back(answer);
            }
            PC_TO_RDR_XFR_BLOCK => {
                let level_parameter = u16::from_le_bytes([header[8], header[9]]);
                self.xfr_block(seq, level_parameter, data);
            }
            PC_TO_RDR_GET_PARAMETERS => self.answer_parameters(seq),
            PC_TO_RDR_RESET_PARAMETERS => {
                self.parameters = T1Parameters::from_atr(self.config.ifsc);
                self.answer_parameters(seq);
            }
            PC_TO_RDR_SET_PARAMETERS => self.set_parameters(seq, header[7], data),
            _ => {
                let answer = failed_answer(message_type, seq, self.icc_status(), CMD_NOT_SUPPORTED);
                self.bulk_in.push_back(answer);
            }
        }
    }

    /// Reader to host: the next bulk-IN message, if any.
    pub fn bulk_in(&mut self) -> Option<Vec<u8>> {
        self.bulk_in.pop_front()
    }

    /// Reader to host on the interrupt endpoint: RDR_to_PC_NotifySlotChange after a card was
    /// inserted or removed.
    pub fn interrupt_in(&mut self) -> Option<Vec<u8>> {
        self.interrupt_in.pop_front()
    }

    /// Whether a card is in the reader.
    pub fn card_present(&self) -> bool {
        self.present
    }

    /// Takes the card out: it loses power, and the host is told.
    pub fn remove_card(&mut self) {
        if self.present {
            self.power_off();
            self.present = false;
            self.notify_slot_change();
        }
    }

    /// Puts the card back (unpowered, as a real reader leaves it until IccPowerOn).
    pub fn insert_card(&mut self) {
        if !self.present {
            self.present = true;
            self.notify_slot_change();
        }
    }

    /// §6.3.1: bit 0 the slot's current state, bit 1 "changed".
    fn notify_slot_change(&mut self) {
        let state = u8::from(self.present) | 0x02;
        self.interrupt_in
            .push_back(vec![RDR_TO_PC_NOTIFY_SLOT_CHANGE, state]);
    }

    fn icc_status(&self) -> IccStatus {
        match (self.present, self.powered) {
            (false, _) => IccStatus::Absent,
            (true, false) => IccStatus::Inactive,
            (true, true) => IccStatus::Active,
        }
    }

    fn power_on(&mut self, seq: u8, power_select: u8, data: &[u8]) {
        // bPowerSelect: 0 automatic, then 5 V, 3 V, 1.8 V (all in bVoltageSupport).
        let error = if !data.is_empty() {
            Some(BAD_LENGTH)
        } else if power_select > 3 {
            Some(BAD_BYTE_7)
        } else if !self.present {
            Some(ICC_MUTE)
        } else {
            None
        };
        if let Some(error) = error {
            let answer = failed_answer(PC_TO_RDR_ICC_POWER_ON, seq, self.icc_status(), error);
            self.bulk_in.push_back(answer);
            return;
        }
        // Cold or warm reset alike: the card starts over.
        self.card.reset();
        self.powered = true;
        self.chaining = Chaining::None;
        self.t1.reset();
        self.parameters = T1Parameters::from_atr(self.config.ifsc);
        let atr = self.card.atr();
        let answer = self.data_block(seq, CommandStatus::Ok, 0, 0, &atr);
        self.bulk_in.push_back(answer);
    }

    fn power_off(&mut self) {
        self.powered = false;
        self.chaining = Chaining::None;
        self.t1.reset();
    }

    fn answer_parameters(&mut self, seq: u8) {
        let answer = if self.present {
            message(
                RDR_TO_PC_PARAMETERS,
                seq,
                status_byte(self.icc_status(), CommandStatus::Ok),
                0,
                0x01, // bProtocolNum: T=1
                &self.parameters.to_bytes(),
            )
        } else {
            failed_answer(PC_TO_RDR_GET_PARAMETERS, seq, IccStatus::Absent, ICC_MUTE)
        };
        self.bulk_in.push_back(answer);
    }

    /// Accepts T=1 parameters this card can live with: LRC, direct convention, NAD 0.
    fn set_parameters(&mut self, seq: u8, protocol: u8, data: &[u8]) {
        let error = if !self.present {
            Some(ICC_MUTE)
        } else if protocol != 0x01 {
            // T=0 is not among dwProtocols.
            Some(BAD_BYTE_7)
        } else if data.len() != 7 {
            Some(BAD_LENGTH)
        } else if data[1] != 0x10 {
            // bmTCCKST1 other than LRC with direct convention.
            Some(BAD_DATA + 1)
        } else if !(1..=0xFE).contains(&data[5]) {
            Some(BAD_DATA + 5)
        } else if data[6] != 0 {
            Some(BAD_DATA + 6)
        } else {
            None
        };
        if let Some(error) = error {
            let answer = failed_answer(PC_TO_RDR_SET_PARAMETERS, seq, self.icc_status(), error);
            self.bulk_in.push_back(answer);
            return;
        }
        self.parameters = T1Parameters {
            findex_dindex: data[0],
            tcckst1: data[1],
            guard_time: data[2],
            waiting_integers: data[3],
            clock_stop: data[4],
            ifsc: data[5],
            nad: data[6],
        };
        self.answer_parameters(seq);
    }

    fn xfr_block(&mut self, seq: u8, level_parameter: u16, data: &[u8]) {
        if !self.present || !self.powered {
            let answer = failed_answer(PC_TO_RDR_XFR_BLOCK, seq, self.icc_status(), ICC_MUTE);
            self.bulk_in.push_back(answer);
            return;
        }
        let result = match self.config.exchange {
            Exchange::ShortApdu => self.xfr_short_apdu(level_parameter, data),
            Exchange::ExtendedApdu => self.xfr_extended_apdu(level_parameter, data),
            Exchange::Tpdu => self.xfr_tpdu(level_parameter, data),
        };
        match result {
            Ok((chain, answer)) => {
                for _ in 0..self.config.time_extensions {
                    let wait = self.data_block(
                        seq,
                        CommandStatus::TimeExtension,
                        TIME_EXTENSION_MULTIPLIER,
                        0,
                        &[],
                    );
                    self.bulk_in.push_back(wait);
                }
                let answer = self.data_block(seq, CommandStatus::Ok, 0, chain, &answer);
                self.bulk_in.push_back(answer);
            }
            Err(error) => {
                let answer = failed_answer(PC_TO_RDR_XFR_BLOCK, seq, self.icc_status(), error);
                self.bulk_in.push_back(answer);
            }
        }
    }

    /// One short APDU per XfrBlock; anything else is refused before it reaches the card.
    fn xfr_short_apdu(&mut self, level_parameter: u16, apdu: &[u8]) -> Result<(u8, Vec<u8>), u8> {
        if level_parameter != 0 {
            return Err(BAD_LEVEL_PARAMETER);
        }
        if !is_short_apdu(apdu) {
            return Err(BAD_DATA);
        }
        let response = self.card.transmit(apdu);
        if response.len() > self.config.max_data_len() {
            return Err(XFR_OVERRUN);
        }
        Ok((0x00, response))
    }

    /// §6.1.4 table 6.1-3 (wLevelParameter) and §6.2.1 (bChainParameter): an APDU too long for
    /// one message travels in parts, the response too.
    fn xfr_extended_apdu(
        &mut self,
        level_parameter: u16,
        data: &[u8],
    ) -> Result<(u8, Vec<u8>), u8> {
        const BEGIN_AND_END: u16 = 0x00;
        const BEGIN: u16 = 0x01;
        const END: u16 = 0x02;
        const MIDDLE: u16 = 0x03;
        const CONTINUE_RESPONSE: u16 = 0x10;
        const EMPTY_CONTINUE_COMMAND: u8 = 0x10;

        let chaining = std::mem::replace(&mut self.chaining, Chaining::None);
        match (level_parameter, chaining) {
            (BEGIN_AND_END, _) => Ok(self.run_apdu(data.to_vec())),
            (BEGIN, _) => {
                self.chaining = Chaining::Command(data.to_vec());
                Ok((EMPTY_CONTINUE_COMMAND, Vec::new()))
            }
            (MIDDLE | END, Chaining::Command(mut apdu)) => {
                if apdu.len() + data.len() > MAX_APDU_LEN {
                    return Err(XFR_OVERRUN);
                }
                apdu.extend_from_slice(data);
                if level_parameter == END {
                    Ok(self.run_apdu(apdu))
                } else {
                    self.chaining = Chaining::Command(apdu);
                    Ok((EMPTY_CONTINUE_COMMAND, Vec::new()))
                }
            }
            (CONTINUE_RESPONSE, Chaining::Response(rest)) if data.is_empty() => {
                Ok(self.next_response_part(rest, false))
            }
            _ => Err(BAD_LEVEL_PARAMETER),
        }
    }

    fn run_apdu(&mut self, apdu: Vec<u8>) -> (u8, Vec<u8>) {
        let response = self.card.transmit(&apdu);
        self.next_response_part(response, true)
    }

    /// bChainParameter: 00 whole response, 01 first part, 03 middle part, 02 last part.
    fn next_response_part(&mut self, mut response: Vec<u8>, first: bool) -> (u8, Vec<u8>) {
        let room = self.config.max_data_len();
        if response.len() <= room {
            return (if first { 0x00 } else { 0x02 }, response);
        }
        let rest = response.split_off(room);
        self.chaining = Chaining::Response(rest);
        (if first { 0x01 } else { 0x03 }, response)
    }

    /// The block goes to the card as it is; the card checks it.
    fn xfr_tpdu(&mut self, level_parameter: u16, block: &[u8]) -> Result<(u8, Vec<u8>), u8> {
        if level_parameter != 0 {
            return Err(BAD_LEVEL_PARAMETER);
        }
        Ok((0x00, self.t1.receive(block, &mut self.card)))
    }

    fn data_block(
        &self,
        seq: u8,
        command: CommandStatus,
        error: u8,
        chain: u8,
        data: &[u8],
    ) -> Vec<u8> {
        message(
            RDR_TO_PC_DATA_BLOCK,
            seq,
            status_byte(self.icc_status(), command),
            error,
            chain,
            data,
        )
    }

    fn slot_status(&self, seq: u8, command: CommandStatus, error: u8) -> Vec<u8> {
        message(
            RDR_TO_PC_SLOT_STATUS,
            seq,
            status_byte(self.icc_status(), command),
            error,
            clock_status(self.icc_status()),
            &[],
        )
    }
}

/// bClockStatus: running while the card is powered, otherwise stopped in an unknown state.
fn clock_status(icc: IccStatus) -> u8 {
    match icc {
        IccStatus::Active => 0x00,
        IccStatus::Inactive | IccStatus::Absent => 0x03,
    }
}

fn status_byte(icc: IccStatus, command: CommandStatus) -> u8 {
    (icc as u8) | ((command as u8) << 6)
}

/// A failed command's answer, in the message type §6.2 pairs with the command.
fn failed_answer(command: u8, seq: u8, icc: IccStatus, error: u8) -> Vec<u8> {
    let status = status_byte(icc, CommandStatus::Failed);
    let answer_type = match command {
        PC_TO_RDR_ICC_POWER_ON | PC_TO_RDR_XFR_BLOCK | PC_TO_RDR_SECURE => RDR_TO_PC_DATA_BLOCK,
        PC_TO_RDR_GET_PARAMETERS | PC_TO_RDR_RESET_PARAMETERS | PC_TO_RDR_SET_PARAMETERS => {
            RDR_TO_PC_PARAMETERS
        }
        PC_TO_RDR_ESCAPE => RDR_TO_PC_ESCAPE,
        PC_TO_RDR_SET_DATA_RATE_AND_CLOCK_FREQUENCY => RDR_TO_PC_DATA_RATE_AND_CLOCK_FREQUENCY,
        _ => RDR_TO_PC_SLOT_STATUS,
    };
    let last = match answer_type {
        RDR_TO_PC_SLOT_STATUS => clock_status(icc),
        _ => 0,
    };
    message(answer_type, seq, status, error, last, &[])
}

/// Header (type, dwLength, bSlot 0, bSeq, bStatus, bError, one message-specific byte) and data.
fn message(message_type: u8, seq: u8, status: u8, error: u8, last: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + data.len());
    out.push(message_type);
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&[0x00, seq, status, error, last]);
    out.extend_from_slice(data);
    out
}

/// ISO/IEC 7816-3 §12.1.3 cases 1, 2S, 3S and 4S.
fn is_short_apdu(apdu: &[u8]) -> bool {
    match apdu.len() {
        4 | 5 => true,
        len if len < 4 => false,
        len => {
            let lc = usize::from(apdu[4]);
            lc != 0 && (len == 5 + lc || len == 6 + lc)
        }
    }
}
