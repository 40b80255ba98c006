//! Command and response APDUs (ISO/IEC 7816-4 §5), and the exchange rules every card application
//! shares: extended or chained commands, and responses fetched with GET RESPONSE.

use alloc::vec::Vec;

use crate::Error;
use crate::transport::Transport;

/// A command APDU before encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command<'a> {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: &'a [u8],
    /// Whether response data is expected (Le = the maximum).
    pub expects_data: bool,
}

impl<'a> Command<'a> {
    pub const fn new(cla: u8, ins: u8, p1: u8, p2: u8, data: &'a [u8]) -> Self {
        Self {
            cla,
            ins,
            p1,
            p2,
            data,
            expects_data: false,
        }
    }

    /// The same command, asking for response data.
    pub const fn expecting_data(mut self) -> Self {
        self.expects_data = true;
        self
    }

    /// Short encoding (case 1–4S). The caller has checked that the data fits in 255 bytes.
    fn encode_short(&self, cla: u8, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(6 + data.len());
        out.extend_from_slice(&[cla, self.ins, self.p1, self.p2]);
        if !data.is_empty() {
            out.push(data.len() as u8);
            out.extend_from_slice(data);
        }
        if self.expects_data {
            out.push(0x00);
        }
        out
    }

    /// Extended encoding (case 2E–4E): Lc and Le take two bytes after a zero byte.
    fn encode_extended(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + self.data.len());
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2, 0x00]);
        if !self.data.is_empty() {
            out.extend_from_slice(&(self.data.len() as u16).to_be_bytes());
            out.extend_from_slice(self.data);
        }
        if self.expects_data {
            out.extend_from_slice(&[0x00, 0x00]);
        }
        out
    }

    /// The command as it goes on the wire: one extended APDU if the transport carries them and
    /// the short form does not fit, else one or more short APDUs chained with CLA bit 0x10.
    pub fn encode(&self, extended: bool) -> Result<Vec<Vec<u8>>, Error> {
        if self.data.len() > u16::MAX as usize {
            return Err(Error::CommandTooLong);
        }
        if self.data.len() <= SHORT_MAX {
            return Ok(alloc::vec![self.encode_short(self.cla, self.data)]);
        }
        if extended {
            return Ok(alloc::vec![self.encode_extended()]);
        }
        let chunks: Vec<&[u8]> = self.data.chunks(SHORT_MAX).collect();
        let last = chunks.len() - 1;
        Ok(chunks
            .iter()
            .enumerate()
            .map(|(i, chunk)| {
                if i == last {
                    self.encode_short(self.cla, chunk)
                } else {
                    // Only the last command of a chain asks for the answer.
                    let link = Command {
                        expects_data: false,
                        ..self.clone()
                    };
                    link.encode_short(self.cla | CHAINING, chunk)
                }
            })
            .collect())
    }
}

const SHORT_MAX: usize = 255;
const CHAINING: u8 = 0x10;
/// More than this many GET RESPONSE rounds (256 bytes each) is a card gone wrong: no
/// certificate or signature is 1 MiB.
const MAX_GET_RESPONSE: usize = 4096;

/// A response APDU: its data and status word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub data: Vec<u8>,
    pub status: u16,
}

impl Response {
    /// Split raw response bytes into data and SW1 SW2.
    pub fn parse(raw: &[u8]) -> Result<Self, Error> {
        let Some(split) = raw.len().checked_sub(2) else {
            return Err(Error::Protocol("a response shorter than its status word"));
        };
        Ok(Self {
            data: raw[..split].to_vec(),
            status: u16::from_be_bytes([raw[split], raw[split + 1]]),
        })
    }

    pub fn is_ok(&self) -> bool {
        self.status == SW_OK
    }

    /// The data if the status is 9000, else [`Error::Status`].
    pub fn into_data(self) -> Result<Vec<u8>, Error> {
        if self.is_ok() {
            Ok(self.data)
        } else {
            Err(Error::Status(self.status))
        }
    }
}

