//! The reader model on its own, with a card that echoes every APDU.

use std::cell::RefCell;
use std::rc::Rc;

use virtual_card::ccid::{CMD_NOT_SUPPORTED, ICC_MUTE};
use virtual_card::{CcidReader, Exchange, Icc, ReaderConfig};

const ATR: [u8; 4] = [0x3B, 0x80, 0x01, 0x81];

/// Answers each APDU with the APDU itself and 9000, and remembers what it was sent.
#[derive(Clone, Default)]
struct EchoCard {
    received: Rc<RefCell<Vec<Vec<u8>>>>,
    resets: Rc<RefCell<u32>>,
}

impl Icc for EchoCard {
    fn atr(&self) -> Vec<u8> {
        ATR.to_vec()
    }

    fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        self.received.borrow_mut().push(apdu.to_vec());
        let mut response = apdu.to_vec();
        response.extend_from_slice(&[0x90, 0x00]);
        response
    }

    fn reset(&mut self) {
        *self.resets.borrow_mut() += 1;
    }
}

fn reader(
    exchange: Exchange,
    max_message_len: u32,
    time_extensions: u32,
) -> (CcidReader<EchoCard>, EchoCard) {
    let card = EchoCard::default();
    let config = ReaderConfig {
        exchange,
        max_message_len,
        time_extensions,
        ifsc: 32,
    };
    (CcidReader::new(card.clone(), config), card)
}

fn message(message_type: u8, seq: u8, specific: [u8; 3], data: &[u8]) -> Vec<u8> {
    let mut out = vec![message_type];
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0x00, seq]);
    out.extend_from_slice(&specific);
    out.extend_from_slice(data);
    out
}

fn xfr_block(seq: u8, level_parameter: u16, data: &[u8]) -> Vec<u8> {
    let [low, high] = level_parameter.to_le_bytes();
    message(0x6F, seq, [0x00, low, high], data)
}

/// A parsed bulk-IN message.
#[derive(Debug)]
struct Answer {
    message_type: u8,
    seq: u8,
    status: u8,
    error: u8,
    last: u8,
    data: Vec<u8>,
}

fn parse(message: &[u8]) -> Answer {
    assert!(message.len() >= 10, "{message:02X?}");
    let length = u32::from_le_bytes([message[1], message[2], message[3], message[4]]) as usize;
    assert_eq!(length, message.len() - 10, "dwLength of {message:02X?}");
    assert_eq!(message[5], 0, "bSlot");
    Answer {
        message_type: message[0],
        seq: message[6],
        status: message[7],
        error: message[8],
        last: message[9],
        data: message[10..].to_vec(),
    }
}

fn next(reader: &mut CcidReader<EchoCard>) -> Answer {
    parse(&reader.bulk_in().expect("a bulk-IN message"))
}

/// The answer to an XfrBlock, after checking and skipping any time extensions.
fn next_real(reader: &mut CcidReader<EchoCard>) -> Answer {
    loop {
        let answer = next(reader);
        if answer.status >> 6 != 2 {
            return answer;
        }
        assert_eq!(answer.message_type, 0x80);
        assert!(answer.data.is_empty());
    }
}

fn power_on(reader: &mut CcidReader<EchoCard>) {
    reader.bulk_out(&message(0x62, 0, [0; 3], &[]));
    let answer = next(reader);
    assert_eq!(
        (answer.message_type, answer.status, answer.error),
        (0x80, 0x00, 0x00)
    );
}

#[test]
fn class_descriptor_announces_the_exchange_level() {
    for (exchange, level) in [
        (Exchange::Tpdu, 0x0001_0000u32),
        (Exchange::ShortApdu, 0x0002_0000),
        (Exchange::ExtendedApdu, 0x0004_0000),
    ] {
        let (reader, _) = reader(exchange, 1034, 0);
        let descriptor = reader.class_descriptor();
        assert_eq!(descriptor.len(), 54);
        assert_eq!(&descriptor[..4], [0x36, 0x21, 0x10, 0x01]);
        let dword = |at: usize| u32::from_le_bytes(descriptor[at..at + 4].try_into().unwrap());
        assert_eq!(dword(6), 2, "dwProtocols: T=1");
        assert_eq!(dword(28), 254, "dwMaxIFSD");
        assert_eq!(dword(40) & 0x0007_0000, level, "dwFeatures");
        assert_eq!(dword(44), 1034, "dwMaxCCIDMessageLength");
    }
}

