//! A ManageSieve client (RFC 5804): just what Sealmail uses (AUTHENTICATE PLAIN, LISTSCRIPTS,
//! GETSCRIPT, HAVESPACE, PUTSCRIPT, SETACTIVE, LOGOUT), over plain TCP to a server on this
//! machine. Every step (connect and greeting, each command and its answer) has a deadline, and a
//! `NO` comes back in the server's own words.
//!
//! Hand-written: the crates.io clients are blocking or unmaintained, and the protocol Sealmail
//! needs is a few commands over IMAP-like lines and literals.

use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A line or literal longer than this is not an answer Sealmail needs: a misbehaving peer must
/// not make us buffer without end.
const MAX_LINE: usize = 64 * 1024;
const MAX_LITERAL: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SieveError {
    #[error("the filter server cannot be reached: {0}")]
    Unreachable(std::io::Error),
    #[error("the filter server did not answer in time")]
    Timeout,
    #[error("the filter server did not accept your mail password")]
    BadCredentials,
    /// The server's `NO`, in its words (a script it will not take says why, line by line).
    #[error("{0}")]
    Refused(String),
    #[error("the filter server closed the connection")]
    Closed,
    #[error("the filter server's answer was not understood: {0}")]
    Protocol(String),
}

impl SieveError {
    /// The server said no to this request; the others mean it could not be asked.
    pub fn is_refusal(&self) -> bool {
        matches!(self, SieveError::Refused(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Atom(String),
    /// A quoted string or a literal.
    Text(String),
    /// A response code in parentheses, e.g. `(NONEXISTENT)` or `(QUOTA/MAXSIZE)`.
    Code(String),
}

#[derive(Debug)]
struct Response {
    /// Lines before the status line, e.g. LISTSCRIPTS' `"name" ACTIVE`, or GETSCRIPT's literal.
    data: Vec<Vec<Token>>,
    ok: bool,
    bye: bool,
    text: Option<String>,
}

pub struct Client {
    stream: BufReader<TcpStream>,
    timeout: Duration,
}

impl Client {
    /// Connects and reads the server's greeting (its capabilities), each within `timeout`.
    pub async fn connect(host: &str, port: u16, timeout: Duration) -> Result<Self, SieveError> {
        let tcp = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
            .await
            .map_err(|_| SieveError::Timeout)?
            .map_err(SieveError::Unreachable)?;
        let mut client = Self {
            stream: BufReader::new(tcp),
            timeout,
        };
        let greeting = client.answer().await?;
        if !greeting.ok {
            return Err(SieveError::Refused(greeting.text.unwrap_or_else(|| {
                "the filter server refused the connection".into()
            })));
        }
        Ok(client)
    }

    /// SASL PLAIN with the user's mail credentials.
    pub async fn authenticate(&mut self, user: &str, password: &str) -> Result<(), SieveError> {
        let secret = base64::engine::general_purpose::STANDARD
            .encode(format!("\0{user}\0{password}").as_bytes());
        let mut command = b"AUTHENTICATE \"PLAIN\" ".to_vec();
        command.extend_from_slice(&string(&secret));
        match self.run(command).await {
            Err(SieveError::Refused(_)) => Err(SieveError::BadCredentials),
            other => other.map(drop),
        }
    }

    /// Every script's name, and whether it is the active one.
    pub async fn list_scripts(&mut self) -> Result<Vec<(String, bool)>, SieveError> {
        let response = self.run(b"LISTSCRIPTS".to_vec()).await?;
        response
            .data
            .iter()
            .map(|line| match line.as_slice() {
                [Token::Text(name)] => Ok((name.clone(), false)),
                [Token::Text(name), Token::Atom(active)]
                    if active.eq_ignore_ascii_case("ACTIVE") =>
                {
                    Ok((name.clone(), true))
                }
                other => Err(SieveError::Protocol(format!(
                    "unexpected LISTSCRIPTS line {other:?}"
                ))),
            })
            .collect()
    }

    pub async fn get_script(&mut self, name: &str) -> Result<String, SieveError> {
        let mut command = b"GETSCRIPT ".to_vec();
        command.extend_from_slice(&string(name));
        let response = self.run(command).await?;
        match response.data.as_slice() {
            [line] => match line.as_slice() {
                [Token::Text(script)] => Ok(script.clone()),
                other => Err(SieveError::Protocol(format!(
                    "unexpected GETSCRIPT answer {other:?}"
                ))),
            },
            _ => Err(SieveError::Protocol("GETSCRIPT sent no script".into())),
        }
    }

    /// Asks whether a script of `size` bytes would fit (quota) before sending it.
    pub async fn have_space(&mut self, name: &str, size: usize) -> Result<(), SieveError> {
        let mut command = b"HAVESPACE ".to_vec();
        command.extend_from_slice(&string(name));
        command.extend_from_slice(format!(" {size}").as_bytes());
        self.run(command).await.map(drop)
    }

    /// Stores `script` under `name`. The server checks it first: a script it refuses is not
    /// stored, and the one stored before under that name stays.
    pub async fn put_script(&mut self, name: &str, script: &str) -> Result<(), SieveError> {
        let mut command = b"PUTSCRIPT ".to_vec();
        command.extend_from_slice(&string(name));
        command.push(b' ');
        command.extend_from_slice(&literal(script));
        self.run(command).await.map(drop)
    }

    /// Makes `name` the script run at delivery; "" turns every script off.
    pub async fn set_active(&mut self, name: &str) -> Result<(), SieveError> {
        let mut command = b"SETACTIVE ".to_vec();
        command.extend_from_slice(&string(name));
        self.run(command).await.map(drop)
    }

    /// Says goodbye; a server that does not answer is left, the connection dropped.
    pub async fn logout(mut self) {
        let _ = self.run(b"LOGOUT".to_vec()).await;
    }

    /// Sends one command and reads its whole answer, both within the deadline.
    async fn run(&mut self, mut command: Vec<u8>) -> Result<Response, SieveError> {
        command.extend_from_slice(b"\r\n");
        tokio::time::timeout(self.timeout, async {
            let stream = self.stream.get_mut();
            stream.write_all(&command).await?;
            stream.flush().await
        })
        .await
        .map_err(|_| SieveError::Timeout)?
        .map_err(SieveError::Unreachable)?;
        let response = self.answer().await?;
        if response.ok {
            Ok(response)
        } else if response.bye {
            Err(SieveError::Refused(response.text.unwrap_or_else(|| {
                "the filter server ended the connection".into()
            })))
        } else {
            Err(SieveError::Refused(response.text.unwrap_or_else(|| {
                "the filter server refused without saying why".into()
            })))
        }
    }

    /// Reads lines until the status line (OK, NO or BYE), within the deadline.
    async fn answer(&mut self) -> Result<Response, SieveError> {
        tokio::time::timeout(self.timeout, async {
            let mut data = Vec::new();
            loop {
                let tokens = self.logical_line().await?;
                let status = match tokens.first() {
                    Some(Token::Atom(atom)) => atom.to_ascii_uppercase(),
                    _ => String::new(),
                };
                if matches!(status.as_str(), "OK" | "NO" | "BYE") {
                    let text = tokens.iter().skip(1).find_map(|t| match t {
                        Token::Text(text) => Some(text.trim_end().to_string()),
                        _ => None,
                    });
                    return Ok(Response {
                        data,
                        ok: status == "OK",
                        bye: status == "BYE",
                        text,
                    });
                }
                data.push(tokens);
            }
        })
        .await
        .map_err(|_| SieveError::Timeout)?
    }

    /// One line of tokens; a literal (`{n}` at a line's end) is read and the line continues after it.
    async fn logical_line(&mut self) -> Result<Vec<Token>, SieveError> {
        let mut tokens = Vec::new();
        loop {
            let line = self.raw_line().await?;
            let (mut more, literal) = tokenize(&line)?;
            tokens.append(&mut more);
            let Some(size) = literal else {
                return Ok(tokens);
            };
            if size > MAX_LITERAL {
                return Err(SieveError::Protocol(format!(
                    "a literal of {size} bytes is too large"
                )));
            }
            let mut bytes = vec![0; size];
            self.stream
                .read_exact(&mut bytes)
                .await
                .map_err(|_| SieveError::Closed)?;
            tokens.push(Token::Text(String::from_utf8_lossy(&bytes).into_owned()));
        }
    }

    async fn raw_line(&mut self) -> Result<Vec<u8>, SieveError> {
        let mut line = Vec::new();
        let read = (&mut self.stream)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .await
            .map_err(SieveError::Unreachable)?;
        if read == 0 {
            return Err(SieveError::Closed);
        }
        if !line.ends_with(b"\n") {
            return Err(SieveError::Protocol("a line without an end".into()));
        }
        while line.last().is_some_and(|b| matches!(b, b'\r' | b'\n')) {
            line.pop();
        }
        Ok(line)
    }
}

/// A string argument: quoted when that is safe, else a non-synchronising literal.
fn string(value: &str) -> Vec<u8> {
    let plain = value.len() <= 1024
        && value
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
    if plain {
        format!("\"{value}\"").into_bytes()
    } else {
        literal(value)
    }
}

fn literal(value: &str) -> Vec<u8> {
    let mut out = format!("{{{}+}}\r\n", value.len()).into_bytes();
    out.extend_from_slice(value.as_bytes());
    out
}

/// Splits one physical line into tokens; says how many bytes of literal follow if it ends in `{n}`.
fn tokenize(line: &[u8]) -> Result<(Vec<Token>, Option<usize>), SieveError> {
    let text = String::from_utf8_lossy(line);
    let mut chars = text.char_indices().peekable();
    let mut tokens = Vec::new();
    while let Some(&(start, c)) = chars.peek() {
        match c {
            ' ' => {
                chars.next();
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                let mut closed = false;
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, escaped)) = chars.next() {
                                value.push(escaped);
                            }
                        }
                        '"' => {
                            closed = true;
                            break;
                        }
                        _ => value.push(c),
                    }
                }
                if !closed {
                    return Err(SieveError::Protocol(format!(
                        "unterminated string in {text:?}"
                    )));
                }
                tokens.push(Token::Text(value));
            }
            '(' => {
                let mut depth = 0;
                let mut in_quotes = false;
                let mut end = text.len();
                for (i, c) in text[start..].char_indices() {
                    match c {
                        '"' => in_quotes = !in_quotes,
                        '(' if !in_quotes => depth += 1,
                        ')' if !in_quotes => {
                            depth -= 1;
                            if depth == 0 {
                                end = start + i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                tokens.push(Token::Code(text[start..end].to_string()));
                while chars.peek().is_some_and(|&(i, _)| i < end) {
                    chars.next();
                }
            }
            '{' => {
                let rest = &text[start..];
                let size = rest
                    .strip_prefix('{')
                    .and_then(|r| r.strip_suffix('}'))
                    .map(|n| n.trim_end_matches('+'))
                    .and_then(|n| n.parse::<usize>().ok())
                    .ok_or_else(|| SieveError::Protocol(format!("bad literal in {text:?}")))?;
                return Ok((tokens, Some(size)));
            }
            _ => {
                let mut atom = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c == ' ' {
                        break;
                    }
                    atom.push(c);
                    chars.next();
                }
                tokens.push(Token::Atom(atom));
            }
        }
    }
    Ok((tokens, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_into_atoms_strings_codes_and_literals() {
        let (tokens, literal) =
            tokenize(br#"NO (NONEXISTENT) "Sieve script `x' \"not\" found""#).unwrap();
        assert_eq!(
            tokens,
            vec![
                Token::Atom("NO".into()),
                Token::Code("(NONEXISTENT)".into()),
                Token::Text("Sieve script `x' \"not\" found".into()),
            ]
        );
        assert_eq!(literal, None);
        let (tokens, literal) = tokenize(b"NO {295}").unwrap();
        assert_eq!(tokens, vec![Token::Atom("NO".into())]);
        assert_eq!(literal, Some(295));
        assert!(tokenize(b"OK \"open").is_err());
    }

    #[test]
    fn arguments_are_quoted_only_when_safe() {
        assert_eq!(string("sealmail"), b"\"sealmail\"".to_vec());
        assert_eq!(string("a\"b"), b"{3+}\r\na\"b".to_vec());
        assert_eq!(string("caf\u{e9}"), "{5+}\r\ncaf\u{e9}".as_bytes().to_vec());
    }
}
