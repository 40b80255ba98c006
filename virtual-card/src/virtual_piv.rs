//! A PIV card: Nitrokey's piv-authenticator on trussed's software platform, behind the APDU layer
//! of the Nitrokey 3 firmware.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use piv_authenticator::{Authenticator, Options};

use crate::apdu::ApduDispatch;
use crate::platform::{BACKENDS, Backends, CLIENT_ID, CardClient, CardStorage};

/// Answer-to-reset: direct convention, T=1 only with the default IFSC (32), BWI and CWI, and
/// historical bytes announcing (compact-TLV card capabilities, ISO/IEC 7816-4 §8.1.1.2.7)
/// selection by full and partial DF name, command chaining and extended Lc/Le fields.
const ATR: [u8; 9] = [
    0x3B, // TS: direct convention
    0x85, // T0: TD1 follows, 5 historical bytes
    0x01, // TD1: T=1, no more interface bytes
    0x80, // category indicator: compact-TLV objects follow
    0x73, 0xC0, 0x21, 0xC0, // card capabilities
    0x56, // TCK: XOR of T0 up to here
];

/// Status word for "no precise diagnosis": what a card answers when it had to restart.
const SW_NO_DIAGNOSIS: [u8; 2] = [0x6F, 0x00];

/// Generous even for RSA-2048 key generation in an unoptimised build; a card that takes longer
/// has hung (a trussed backend that panics leaves its client waiting for ever).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

enum Request {
    Transmit(Vec<u8>, Sender<Vec<u8>>),
    Reset,
}

enum PowerDown {
    /// The card is being dropped.
    Off,
    /// Power cycle: volatile state is lost, flash is kept.
    Reset,
}

/// A real PIV card application (piv-authenticator 0.7, as on a Nitrokey 3) running in RAM.
///
/// A fresh card has PIN 123456, PUK 12345678 and the default 3DES management key
/// 010203040506070801020304050607080102030405060708, no keys and no certificates. The card runs on
/// its own thread (trussed's virtual client only lives inside a closure); dropping the value
/// stops it.
///
/// trussed's virtual platform seeds its random generator with a constant, so keys the card
/// generates are predictable (every fresh card generates the same keys in the same order): this
/// is a test card only.
pub struct VirtualPiv {
    requests: Option<Sender<Request>>,
    thread: Option<JoinHandle<()>>,
    hung: bool,
}

impl VirtualPiv {
    /// A fresh card, powered and ready for its first APDU.
    pub fn new() -> Self {
        let (requests, incoming) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("virtual-piv".into())
            .spawn(move || run_card(&incoming))
            .ok();
        Self {
            requests: Some(requests),
            hung: thread.is_none(),
            thread,
        }
    }

    /// The card's answer-to-reset (T=1).
    pub fn atr(&self) -> Vec<u8> {
        ATR.to_vec()
    }

    /// One command APDU (short or extended encoding) in, response data followed by SW1 SW2 out.
    ///
    /// If the card has stopped (a panic inside it, or no answer within five minutes) this
    /// answers 6F00.
    pub fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        if self.hung {
            return SW_NO_DIAGNOSIS.to_vec();
        }
        let (reply, answer) = mpsc::channel();
        let sent = self.requests.as_ref().is_some_and(|requests| {
            requests
                .send(Request::Transmit(apdu.to_vec(), reply))
                .is_ok()
        });
        if !sent {
            self.hung = true;
            return SW_NO_DIAGNOSIS.to_vec();
        }
        match answer.recv_timeout(ANSWER_TIMEOUT) {
            Ok(response) => response,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                self.hung = true;
                SW_NO_DIAGNOSIS.to_vec()
            }
        }
    }

    /// Power cycle: the card forgets verified PINs, management-key authentication and the
    /// selected application; keys, certificates and PINs stay.
    pub fn reset(&mut self) {
        if let Some(requests) = &self.requests {
            // Queued behind any earlier command, like the power cycle it stands for.
            if requests.send(Request::Reset).is_err() {
                self.hung = true;
            }
        }
    }
}

impl Default for VirtualPiv {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for VirtualPiv {
    fn drop(&mut self) {
        // Closing the channel ends the card's request loop.
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            // A hung card thread would never finish; leave it to the end of the process.
            if !self.hung {
                thread.join().ok();
            }
        }
    }
}

fn run_card(requests: &Receiver<Request>) {
    let mut storage = CardStorage::new();
    loop {
        let store = storage.power_up();
        let power_down = trussed::virt::with_platform(store, |platform| {
            platform.run_client_with_backends(CLIENT_ID, Backends::new(), BACKENDS, |client| {
                run_powered(client, requests)
            })
        });
        if let PowerDown::Off = power_down {
            return;
        }
    }
}

fn run_powered(client: CardClient<'_>, requests: &Receiver<Request>) -> PowerDown {
    let mut app = Authenticator::new(client, Options::default());
    let mut dispatch = ApduDispatch::new();
    for request in requests {
        match request {
            Request::Transmit(apdu, reply) => {
                let answer = catch_unwind(AssertUnwindSafe(|| dispatch.handle(&mut app, &apdu)));
                match answer {
                    Ok(response) => {
                        reply.send(response).ok();
                    }
                    Err(_) => {
                        // piv-authenticator panics when trussed refuses a request it expected
                        // to succeed. A real token's watchdog would reboot it: so do we.
                        reply.send(SW_NO_DIAGNOSIS.to_vec()).ok();
                        return PowerDown::Reset;
                    }
                }
            }
            Request::Reset => return PowerDown::Reset,
        }
    }
    PowerDown::Off
}

#[cfg(test)]
mod tests {
    use super::ATR;

    #[test]
    fn atr_check_byte_makes_t0_to_tck_xor_to_zero() {
        assert_eq!(ATR[1..].iter().fold(0, |x, b| x ^ b), 0);
        // T0 announces as many historical bytes as there are.
        assert_eq!(usize::from(ATR[1] & 0x0F), ATR.len() - 4);
    }
}