#[test]
fn power_on_returns_the_atr() {
    let (mut reader, card) = reader(Exchange::ShortApdu, 271, 0);
    reader.bulk_out(&message(0x65, 7, [0; 3], &[]));
    let status = next(&mut reader);
    assert_eq!(
        (status.message_type, status.seq, status.status),
        (0x81, 7, 0x01)
    );

    reader.bulk_out(&message(0x62, 8, [0x00, 0, 0], &[]));
    let answer = next(&mut reader);
    assert_eq!(answer.message_type, 0x80);
    assert_eq!(answer.seq, 8);
    assert_eq!(
        (answer.status, answer.error, answer.last),
        (0x00, 0x00, 0x00)
    );
    assert_eq!(answer.data, ATR);
    assert_eq!(*card.resets.borrow(), 1);

    reader.bulk_out(&message(0x65, 9, [0; 3], &[]));
    assert_eq!(next(&mut reader).status, 0x00);

    reader.bulk_out(&message(0x63, 10, [0; 3], &[]));
    let off = next(&mut reader);
    assert_eq!((off.message_type, off.seq, off.status), (0x81, 10, 0x01));
    assert!(reader.bulk_in().is_none());
}

#[test]
fn xfr_block_carries_a_short_apdu() {
    let (mut reader, card) = reader(Exchange::ShortApdu, 271, 0);
    power_on(&mut reader);
    let apdu = [0x00, 0xA4, 0x04, 0x00, 0x02, 0x3F, 0x00, 0x00];
    reader.bulk_out(&xfr_block(3, 0, &apdu));
    let answer = next(&mut reader);
    assert_eq!(
        (answer.message_type, answer.seq, answer.status, answer.last),
        (0x80, 3, 0, 0)
    );
    assert_eq!(answer.data, [&apdu[..], &[0x90, 0x00]].concat());
    assert_eq!(card.received.borrow().as_slice(), [apdu.to_vec()]);

    // An extended APDU, or chaining, does not belong at this level.
    let extended = [0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x01, 0xAA, 0x00, 0x00];
    reader.bulk_out(&xfr_block(4, 0, &extended));
    let refused = next(&mut reader);
    assert_eq!(
        (refused.message_type, refused.status, refused.error),
        (0x80, 0x40, 10)
    );
    reader.bulk_out(&xfr_block(5, 1, &apdu));
    assert_eq!(next(&mut reader).error, 8);
    assert_eq!(card.received.borrow().len(), 1);
}

#[test]
fn extended_apdus_are_chained_both_ways() {
    // 271 bytes per message leave 261 for data.
    let (mut reader, card) = reader(Exchange::ExtendedApdu, 271, 0);
    power_on(&mut reader);
    let mut apdu = vec![0x00, 0xDB, 0x3F, 0xFF, 0x00, 0x02, 0x4E];
    apdu.extend((0..590).map(|i| i as u8));
    apdu.extend_from_slice(&[0x00, 0x00]);
    assert_eq!(apdu.len(), 599);

    reader.bulk_out(&xfr_block(1, 0x01, &apdu[..261]));
    let answer = next(&mut reader);
    assert_eq!(
        (answer.seq, answer.status, answer.last, answer.data.len()),
        (1, 0, 0x10, 0)
    );
    reader.bulk_out(&xfr_block(2, 0x03, &apdu[261..522]));
    let answer = next(&mut reader);
    assert_eq!((answer.seq, answer.last, answer.data.len()), (2, 0x10, 0));
    assert!(card.received.borrow().is_empty());
    reader.bulk_out(&xfr_block(3, 0x02, &apdu[522..]));
    assert_eq!(card.received.borrow().as_slice(), [apdu.clone()]);

    // 601 response bytes: 261 + 261 + 79.
    let mut response = Vec::new();
    let first = next(&mut reader);
    assert_eq!((first.seq, first.last, first.data.len()), (3, 0x01, 261));
    response.extend(first.data);
    reader.bulk_out(&xfr_block(4, 0x10, &[]));
    let middle = next(&mut reader);
    assert_eq!((middle.seq, middle.last, middle.data.len()), (4, 0x03, 261));
    response.extend(middle.data);
    reader.bulk_out(&xfr_block(5, 0x10, &[]));
    let last = next(&mut reader);
    assert_eq!((last.seq, last.last, last.data.len()), (5, 0x02, 79));
    response.extend(last.data);
    assert_eq!(response, [&apdu[..], &[0x90, 0x00]].concat());

    // Continuing what was never begun is an error in wLevelParameter (offset 8).
    reader.bulk_out(&xfr_block(6, 0x10, &[]));
    let error = next(&mut reader);
    assert_eq!((error.status, error.error), (0x40, 8));
    reader.bulk_out(&xfr_block(7, 0x02, &[0x00]));
    assert_eq!(next(&mut reader).error, 8);

    // A message longer than dwMaxCCIDMessageLength is refused (dwLength, offset 1).
    reader.bulk_out(&xfr_block(8, 0x00, &[0u8; 262]));
    assert_eq!(next(&mut reader).error, 1);
}

