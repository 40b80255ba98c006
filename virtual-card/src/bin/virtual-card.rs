//! `virtual-card --config FILE.json`: a provisioned PIV card in a CCID reader, driven over stdin
//! and stdout, one line per request and one per answer, for browser tests whose WebUSB stand-in
//! forwards USB transfers here.
//!
//! The configuration (paths relative to the configuration file's folder):
//!
//! ```json
//! { "exchange": "extended" | "short" | "tpdu", "timeExtensions": 0, "maxMessageLength": 271,
//!   "ifsc": 32, "pin": "123456",
//!   "slots": [ { "slot": "9a", "key": "key.pk8.der", "certificate": "cert.der" },
//!              { "slot": "9c", "generate": "p256" } ] }
//! ```
//!
//! Only `exchange` is required; the others default to the values shown (no PIN change, no
//! slots). A `key` (PKCS#8 DER, RSA-2048 or P-256) is imported with its `certificate`, which
//! piv-authenticator 0.7 allows for RSA keys in slot 9A only. A slot with `generate`
//! ("p256" or "rsa2048") gets a key made on the card: the tool prints
//! `generated <slot> <hex of SubjectPublicKeyInfo>` for each, and waits for one
//! `certificate <slot> <hex of DER>` line per generated slot (each answered `ok`) before it goes on.
//!
//! Then it prints `ready <hex of the CCID class descriptor>` and serves:
//! - `out <hex>`: one bulk-OUT message; answered `in` and the hex of every bulk-IN message it
//!   produced, space separated;
//! - `apdu <hex>`: one command APDU straight to the card, as an operating system's PC/SC stack
//!   delivers it (the Web Smart Card API); answered `rapdu <hex>`, or `error no card`;
//! - `remove`, `insert`: the card leaves or enters the reader; answered `ok`;
//! - `interrupt`: answered `int <hex>` with the next interrupt-IN message, or `int` if none;
//! - anything unreadable is answered `error <reason>`, and the tool goes on.
//!
//! End of input ends the tool (status 0). A configuration it cannot use ends it with a message on
//! stderr and status 2.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use p256::pkcs8::DecodePrivateKey;
use serde::Deserialize;
use virtual_card::provision::{self, KeyAlgorithm, SlotContent, SlotKey};
use virtual_card::{CcidReader, Exchange, ReaderConfig, VirtualPiv};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Config {
    exchange: ExchangeName,
    #[serde(default)]
    time_extensions: u32,
    #[serde(default = "default_max_message_length")]
    max_message_length: u32,
    #[serde(default = "default_ifsc")]
    ifsc: u8,
    pin: Option<String>,
    #[serde(default)]
    slots: Vec<SlotConfig>,
}

fn default_max_message_length() -> u32 {
    271
}

