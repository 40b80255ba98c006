//! The card's APDU layer: what the Nitrokey 3 firmware's `apdu-dispatch` does between the
//! contact interface and its applications, for the one application this card carries.
//!
//! Our own code following apdu-dispatch's behaviour, not that crate, which is built around the
//! firmware's static interchanges. What a host sees:
//! - SELECT (INS A4, P1 bit 04) by AID picks the application; an unknown AID answers 6A82 and
//!   keeps the current selection. Other commands before any SELECT answer 6A82.
//! - Command chaining (CLA bit 10): every block but the last is acknowledged with 9000 and
//!   buffered, the last one runs the whole command.
//! - Responses longer than the command's Ne come in parts: 61XX (XX = bytes left, 00 for 256 or
//!   more) and GET RESPONSE (INS C0) for the next part. A command without an Le field has Ne = 0,
//!   so any response data to it comes through GET RESPONSE.
//! - One APDU in or out holds at most 3072 bytes (the firmware's interchange size), a chained
//!   command or a buffered response at most 7609.

use apdu_app::App;
use iso7816::command::CommandView;
use iso7816::{Aid, Instruction, Interface, Status};

/// The firmware's interchange: one command APDU, or one response with its status word.
const MAX_APDU: usize = 3072;
/// The firmware's command and response buffers.
const MAX_BUFFER: usize = 7609;

type Buffer = heapless::Vec<u8, MAX_BUFFER>;
type ChainedCommand = iso7816::Command<MAX_BUFFER>;

enum Pending {
    None,
    /// The blocks of a chained command so far.
    Command(Box<ChainedCommand>),
    /// What is left of a response, for GET RESPONSE.
    Response(Vec<u8>),
}

pub(crate) struct ApduDispatch {
    selected: bool,
    pending: Pending,
    /// Ne of the command being answered.
    expected: usize,
}

impl ApduDispatch {
    pub(crate) fn new() -> Self {
        Self {
            selected: false,
            pending: Pending::None,
            expected: 0,
        }
    }

    /// One command APDU in, response data and status word out.
    pub(crate) fn handle<A: App>(&mut self, app: &mut A, apdu: &[u8]) -> Vec<u8> {
        if apdu.len() > MAX_APDU {
            self.pending = Pending::None;
            return status(Status::WrongLength);
        }
        let command = match CommandView::try_from(apdu) {
            Ok(command) => command,
            Err(_) => {
                self.pending = Pending::None;
                return status(Status::UnspecifiedCheckingError);
            }
        };
        self.expected = command.expected();

        if command.class().chain().not_the_last() {
            return self.buffer_chain_block(command);
        }

        if let Pending::Command(whole) = &mut self.pending {
            // The last block of a chain: its header stands for the whole command.
            let complete = whole.extend_from_command_view(command).is_ok();
            let whole = std::mem::replace(&mut self.pending, Pending::None);
            return match whole {
                Pending::Command(whole) if complete => self.call(app, whole.as_view()),
                _ => status(Status::WrongLength),
            };
        }

        match command.instruction() {
            Instruction::GetResponse => self.next_response_part(),
            Instruction::Select if command.p1 & 0x04 != 0 => {
                self.pending = Pending::None;
                self.select(app, command)
            }
            _ => {
                self.pending = Pending::None;
                self.call(app, command)
            }
        }
    }

    fn buffer_chain_block(&mut self, command: CommandView<'_>) -> Vec<u8> {
        let mut whole = match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::Command(whole) => whole,
            Pending::None | Pending::Response(_) => match ChainedCommand::try_from(&[0, 0, 0, 0]) {
                Ok(empty) => Box::new(empty),
                Err(_) => return status(Status::UnspecifiedCheckingError),
            },
        };
        if whole.extend_from_command_view(command).is_err() {
            return status(Status::WrongLength);
        }
        self.pending = Pending::Command(whole);
        status(Status::Success)
    }

    fn select<A: App>(&mut self, app: &mut A, command: CommandView<'_>) -> Vec<u8> {
        let Ok(aid) = Aid::try_new(command.data()) else {
            return status(Status::IncorrectDataParameter);
        };
        if !app.aid().matches(&aid) {
            return status(Status::NotFound);
        }
        let mut reply = Buffer::new();
        let result = app.select(Interface::Contact, command, &mut reply);
        self.selected = true;
        self.answer(result, &reply)
    }

    fn call<A: App>(&mut self, app: &mut A, command: CommandView<'_>) -> Vec<u8> {
        if !self.selected {
            return status(Status::NotFound);
        }
        let mut reply = Buffer::new();
        let result = app.call(Interface::Contact, command, &mut reply);
        self.answer(result, &reply)
    }

    fn answer(&mut self, result: iso7816::Result<()>, reply: &[u8]) -> Vec<u8> {
        match result {
            Ok(()) => {
                self.pending = Pending::Response(reply.to_vec());
                self.next_response_part()
            }
            Err(error) => status(error),
        }
    }

    fn next_response_part(&mut self) -> Vec<u8> {
        let Pending::Response(data) = std::mem::replace(&mut self.pending, Pending::None) else {
            return status(Status::UnspecifiedCheckingError);
        };
        let limit = self.expected.min(MAX_APDU - 2);
        let boundary = limit.min(data.len());
        let (now, later) = data.split_at(boundary);
        let mut out = now.to_vec();
        if later.is_empty() {
            out.extend_from_slice(&[0x90, 0x00]);
        } else {
            out.extend_from_slice(&[0x61, u8::try_from(later.len()).unwrap_or(0)]);
            self.pending = Pending::Response(later.to_vec());
        }
        out
    }
}

fn status(status: Status) -> Vec<u8> {
    let sw: [u8; 2] = status.into();
    sw.to_vec()
}