#[test]
fn time_extensions_come_before_the_answer() {
    let (mut reader, _) = reader(Exchange::ShortApdu, 271, 2);
    power_on(&mut reader);
    reader.bulk_out(&xfr_block(9, 0, &[0x00, 0xCA, 0x00, 0x00, 0x00]));
    for _ in 0..2 {
        let wait = next(&mut reader);
        assert_eq!(wait.message_type, 0x80);
        assert_eq!(wait.seq, 9);
        assert_eq!(wait.status, 0x80, "bmCommandStatus 2: time extension");
        assert_eq!(wait.error, 1, "BWT multiplier");
        assert!(wait.data.is_empty());
    }
    let answer = next(&mut reader);
    assert_eq!((answer.seq, answer.status), (9, 0x00));
    assert_eq!(answer.data, [0x00, 0xCA, 0x00, 0x00, 0x00, 0x90, 0x00]);
    assert!(reader.bulk_in().is_none());
}

/// A T=1 block from the host: NAD 0, PCB, LEN, INF, LRC.
fn t1_block(pcb: u8, inf: &[u8]) -> Vec<u8> {
    let mut block = vec![0x00, pcb, inf.len() as u8];
    block.extend_from_slice(inf);
    block.push(block.iter().fold(0, |lrc, b| lrc ^ b));
    block
}

/// Sends one block, returns the card's block (checked for NAD and LRC).
fn exchange_block(reader: &mut CcidReader<EchoCard>, seq: u8, block: &[u8]) -> Vec<u8> {
    reader.bulk_out(&xfr_block(seq, 0, block));
    let answer = next_real(reader);
    assert_eq!(
        (answer.message_type, answer.seq, answer.status),
        (0x80, seq, 0x00)
    );
    let card_block = answer.data;
    assert_eq!(card_block[0], 0x00, "NAD");
    assert_eq!(card_block[2] as usize, card_block.len() - 4, "LEN");
    assert_eq!(card_block.iter().fold(0, |lrc, b| lrc ^ b), 0, "LRC");
    card_block
}

#[test]
fn t1_chains_both_ways_at_ifsc_32_and_asks_for_waiting_time() {
    let (mut reader, card) = reader(Exchange::Tpdu, 271, 1);
    power_on(&mut reader);
    let mut apdu = vec![0x00, 0xDA, 0x01, 0x02, 65];
    apdu.extend((0..65).map(|i| i as u8));
    assert_eq!(apdu.len(), 70);

    // The host's chain: I(0,M), I(1,M), I(0); the card acknowledges with R(1), R(0).
    let r = exchange_block(&mut reader, 1, &t1_block(0x20, &apdu[..32]));
    assert_eq!(r, t1_block(0x90, &[]));
    let r = exchange_block(&mut reader, 2, &t1_block(0x60, &apdu[32..64]));
    assert_eq!(r, t1_block(0x80, &[]));
    // The card then wants more time before it answers.
    let wtx = exchange_block(&mut reader, 3, &t1_block(0x00, &apdu[64..]));
    assert_eq!(wtx, t1_block(0xC3, &[0x01]));
    assert_eq!(card.received.borrow().as_slice(), [apdu.clone()]);

    // Its 72-byte response comes as I(0,M) 32, I(1,M) 32, I(0) 8, each asked for with R(N(R)).
    let part = exchange_block(&mut reader, 4, &t1_block(0xE3, &[0x01]));
    assert_eq!(part[1], 0x20);
    let mut response = part[3..part.len() - 1].to_vec();
    let part = exchange_block(&mut reader, 5, &t1_block(0x90, &[]));
    assert_eq!(part[1], 0x60);
    response.extend_from_slice(&part[3..part.len() - 1]);
    // A retransmission request (N(R) = the N(S) just received) gets the same block again.
    let again = exchange_block(&mut reader, 6, &t1_block(0x90, &[]));
    assert_eq!(again, part);
    let part = exchange_block(&mut reader, 7, &t1_block(0x80, &[]));
    assert_eq!(part[1], 0x00);
    assert_eq!(part[2], 8);
    response.extend_from_slice(&part[3..part.len() - 1]);
    assert_eq!(response, [&apdu[..], &[0x90, 0x00]].concat());

    // After S(IFS) the card sends up to 254 bytes at once.
    let ifs = exchange_block(&mut reader, 8, &t1_block(0xC1, &[0xFE]));
    assert_eq!(ifs, t1_block(0xE1, &[0xFE]));
    let wtx = exchange_block(&mut reader, 9, &t1_block(0x40, &apdu[..5]));
    assert_eq!(wtx, t1_block(0xC3, &[0x01]));
    let whole = exchange_block(&mut reader, 10, &t1_block(0xE3, &[0x01]));
    assert_eq!(whole, t1_block(0x40, &[&apdu[..5], &[0x90, 0x00]].concat()));

    // An I-block longer than the IFSC (32) is an error: R-block, N(R) = 0, "other error".
    let refused = exchange_block(&mut reader, 11, &t1_block(0x00, &[0u8; 33]));
    assert_eq!(refused, t1_block(0x82, &[]));
}

