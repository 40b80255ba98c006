//! The card's side of the T=1 block protocol (ISO/IEC 7816-3:2006 §11), for a reader at TPDU
//! level, where the host speaks T=1 itself.
//!
//! Modelled: NAD 0 only; I-blocks with send sequence numbers and chaining (M bit) both ways;
//! R-blocks acknowledging chained blocks, asking for the next part of a chained response and
//! reporting errors (EDC error for a bad LRC, "other error" for anything malformed or out of
//! sequence); S(IFS), S(RESYNCH), S(ABORT) requests from the host; and S(WTX) requests from the
//! card before each response. The card never sends more than IFSD bytes of information per block
//! (32 until the host sends S(IFS request)) and accepts no more than its IFSC.

use crate::Icc;

/// ISO/IEC 7816-3 §11.4.2: IFSD before any S(IFS) exchange.
const DEFAULT_IFSD: u8 = 32;

const PCB_I_NS: u8 = 0x40;
const PCB_I_MORE: u8 = 0x20;
const PCB_R: u8 = 0x80;
const PCB_R_NR: u8 = 0x10;
const R_EDC_ERROR: u8 = 0x01;
const R_OTHER_ERROR: u8 = 0x02;
const PCB_S: u8 = 0xC0;
const S_RESPONSE: u8 = 0x20;
const S_RESYNCH: u8 = 0x00;
const S_IFS: u8 = 0x01;
const S_ABORT: u8 = 0x02;
const S_WTX: u8 = 0x03;

/// The waiting-time multiplier the card asks for in S(WTX request).
const WTX_MULTIPLIER: u8 = 1;

enum State {
    Idle,
    /// The host is sending a chained command; what arrived so far is in `command`.
    ReceivingCommand,
    /// The card is sending a chained response; this is what the host has not been sent yet.
    SendingResponse(Vec<u8>),
    /// The card asked for more time and waits for S(WTX response); then it sends `response`.
    WaitingTime {
        left: u32,
        response: Vec<u8>,
    },
}

pub(crate) struct CardT1 {
    ifsc: u8,
    ifsd: u8,
    wtx_per_response: u32,
    /// N(S) of the next I-block the card sends.
    card_ns: bool,
    /// N(S) of the next I-block the card expects from the host.
    host_ns: bool,
    command: Vec<u8>,
    state: State,
    last_sent: Option<Vec<u8>>,
}

impl CardT1 {
    pub(crate) fn new(ifsc: u8, wtx_per_response: u32) -> Self {
        Self {
            ifsc,
            ifsd: DEFAULT_IFSD,
            wtx_per_response,
            card_ns: false,
            host_ns: false,
            command: Vec::new(),
            state: State::Idle,
            last_sent: None,
        }
    }

    /// The state after an ATR: sequence numbers 0, default IFSD, nothing in progress.
    pub(crate) fn reset(&mut self) {
        *self = Self::new(self.ifsc, self.wtx_per_response);
    }

    /// One block from the host in, the card's next block out.
    pub(crate) fn receive<C: Icc + ?Sized>(&mut self, block: &[u8], card: &mut C) -> Vec<u8> {
        let sent = self.answer(block, card);
        // An error report is not what a retransmission request asks for: that is the block
        // before it.
        let error_report = sent[1] & 0xC0 == PCB_R && sent[1] & 0x0F != 0;
        if !error_report {
            self.last_sent = Some(sent.clone());
        }
        sent
    }

    fn answer<C: Icc + ?Sized>(&mut self, block: &[u8], card: &mut C) -> Vec<u8> {
        if block.len() < 4 || block.iter().fold(0, |lrc, b| lrc ^ b) != 0 {
            return self.r_block(R_EDC_ERROR);
        }
        let (nad, pcb, len) = (block[0], block[1], usize::from(block[2]));
        let inf = &block[3..block.len() - 1];
        if nad != 0 || len != inf.len() || len == 0xFF {
            return self.r_block(R_OTHER_ERROR);
        }
        match pcb {
            _ if pcb & 0x80 == 0 => self.on_i_block(pcb, inf, card),
            _ if pcb & 0xC0 == PCB_R => self.on_r_block(pcb),
            _ => self.on_s_block(pcb, inf),
        }
    }

