//! The PIV card through the reader model at each exchange level, and the stdio tool.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::{certify, hex, rng, rsa_key, rsa_pkcs8, self_signed, split_sw};
use virtual_card::provision::{self, PIV_AID, SlotContent, SlotKey, pin_block};
use virtual_card::{CcidReader, Exchange, ReaderConfig, VirtualPiv};

/// A minimal host driver: just enough CCID and T=1 to carry APDUs.
struct Host {
    reader: CcidReader<VirtualPiv>,
    exchange: Exchange,
    seq: u8,
    /// N(S) of our next I-block (TPDU level).
    ns: bool,
}

impl Host {
    fn new(card: VirtualPiv, exchange: Exchange) -> Self {
        let config = ReaderConfig {
            exchange,
            max_message_len: 271,
            time_extensions: 1,
            ifsc: 32,
        };
        let mut host = Self {
            reader: CcidReader::new(card, config),
            exchange,
            seq: 0,
            ns: false,
        };
        let (status, atr) = host.send(0x62, [0; 3], &[]);
        assert_eq!(status, 0x00);
        assert_eq!(atr, host.reader.card().atr());
        host
    }

    /// One bulk-OUT message and its answer (time extensions skipped): bStatus, data.
    fn send(&mut self, message_type: u8, specific: [u8; 3], data: &[u8]) -> (u8, Vec<u8>) {
        let (status, _, data) = self.send_chained(message_type, specific, data);
        (status, data)
    }

    fn send_chained(
        &mut self,
        message_type: u8,
        specific: [u8; 3],
        data: &[u8],
    ) -> (u8, u8, Vec<u8>) {
        self.seq = self.seq.wrapping_add(1);
        let mut message = vec![message_type];
        message.extend_from_slice(&(data.len() as u32).to_le_bytes());
        message.extend_from_slice(&[0, self.seq]);
        message.extend_from_slice(&specific);
        message.extend_from_slice(data);
        self.reader.bulk_out(&message);
        loop {
            let answer = self.reader.bulk_in().expect("an answer");
            assert_eq!(answer[6], self.seq);
            if answer[7] >> 6 == 2 {
                continue;
            }
            assert!(self.reader.bulk_in().is_none());
            return (answer[7], answer[9], answer[10..].to_vec());
        }
    }

    fn xfr(&mut self, level: u16, data: &[u8]) -> (u8, Vec<u8>) {
        let [low, high] = level.to_le_bytes();
        let (status, chain, data) = self.send_chained(0x6F, [0, low, high], data);
        assert_eq!(status, 0x00, "XfrBlock failed");
        (chain, data)
    }

    fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        match self.exchange {
            Exchange::ShortApdu => self.xfr(0, apdu).1,
            Exchange::ExtendedApdu => self.transmit_extended(apdu),
            Exchange::Tpdu => self.transmit_t1(apdu),
        }
    }

    fn transmit_extended(&mut self, apdu: &[u8]) -> Vec<u8> {
        let parts: Vec<&[u8]> = apdu.chunks(261).collect();
        let (mut chain, mut response) = if parts.len() == 1 {
            self.xfr(0x00, apdu)
        } else {
            for (i, part) in parts[..parts.len() - 1].iter().enumerate() {
                let (chain, data) = self.xfr(if i == 0 { 0x01 } else { 0x03 }, part);
                assert_eq!((chain, data.len()), (0x10, 0));
            }
            self.xfr(0x02, parts[parts.len() - 1])
        };
        while chain == 0x01 || chain == 0x03 {
            let (next_chain, more) = self.xfr(0x10, &[]);
            response.extend(more);
            chain = next_chain;
        }
        assert!(chain == 0x00 || chain == 0x02);
        response
    }

    fn t1_block(pcb: u8, inf: &[u8]) -> Vec<u8> {
        let mut block = vec![0x00, pcb, inf.len() as u8];
        block.extend_from_slice(inf);
        block.push(block.iter().fold(0, |lrc, b| lrc ^ b));
        block
    }

    fn transmit_t1(&mut self, apdu: &[u8]) -> Vec<u8> {
        let parts: Vec<&[u8]> = apdu.chunks(32).collect();
        let mut answer = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let more = i + 1 < parts.len();
            let pcb = if self.ns { 0x40 } else { 0 } | if more { 0x20 } else { 0 };
            self.ns = !self.ns;
            answer = self.xfr(0, &Self::t1_block(pcb, part)).1;
            if more {
                assert_eq!(answer[1] & 0xEF, 0x80, "acknowledgement: {}", hex(&answer));
            }
        }
        let mut response = Vec::new();
        loop {
            let pcb = answer[1];
            let inf = answer[3..answer.len() - 1].to_vec();
            if pcb == 0xC3 {
                answer = self.xfr(0, &Self::t1_block(0xE3, &inf)).1;
                continue;
            }
            assert_eq!(pcb & 0x80, 0, "an I-block: {}", hex(&answer));
            response.extend(inf);
            if pcb & 0x20 == 0 {
                return response;
            }
            let nr = if pcb & 0x40 == 0 { 0x10 } else { 0 };
            answer = self.xfr(0, &Self::t1_block(0x80 | nr, &[])).1;
        }
    }

    /// Follows 61XX with GET RESPONSE.
    fn transmit_all(&mut self, apdu: &[u8]) -> (Vec<u8>, u16) {
        let mut response = self.transmit(apdu);
        let mut data = Vec::new();
        loop {
            let (part, sw) = split_sw(&response);
            data.extend_from_slice(part);
            if sw >> 8 != 0x61 {
                return (data, sw);
            }
            response = self.transmit(&[0x00, 0xC0, 0x00, 0x00, sw as u8]);
        }
    }
}

