//! The host side of the T=1 block transmission protocol (ISO/IEC 7816-3 §11), for readers that
//! leave it to the host (CCID TPDU level). Blocks are `NAD PCB LEN INF… LRC`.

use alloc::vec::Vec;

use crate::Error;

/// One block exchange: send a block, get the card's answer block. `wtx` is the waiting-time
/// multiplier the card last asked for (0 when none), which a CCID reader takes as bBWI.
#[allow(async_fn_in_trait)]
pub trait BlockLink {
    async fn exchange_block(&mut self, block: &[u8], wtx: u8) -> Result<Vec<u8>, Error>;
}

/// Consecutive failed blocks before the exchange is given up (§11.6.3 allows the host to
/// retransmit; three is what PC/SC drivers use).
const MAX_RETRIES: usize = 3;

/// The protocol state that lasts for a card session.
#[derive(Debug, Clone)]
pub struct T1 {
    /// N(S) of the next I-block we send.
    send_seq: u8,
    /// N(S) we expect on the next I-block from the card.
    receive_seq: u8,
    /// The most information the card accepts in one block.
    ifsc: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Block {
    Information {
        seq: u8,
        more: bool,
        data: Vec<u8>,
    },
    Receive {
        seq: u8,
        error: bool,
    },
    Supervisory {
        kind: u8,
        response: bool,
        data: Vec<u8>,
    },
}

const NAD: u8 = 0x00;
const S_RESYNCH: u8 = 0x00;
const S_IFS: u8 = 0x01;
const S_ABORT: u8 = 0x02;
const S_WTX: u8 = 0x03;

fn lrc(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |acc, b| acc ^ b)
}

fn encode(pcb: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + data.len());
    out.extend_from_slice(&[NAD, pcb, data.len() as u8]);
    out.extend_from_slice(data);
    out.push(lrc(&out));
    out
}

fn information(seq: u8, more: bool, data: &[u8]) -> Vec<u8> {
    encode((seq << 6) | if more { 0x20 } else { 0 }, data)
}

fn receive_ready(seq: u8, error: bool) -> Vec<u8> {
    encode(0x80 | (seq << 4) | u8::from(error), &[])
}

fn supervisory(kind: u8, response: bool, data: &[u8]) -> Vec<u8> {
    encode(0xC0 | if response { 0x20 } else { 0 } | kind, data)
}

/// Decode a block; `None` when its length or LRC is wrong (the caller asks again).
fn decode(raw: &[u8]) -> Option<Block> {
    let (&checksum, body) = raw.split_last()?;
    if body.len() < 3 || lrc(body) != checksum || usize::from(body[2]) != body.len() - 3 {
        return None;
    }
    let pcb = body[1];
    let data = body[3..].to_vec();
    Some(match pcb {
        p if p & 0x80 == 0 => Block::Information {
            seq: (p >> 6) & 1,
            more: p & 0x20 != 0,
            data,
        },
        p if p & 0xC0 == 0x80 => Block::Receive {
            seq: (p >> 4) & 1,
            error: p & 0x0F != 0,
        },
        p => Block::Supervisory {
            kind: p & 0x1F,
            response: p & 0x20 != 0,
            data,
        },
    })
}

impl T1 {
    /// A fresh session; `ifsc` from the ATR (32 when it says nothing, §11.4.2).
    pub fn new(ifsc: u8) -> Self {
        Self {
            send_seq: 0,
            receive_seq: 0,
            ifsc: usize::from(ifsc.max(1)),
        }
    }

    /// Tell the card the most we accept in one block (S(IFS request)).
    pub async fn negotiate_ifsd<L: BlockLink>(
        &mut self,
        link: &mut L,
        ifsd: u8,
    ) -> Result<(), Error> {
        let request = supervisory(S_IFS, false, &[ifsd]);
        for _ in 0..MAX_RETRIES {
            if let Some(Block::Supervisory {
                kind: S_IFS,
                response: true,
                ..
            }) = decode(&link.exchange_block(&request, 0).await?)
            {
                return Ok(());
            }
        }
        Err(Error::Protocol("the card did not accept the block size"))
    }