    fn on_i_block<C: Icc + ?Sized>(&mut self, pcb: u8, inf: &[u8], card: &mut C) -> Vec<u8> {
        let ns = pcb & PCB_I_NS != 0;
        let more = pcb & PCB_I_MORE != 0;
        let expecting = matches!(self.state, State::Idle | State::ReceivingCommand);
        if !expecting || ns != self.host_ns || pcb & 0x1F != 0 || inf.len() > usize::from(self.ifsc)
        {
            return self.r_block(R_OTHER_ERROR);
        }
        if matches!(self.state, State::Idle) {
            self.command.clear();
        }
        self.command.extend_from_slice(inf);
        self.host_ns = !self.host_ns;
        if more {
            self.state = State::ReceivingCommand;
            return self.r_block(0);
        }
        let response = card.transmit(&std::mem::take(&mut self.command));
        if self.wtx_per_response > 0 {
            self.state = State::WaitingTime {
                left: self.wtx_per_response,
                response,
            };
            return s_block(S_WTX, &[WTX_MULTIPLIER]);
        }
        self.send_response(response)
    }

    fn on_r_block(&mut self, pcb: u8) -> Vec<u8> {
        let nr = pcb & PCB_R_NR != 0;
        if pcb & 0x20 != 0 {
            return self.r_block(R_OTHER_ERROR);
        }
        if let State::SendingResponse(rest) = &mut self.state
            && nr == self.card_ns
        {
            // Acknowledges our last part and asks for the next.
            let rest = std::mem::take(rest);
            return self.send_response(rest);
        }
        // Anything else asks for our last block again (ISO/IEC 7816-3 §11.6.3.2 rule 7.1).
        match &self.last_sent {
            Some(last) => last.clone(),
            None => self.r_block(R_OTHER_ERROR),
        }
    }

    fn on_s_block(&mut self, pcb: u8, inf: &[u8]) -> Vec<u8> {
        match (pcb & !PCB_S, inf) {
            (S_RESYNCH, []) => {
                self.reset();
                s_block(S_RESYNCH | S_RESPONSE, &[])
            }
            (S_IFS, &[ifsd]) if (1..=0xFE).contains(&ifsd) => {
                self.ifsd = ifsd;
                s_block(S_IFS | S_RESPONSE, &[ifsd])
            }
            (S_ABORT, []) => {
                self.command.clear();
                self.state = State::Idle;
                s_block(S_ABORT | S_RESPONSE, &[])
            }
            (code, &[multiplier]) if code == S_WTX | S_RESPONSE && multiplier == WTX_MULTIPLIER => {
                match std::mem::replace(&mut self.state, State::Idle) {
                    State::WaitingTime { left, response } if left > 1 => {
                        self.state = State::WaitingTime {
                            left: left - 1,
                            response,
                        };
                        s_block(S_WTX, &[WTX_MULTIPLIER])
                    }
                    State::WaitingTime { response, .. } => self.send_response(response),
                    other => {
                        self.state = other;
                        self.r_block(R_OTHER_ERROR)
                    }
                }
            }
            _ => self.r_block(R_OTHER_ERROR),
        }
    }

    /// The next part of a response: at most IFSD bytes, with M set if more follows.
    fn send_response(&mut self, mut response: Vec<u8>) -> Vec<u8> {
        let part_len = response.len().min(usize::from(self.ifsd));
        let rest = response.split_off(part_len);
        let mut pcb = if self.card_ns { PCB_I_NS } else { 0 };
        self.card_ns = !self.card_ns;
        if rest.is_empty() {
            self.state = State::Idle;
        } else {
            pcb |= PCB_I_MORE;
            self.state = State::SendingResponse(rest);
        }
        block(pcb, &response)
    }

    fn r_block(&self, error: u8) -> Vec<u8> {
        let nr = if self.host_ns { PCB_R_NR } else { 0 };
        block(PCB_R | nr | error, &[])
    }
}

fn s_block(code: u8, inf: &[u8]) -> Vec<u8> {
    block(PCB_S | code, inf)
}

/// NAD 0, PCB, LEN, INF, LRC.
pub(crate) fn block(pcb: u8, inf: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(inf.len() + 4);
    out.extend_from_slice(&[0x00, pcb, u8::try_from(inf.len()).unwrap_or(0xFF)]);
    out.extend_from_slice(inf);
    out.push(out.iter().fold(0, |lrc, b| lrc ^ b));
    out
}