fn provisioned_card() -> (VirtualPiv, Vec<u8>) {
    let key = rsa_key();
    let certificate = self_signed(key, "/CN=Through the reader");
    let mut card = VirtualPiv::new();
    provision::provision(
        &mut card,
        &[SlotContent {
            slot: 0x9A,
            key: SlotKey::Rsa2048 {
                pkcs8_der: rsa_pkcs8(key),
            },
            certificate_der: certificate.clone(),
        }],
        None,
    )
    .unwrap();
    (card, certificate)
}

fn card_session_at(exchange: Exchange) {
    let (card, certificate) = provisioned_card();
    let mut host = Host::new(card, exchange);

    let mut select = vec![0x00, 0xA4, 0x04, 0x00, PIV_AID.len() as u8];
    select.extend_from_slice(&PIV_AID);
    select.push(0x00);
    let (template, sw) = host.transmit_all(&select);
    assert_eq!(sw, 0x9000);
    assert_eq!(template[0], 0x61);

    // The certificate object: short APDUs fetch it with GET RESPONSE, the others at once.
    let le: &[u8] = if exchange == Exchange::ShortApdu {
        &[0x00]
    } else {
        &[0x00, 0x00]
    };
    let mut get_data = vec![0x00, 0xCB, 0x3F, 0xFF];
    if exchange == Exchange::ShortApdu {
        get_data.push(0x05);
    } else {
        get_data.extend_from_slice(&[0x00, 0x00, 0x05]);
    }
    get_data.extend_from_slice(&[0x5C, 0x03, 0x5F, 0xC1, 0x05]);
    get_data.extend_from_slice(le);
    let (object, sw) = host.transmit_all(&get_data);
    assert_eq!(sw, 0x9000);
    assert!(object.windows(certificate.len()).any(|w| w == certificate));

    let mut verify = vec![0x00, 0x20, 0x00, 0x80, 0x08];
    verify.extend_from_slice(&pin_block("123456").unwrap());
    assert_eq!(host.transmit_all(&verify).1, 0x9000);

    // RSA decryption: an extended APDU where the level carries one, command chaining otherwise.
    let message = b"through the reader";
    let ciphertext = rsa_key()
        .to_public_key()
        .encrypt(&mut rng(), rsa::Pkcs1v15Encrypt, message)
        .unwrap();
    let mut data = vec![0x7C, 0x82, 0x01, 0x06, 0x82, 0x00, 0x81, 0x82, 0x01, 0x00];
    data.extend_from_slice(&ciphertext);
    let (answer, sw) = if exchange == Exchange::ShortApdu {
        let (first, last) = data.split_at(255);
        let mut apdu = vec![0x10, 0x87, 0x07, 0x9A, 0xFF];
        apdu.extend_from_slice(first);
        assert_eq!(split_sw(&host.transmit(&apdu)).1, 0x9000);
        let mut apdu = vec![0x00, 0x87, 0x07, 0x9A, last.len() as u8];
        apdu.extend_from_slice(last);
        apdu.push(0x00);
        host.transmit_all(&apdu)
    } else {
        let mut apdu = vec![0x00, 0x87, 0x07, 0x9A, 0x00, 0x01, 0x0A];
        apdu.extend_from_slice(&data);
        apdu.extend_from_slice(&[0x00, 0x00]);
        host.transmit_all(&apdu)
    };
    assert_eq!(sw, 0x9000);
    assert!(answer.ends_with(message), "{}", hex(&answer));

    // Taking the card out and back in resets it: the PIN must be verified again.
    host.reader.remove_card();
    host.reader.insert_card();
    let (status, _) = host.send(0x62, [0; 3], &[]);
    assert_eq!(status, 0x00);
    host.ns = false;
    assert_eq!(host.transmit_all(&select).1, 0x9000);
    assert_eq!(host.transmit_all(&[0x00, 0x20, 0x00, 0x80]).1, 0x63C3);
}