fn default_ifsc() -> u8 {
    32
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum ExchangeName {
    Extended,
    Short,
    Tpdu,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SlotConfig {
    slot: String,
    key: Option<PathBuf>,
    certificate: Option<PathBuf>,
    generate: Option<GenerateName>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum GenerateName {
    P256,
    Rsa2048,
}

/// A configuration the tool cannot use: the reason, for stderr.
struct ConfigError(String);

impl<E: std::fmt::Display> From<E> for ConfigError {
    fn from(error: E) -> Self {
        Self(error.to_string())
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [flag, path] = args.as_slice() else {
        eprintln!("usage: virtual-card --config FILE.json");
        return ExitCode::from(2);
    };
    if flag != "--config" {
        eprintln!("usage: virtual-card --config FILE.json");
        return ExitCode::from(2);
    }
    let stdin = std::io::stdin();
    let mut input = stdin.lock().lines();
    let mut output = std::io::stdout().lock();
    let reader = match set_up(Path::new(path), &mut input, &mut output) {
        Ok(reader) => reader,
        Err(ConfigError(reason)) => {
            eprintln!("virtual-card: {path}: {reason}");
            return ExitCode::from(2);
        }
    };
    match serve(reader, &mut input, &mut output) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("virtual-card: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Reads the configuration, provisions the card and puts it in the reader.
fn set_up(
    path: &Path,
    input: &mut impl Iterator<Item = std::io::Result<String>>,
    output: &mut impl Write,
) -> Result<CcidReader<VirtualPiv>, ConfigError> {
    let text = std::fs::read_to_string(path)?;
    let config: Config = serde_json::from_str(&text)?;
    let folder = path.parent().unwrap_or(Path::new("."));
    let reader_config = ReaderConfig {
        exchange: match config.exchange {
            ExchangeName::Extended => Exchange::ExtendedApdu,
            ExchangeName::Short => Exchange::ShortApdu,
            ExchangeName::Tpdu => Exchange::Tpdu,
        },
        max_message_len: config.max_message_length,
        time_extensions: config.time_extensions,
        ifsc: config.ifsc,
    };
    reader_config.check()?;

    let mut imports = Vec::new();
    let mut generated = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for slot in &config.slots {
        let number = parse_slot(&slot.slot)?;
        if !seen.insert(number) {
            return Err(ConfigError(format!(
                "slot {} is configured twice",
                slot.slot
            )));
        }
        match (&slot.key, &slot.certificate, slot.generate) {
            (Some(key), Some(certificate), None) => imports.push(SlotContent {
                slot: number,
                key: read_key(&folder.join(key))?,
                certificate_der: std::fs::read(folder.join(certificate))
                    .map_err(|e| format!("{}: {e}", certificate.display()))?,
            }),
            (None, None, Some(algorithm)) => {
                generated.insert(number, algorithm);
            }
            _ => {
                return Err(ConfigError(format!(
                    "slot {}: give either \"key\" and \"certificate\", or \"generate\"",
                    slot.slot
                )));
            }
        }
    }

    let mut card = VirtualPiv::new();
    provision::provision(&mut card, &imports, config.pin.as_deref())?;
    for (&slot, &algorithm) in &generated {
        let algorithm = match algorithm {
            GenerateName::P256 => KeyAlgorithm::P256,
            GenerateName::Rsa2048 => KeyAlgorithm::Rsa2048,
        };
        let spki = provision::generate(&mut card, slot, algorithm)?;
        writeln!(output, "generated {slot:02x} {}", hex(&spki))?;
    }
    output.flush()?;
    while !generated.is_empty() {
        let line = input
            .next()
            .ok_or("input ended before every generated key had its certificate")??;
        let mut words = line.split_whitespace();
        let (Some("certificate"), Some(slot), Some(der), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            return Err(ConfigError(format!(
                "expected \"certificate <slot> <hex>\", got {line:?}"
            )));
        };
        let slot = parse_slot(slot)?;
        if generated.remove(&slot).is_none() {
            return Err(ConfigError(format!(
                "no key was generated in slot {slot:02x}"
            )));
        }
        provision::put_certificate(&mut card, slot, &unhex(der)?)?;
        writeln!(output, "ok")?;
        output.flush()?;
    }
    Ok(CcidReader::new(card, reader_config))
}

fn serve(
    mut reader: CcidReader<VirtualPiv>,
    input: &mut impl Iterator<Item = std::io::Result<String>>,
    output: &mut impl Write,
) -> std::io::Result<()> {
    writeln!(output, "ready {}", hex(&reader.class_descriptor()))?;
    output.flush()?;
    for line in input {
        let line = line?;
        let mut words = line.split_whitespace();
        let answer = match (words.next(), words.next(), words.next()) {
            (Some("out"), Some(message), None) => match unhex(message) {
                Ok(message) => {
                    reader.bulk_out(&message);
                    let mut answer = String::from("in");
                    while let Some(message) = reader.bulk_in() {
                        answer.push(' ');
                        answer.push_str(&hex(&message));
                    }
                    answer
                }
                Err(reason) => format!("error {reason}"),
            },
            // The Web Smart Card API's view: the operating system's PC/SC stack drives the
            // reader, so whole APDUs reach the card and CCID is not the page's to speak.
            (Some("apdu"), Some(command), None) => match unhex(command) {
                Ok(_) if !reader.card_present() => "error no card".to_owned(),
                Ok(command) => format!("rapdu {}", hex(&reader.card().transmit(&command))),
                Err(reason) => format!("error {reason}"),
            },
            (Some("remove"), None, None) => {
                reader.remove_card();
                "ok".to_owned()
            }
            (Some("insert"), None, None) => {
                reader.insert_card();
                "ok".to_owned()
            }
            (Some("interrupt"), None, None) => match reader.interrupt_in() {
                Some(message) => format!("int {}", hex(&message)),
                None => "int".to_owned(),
            },
            _ => format!("error unknown request {line:?}"),
        };
        writeln!(output, "{answer}")?;
        output.flush()?;
    }
    Ok(())
}

/// A slot as hex ("9a", "82").
fn parse_slot(text: &str) -> Result<u8, ConfigError> {
    let slot = u8::from_str_radix(text, 16).map_err(|_| format!("bad slot {text:?}"))?;
    provision::certificate_object(slot).ok_or(format!("{text:?} is not a PIV key slot"))?;
    Ok(slot)
}

fn read_key(path: &Path) -> Result<SlotKey, ConfigError> {
    let der = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if rsa::RsaPrivateKey::from_pkcs8_der(&der).is_ok() {
        return Ok(SlotKey::Rsa2048 { pkcs8_der: der });
    }
    if p256::SecretKey::from_pkcs8_der(&der).is_ok() {
        return Ok(SlotKey::P256 { pkcs8_der: der });
    }
    Err(ConfigError(format!(
        "{}: not a PKCS#8 DER RSA or P-256 private key",
        path.display()
    )))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err("odd number of hex digits".to_owned());
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("not hex: {text:?}"))
        })
        .collect()
}