pub const SW_OK: u16 = 0x9000;

/// Send `command` and return the whole response: extended or chained as the transport allows,
/// with 61xx answered by GET RESPONSE and 6Cxx by sending again with the length the card asked
/// for.
pub async fn exchange<T: Transport + ?Sized>(
    transport: &mut T,
    command: &Command<'_>,
) -> Result<Response, Error> {
    let parts = command.encode(transport.carries_extended_apdus())?;
    let last = parts.len() - 1;
    let mut response = None;
    for (i, apdu) in parts.iter().enumerate() {
        let answer = Response::parse(&transport.transmit(apdu).await?)?;
        if i < last && !answer.is_ok() {
            // The card refused a link of the chain: its status is the answer.
            return Ok(answer);
        }
        response = Some((answer, apdu));
    }
    let Some((mut answer, sent)) = response else {
        return Err(Error::Protocol("nothing to send"));
    };
    // 6Cxx: "ask again with Le = xx". Only the Le byte of a short command that asked for data
    // may change; any other last byte is data (a PIN), and resending it altered would spend a try.
    if answer.status & 0xFF00 == 0x6C00
        && command.expects_data
        && last == 0
        && command.data.len() <= SHORT_MAX
    {
        let mut again = sent.clone();
        if let Some(le) = again.last_mut() {
            *le = (answer.status & 0xFF) as u8;
        }
        answer = Response::parse(&transport.transmit(&again).await?)?;
    }
    let mut data = core::mem::take(&mut answer.data);
    let mut rounds = 0;
    while answer.status & 0xFF00 == 0x6100 {
        rounds += 1;
        if rounds > MAX_GET_RESPONSE {
            return Err(Error::Protocol("the card never finished its answer"));
        }
        let get_response = [0x00, 0xC0, 0x00, 0x00, (answer.status & 0xFF) as u8];
        answer = Response::parse(&transport.transmit(&get_response).await?)?;
        data.append(&mut answer.data);
    }
    Ok(Response {
        data,
        status: answer.status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms() {
        let select = Command::new(0x00, 0xA4, 0x04, 0x00, &[0xA0, 0x00]).expecting_data();
        assert_eq!(
            select.encode(false).unwrap(),
            [[0x00, 0xA4, 0x04, 0x00, 0x02, 0xA0, 0x00, 0x00]]
        );
        let verify_status = Command::new(0x00, 0x20, 0x00, 0x80, &[]);
        assert_eq!(
            verify_status.encode(true).unwrap(),
            [[0x00, 0x20, 0x00, 0x80]]
        );
    }

    #[test]
    fn long_data_is_extended_or_chained() {
        let data = [0x5Au8; 300];
        let command = Command::new(0x00, 0x87, 0x07, 0x9D, &data).expecting_data();
        let extended = command.encode(true).unwrap();
        assert_eq!(extended.len(), 1);
        assert_eq!(
            &extended[0][..7],
            &[0x00, 0x87, 0x07, 0x9D, 0x00, 0x01, 0x2C]
        );
        assert_eq!(&extended[0][307..], &[0x00, 0x00]);

        let chained = command.encode(false).unwrap();
        assert_eq!(chained.len(), 2);
        assert_eq!(&chained[0][..5], &[0x10, 0x87, 0x07, 0x9D, 0xFF]);
        assert_eq!(chained[0].len(), 5 + 255, "no Le inside a chain");
        assert_eq!(&chained[1][..5], &[0x00, 0x87, 0x07, 0x9D, 45]);
        assert_eq!(chained[1].last(), Some(&0x00));
    }

    #[test]
    fn a_response_needs_a_status_word() {
        assert!(Response::parse(&[0x90]).is_err());
        let response = Response::parse(&[0x01, 0x63, 0xC2]).unwrap();
        assert_eq!(response.data, [0x01]);
        assert_eq!(response.status, 0x63C2);
        assert_eq!(response.into_data(), Err(Error::Status(0x63C2)));
    }
}