#[test]
fn the_card_works_through_a_short_apdu_reader() {
    card_session_at(Exchange::ShortApdu);
}

#[test]
fn the_card_works_through_an_extended_apdu_reader() {
    card_session_at(Exchange::ExtendedApdu);
}

#[test]
fn the_card_works_through_a_tpdu_reader() {
    card_session_at(Exchange::Tpdu);
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn the_stdio_tool_serves_a_provisioned_card() {
    let dir = tempfile::tempdir().unwrap();
    let key = rsa_key();
    std::fs::write(dir.path().join("key.pk8.der"), rsa_pkcs8(key)).unwrap();
    std::fs::write(dir.path().join("cert.der"), self_signed(key, "/CN=stdio")).unwrap();
    std::fs::write(
        dir.path().join("card.json"),
        r#"{ "exchange": "extended", "timeExtensions": 1, "maxMessageLength": 271, "ifsc": 32,
             "pin": "87654321",
             "slots": [ { "slot": "9a", "key": "key.pk8.der", "certificate": "cert.der" },
                        { "slot": "9c", "generate": "p256" } ] }"#,
    )
    .unwrap();

    let mut tool = Command::new(env!("CARGO_BIN_EXE_virtual-card"))
        .arg("--config")
        .arg(dir.path().join("card.json"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = tool.stdin.take().unwrap();
    let mut stdout = BufReader::new(tool.stdout.take().unwrap());
    let mut line = || {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        line.trim_end().to_owned()
    };

    let generated = line();
    let spki = generated.strip_prefix("generated 9c ").expect(&generated);
    let certificate = certify(&unhex(spki), "/CN=stdio signature");
    writeln!(stdin, "certificate 9c {}", hex(&certificate)).unwrap();
    assert_eq!(line(), "ok");

    let ready = line();
    let descriptor = unhex(ready.strip_prefix("ready ").expect(&ready));
    assert_eq!(descriptor.len(), 54);
    assert_eq!(descriptor[40..44], 0x0004_007Au32.to_le_bytes());

    // IccPowerOn, then VERIFY with the configured PIN: a time extension, then the answer.
    writeln!(stdin, "out 62000000000001000000").unwrap();
    let power_on = line();
    assert!(
        power_on.starts_with("in 80090000000001000000"),
        "{power_on}"
    );
    let mut select = vec![0x00, 0xA4, 0x04, 0x00, PIV_AID.len() as u8];
    select.extend_from_slice(&PIV_AID);
    select.push(0x00);
    let mut xfr = vec![0x6F, select.len() as u8, 0, 0, 0, 0, 2, 0, 0, 0];
    xfr.extend_from_slice(&select);
    writeln!(stdin, "out {}", hex(&xfr)).unwrap();
    let answers: Vec<String> = line().split(' ').map(str::to_owned).collect();
    assert_eq!(answers[0], "in");
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert_eq!(answers[1], "80000000000002800100");
    assert!(answers[2].ends_with("9000"));

    let mut verify = vec![0x00, 0x20, 0x00, 0x80, 0x08];
    verify.extend_from_slice(&pin_block("87654321").unwrap());
    let mut xfr = vec![0x6F, verify.len() as u8, 0, 0, 0, 0, 3, 0, 0, 0];
    xfr.extend_from_slice(&verify);
    writeln!(stdin, "out {}", hex(&xfr)).unwrap();
    assert!(line().ends_with("9000"));

    writeln!(stdin, "remove").unwrap();
    assert_eq!(line(), "ok");
    writeln!(stdin, "interrupt").unwrap();
    assert_eq!(line(), "int 5002");
    writeln!(stdin, "interrupt").unwrap();
    assert_eq!(line(), "int");
    writeln!(stdin, "out 6").unwrap();
    assert!(line().starts_with("error "));
    writeln!(stdin, "insert").unwrap();
    assert_eq!(line(), "ok");

    drop(stdin);
    assert!(tool.wait().unwrap().success());
}

#[test]
fn the_stdio_tool_refuses_a_bad_configuration() {
    let dir = tempfile::tempdir().unwrap();
    for config in [
        r#"{ "exchange": "t0" }"#,
        r#"{ "exchange": "short", "maxMessageLength": 100 }"#,
        r#"{ "exchange": "short", "slots": [ { "slot": "9a", "key": "missing.der", "certificate": "missing.der" } ] }"#,
        r#"{ "exchange": "short", "slots": [ { "slot": "77", "generate": "p256" } ] }"#,
        r#"{ "exchange": "short", "pin": "12" }"#,
        "not json",
    ] {
        std::fs::write(dir.path().join("card.json"), config).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_virtual-card"))
            .arg("--config")
            .arg(dir.path().join("card.json"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{config}");
        assert!(!output.stderr.is_empty());
        assert!(output.stdout.is_empty(), "{config}");
    }
}