#[test]
fn t1_block_with_a_bad_lrc_gets_an_error_r_block() {
    let (mut reader, card) = reader(Exchange::Tpdu, 271, 0);
    power_on(&mut reader);
    let apdu = [0x00, 0xCA, 0x01, 0x02, 0x00];
    let mut corrupt = t1_block(0x00, &apdu);
    *corrupt.last_mut().unwrap() ^= 0x55;
    let r = exchange_block(&mut reader, 1, &corrupt);
    assert_eq!(r, t1_block(0x81, &[]), "R(0) with EDC error");
    assert!(card.received.borrow().is_empty());

    // The host sends the block again, correctly this time.
    let i = exchange_block(&mut reader, 2, &t1_block(0x00, &apdu));
    assert_eq!(i, t1_block(0x00, &[&apdu[..], &[0x90, 0x00]].concat()));

    // A block out of sequence (N(S) 0 again) is "other error", N(R) = 1.
    let r = exchange_block(&mut reader, 3, &t1_block(0x00, &apdu));
    assert_eq!(r, t1_block(0x92, &[]));

    // S(RESYNCH) sets both sequence numbers back to 0.
    let resynch = exchange_block(&mut reader, 4, &t1_block(0xC0, &[]));
    assert_eq!(resynch, t1_block(0xE0, &[]));
    let i = exchange_block(&mut reader, 5, &t1_block(0x00, &apdu));
    assert_eq!(i[1], 0x00);
}

#[test]
fn no_card_answers_icc_mute() {
    let (mut reader, _) = reader(Exchange::ExtendedApdu, 271, 0);
    assert!(reader.interrupt_in().is_none());
    reader.remove_card();
    assert_eq!(reader.interrupt_in(), Some(vec![0x50, 0x02]));
    assert!(reader.interrupt_in().is_none());

    reader.bulk_out(&message(0x62, 1, [0; 3], &[]));
    let answer = next(&mut reader);
    assert_eq!((answer.message_type, answer.seq), (0x80, 1));
    assert_eq!(answer.status, 0x42, "failed, no ICC present");
    assert_eq!(answer.error, ICC_MUTE);
    reader.bulk_out(&xfr_block(2, 0, &[0x00, 0xCA, 0x00, 0x00]));
    let answer = next(&mut reader);
    assert_eq!((answer.status, answer.error), (0x42, ICC_MUTE));
    reader.bulk_out(&message(0x65, 3, [0; 3], &[]));
    let status = next(&mut reader);
    assert_eq!(
        (status.message_type, status.status, status.error),
        (0x81, 0x02, 0x00)
    );

    reader.insert_card();
    assert_eq!(reader.interrupt_in(), Some(vec![0x50, 0x03]));
    // Inserted, not yet powered.
    reader.bulk_out(&xfr_block(4, 0, &[0x00, 0xCA, 0x00, 0x00]));
    let answer = next(&mut reader);
    assert_eq!((answer.status, answer.error), (0x41, ICC_MUTE));
    power_on(&mut reader);
}