    /// Send one APDU and return the card's whole answer, chaining both ways as needed.
    pub async fn transmit<L: BlockLink>(
        &mut self,
        link: &mut L,
        apdu: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let chunks: Vec<&[u8]> = if apdu.is_empty() {
            alloc::vec![&[][..]]
        } else {
            apdu.chunks(self.ifsc).collect()
        };
        let mut answer = Vec::new();
        let mut wtx = 0;
        for (i, chunk) in chunks.iter().enumerate() {
            let more = i + 1 < chunks.len();
            let block = information(self.send_seq, more, chunk);
            let mut to_send = block.clone();
            let mut retries = 0;
            loop {
                let reply = link.exchange_block(&to_send, wtx).await?;
                wtx = 0;
                match decode(&reply) {
                    None => {
                        retries += 1;
                        to_send = receive_ready(self.receive_seq, true);
                    }
                    Some(Block::Receive { seq, error })
                        if more && !error && seq != self.send_seq =>
                    {
                        // The card took this link of our chain and wants the next.
                        self.send_seq ^= 1;
                        break;
                    }
                    Some(Block::Receive { .. }) => {
                        retries += 1;
                        to_send = block.clone();
                    }
                    Some(Block::Supervisory {
                        kind: S_WTX,
                        response: false,
                        data,
                    }) => {
                        wtx = data.first().copied().unwrap_or(1);
                        to_send = supervisory(S_WTX, true, &data);
                    }
                    Some(Block::Supervisory {
                        kind: S_IFS,
                        response: false,
                        data,
                    }) => {
                        if let Some(&size) = data.first() {
                            self.ifsc = usize::from(size.max(1));
                        }
                        to_send = supervisory(S_IFS, true, &data);
                    }
                    Some(Block::Supervisory {
                        kind: S_ABORT | S_RESYNCH,
                        ..
                    }) => {
                        return Err(Error::Protocol("the card aborted the exchange"));
                    }
                    Some(Block::Supervisory { .. }) => {
                        retries += 1;
                        to_send = block.clone();
                    }
                    Some(Block::Information {
                        seq,
                        more: card_more,
                        data,
                    }) if !more => {
                        if seq != self.receive_seq {
                            retries += 1;
                            to_send = receive_ready(self.receive_seq, true);
                        } else {
                            self.send_seq ^= 1;
                            self.receive_seq ^= 1;
                            answer.extend_from_slice(&data);
                            if !card_more {
                                return Ok(answer);
                            }
                            return self.receive_rest(link, answer).await;
                        }
                    }
                    Some(Block::Information { .. }) => {
                        return Err(Error::Protocol(
                            "the card answered before the command was complete",
                        ));
                    }
                }
                if retries >= MAX_RETRIES {
                    return Err(Error::Protocol("the card's answers kept arriving damaged"));
                }
            }
        }
        Err(Error::Protocol("the card sent no answer"))
    }

    /// Collect the rest of a chained answer: acknowledge each I-block with R(N(R)).
    async fn receive_rest<L: BlockLink>(
        &mut self,
        link: &mut L,
        mut answer: Vec<u8>,
    ) -> Result<Vec<u8>, Error> {
        let mut retries = 0;
        let mut wtx = 0;
        let mut to_send = receive_ready(self.receive_seq, false);
        loop {
            let reply = link.exchange_block(&to_send, wtx).await?;
            wtx = 0;
            match decode(&reply) {
                Some(Block::Information { seq, more, data }) if seq == self.receive_seq => {
                    retries = 0;
                    self.receive_seq ^= 1;
                    answer.extend_from_slice(&data);
                    if !more {
                        return Ok(answer);
                    }
                    to_send = receive_ready(self.receive_seq, false);
                }
                Some(Block::Supervisory {
                    kind: S_WTX,
                    response: false,
                    data,
                }) => {
                    wtx = data.first().copied().unwrap_or(1);
                    to_send = supervisory(S_WTX, true, &data);
                }
                _ => {
                    retries += 1;
                    to_send = receive_ready(self.receive_seq, true);
                }
            }
            if retries >= MAX_RETRIES {
                return Err(Error::Protocol("the card's answers kept arriving damaged"));
            }
            if answer.len() > 65_538 {
                return Err(Error::Protocol("the card's answer is longer than any APDU"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_decode_and_reject_bad_checksums() {
        let block = information(1, true, &[1, 2, 3]);
        assert_eq!(block[1], 0x60);
        assert_eq!(
            decode(&block),
            Some(Block::Information {
                seq: 1,
                more: true,
                data: alloc::vec![1, 2, 3]
            })
        );
        let mut damaged = block.clone();
        damaged[3] ^= 0xFF;
        assert_eq!(decode(&damaged), None);
        assert_eq!(
            decode(&receive_ready(1, false)),
            Some(Block::Receive {
                seq: 1,
                error: false
            })
        );
        assert_eq!(
            decode(&supervisory(S_WTX, false, &[2])),
            Some(Block::Supervisory {
                kind: S_WTX,
                response: false,
                data: alloc::vec![2]
            })
        );
    }
}