#[test]
fn removing_a_powered_card_powers_it_down() {
    let (mut reader, card) = reader(Exchange::ExtendedApdu, 271, 0);
    power_on(&mut reader);
    reader.remove_card();
    reader.insert_card();
    reader.bulk_out(&message(0x65, 1, [0; 3], &[]));
    assert_eq!(next(&mut reader).status, 0x01);
    power_on(&mut reader);
    assert_eq!(*card.resets.borrow(), 2);
}

#[test]
fn unsupported_and_malformed_messages_are_refused() {
    let (mut reader, _) = reader(Exchange::ExtendedApdu, 271, 0);
    power_on(&mut reader);

    // PC_to_RDR_Escape answers RDR_to_PC_Escape; IccClock and unknown types SlotStatus.
    reader.bulk_out(&message(0x6B, 1, [0; 3], &[0x01]));
    let escape = next(&mut reader);
    assert_eq!(
        (escape.message_type, escape.seq, escape.status, escape.error),
        (0x83, 1, 0x40, CMD_NOT_SUPPORTED)
    );
    reader.bulk_out(&message(0x6E, 2, [0; 3], &[]));
    let clock = next(&mut reader);
    assert_eq!(
        (clock.message_type, clock.status, clock.error),
        (0x81, 0x40, CMD_NOT_SUPPORTED)
    );
    reader.bulk_out(&message(0x42, 3, [0; 3], &[]));
    let unknown = next(&mut reader);
    assert_eq!(
        (
            unknown.message_type,
            unknown.seq,
            unknown.status,
            unknown.error
        ),
        (0x81, 3, 0x40, CMD_NOT_SUPPORTED)
    );

    // Slot 1 does not exist (bSlot, offset 5).
    let mut wrong_slot = message(0x65, 4, [0; 3], &[]);
    wrong_slot[5] = 1;
    reader.bulk_out(&wrong_slot);
    let answer = next(&mut reader);
    assert_eq!((answer.seq, answer.status, answer.error), (4, 0x42, 5));

    // dwLength disagrees with the data (offset 1).
    let mut wrong_length = xfr_block(5, 0, &[0x00, 0xCA, 0x00, 0x00]);
    wrong_length[1] = 9;
    reader.bulk_out(&wrong_length);
    let answer = next(&mut reader);
    assert_eq!(
        (answer.message_type, answer.seq, answer.status, answer.error),
        (0x80, 5, 0x40, 1)
    );

    // bPowerSelect 4 is not a voltage (offset 7).
    reader.bulk_out(&message(0x62, 6, [4, 0, 0], &[]));
    assert_eq!(next(&mut reader).error, 7);
}

#[test]
fn parameters_are_t1_and_only_what_the_card_supports_can_be_set() {
    let (mut reader, _) = reader(Exchange::Tpdu, 271, 0);
    power_on(&mut reader);
    reader.bulk_out(&message(0x6C, 1, [0; 3], &[]));
    let parameters = next(&mut reader);
    assert_eq!(
        (parameters.message_type, parameters.seq, parameters.status),
        (0x82, 1, 0x00)
    );
    assert_eq!(parameters.last, 0x01, "bProtocolNum: T=1");
    assert_eq!(parameters.data, [0x11, 0x10, 0x00, 0x4D, 0x00, 32, 0x00]);

    // T=0 (offset 7) and CRC (bmTCCKST1, offset 11) are refused.
    reader.bulk_out(&message(
        0x61,
        2,
        [0x00, 0, 0],
        &[0x11, 0x00, 0x00, 0x0A, 0x00],
    ));
    let refused = next(&mut reader);
    assert_eq!(
        (refused.message_type, refused.status, refused.error),
        (0x82, 0x40, 7)
    );
    reader.bulk_out(&message(
        0x61,
        3,
        [0x01, 0, 0],
        &[0x11, 0x11, 0x00, 0x4D, 0x00, 0xFE, 0x00],
    ));
    assert_eq!(next(&mut reader).error, 11);

    let wanted = [0x18, 0x10, 0x02, 0x45, 0x00, 0xFE, 0x00];
    reader.bulk_out(&message(0x61, 4, [0x01, 0, 0], &wanted));
    let set = next(&mut reader);
    assert_eq!((set.message_type, set.status, set.last), (0x82, 0x00, 0x01));
    assert_eq!(set.data, wanted);
    reader.bulk_out(&message(0x6D, 5, [0; 3], &[]));
    assert_eq!(
        next(&mut reader).data,
        [0x11, 0x10, 0x00, 0x4D, 0x00, 32, 0x00]
    );
}
