//! SMTP submission with the user's own credentials, so the MTA applies its own sender checks.
//!
//! A submission is two steps so the caller can record, between them, that the message is about
//! to go out: [`Submitter::open`] connects, signs in and names sender and recipients (a failure
//! there means nothing was sent), and [`OpenSubmission::transmit`] sends the message and waits for
//! the server's verdict. A connection lost after the message went out is *uncertain*: the server
//! may have queued it, so it must never be retried as if it had failed.
//!
//! Every reply has a deadline (`timeout_seconds`): a stalled server costs a clear error, never a
//! hung page. A message larger than the server's advertised `SIZE` (RFC 1870) is refused before
//! it is sent, with both sizes, instead of after the whole message went over the wire.

use std::future::Future;
use std::time::Duration;

use lettre::Address;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};

use crate::config::{MailServer, Security};

#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("the outgoing mail server could not be reached; try again in a few minutes")]
    Unavailable(String),
    #[error("the outgoing mail server did not answer in time; try again in a few minutes")]
    Stalled,
    #[error("the outgoing mail server refused the message: {0}")]
    Rejected(String),
    #[error("\"{0}\" is not an address the mail server can deliver to")]
    BadAddress(String),
    #[error("the outgoing mail server is misconfigured: {0}")]
    Setup(String),
    #[error(
        "the message is {} with its attachments, and the outgoing mail server accepts at most {}; remove or shrink attachments and send it again",
        crate::mail::format_size(*size),
        crate::mail::format_size(*limit)
    )]
    TooLarge { size: usize, limit: usize },
    /// The message went out and the server never said whether it took it.
    #[error("the outgoing mail server took the message but never confirmed it ({0})")]
    Uncertain(String),
}

impl SmtpError {
    /// Whether the message may have been delivered despite the error.
    pub fn may_have_been_sent(&self) -> bool {
        matches!(self, SmtpError::Uncertain(_))
    }
}

#[derive(Clone)]
pub struct Submitter {
    server: MailServer,
    ca_pem: Option<Vec<u8>>,
}

/// A connection that has named the sender and recipients and is ready for the message.
pub struct OpenSubmission {
    conn: AsyncSmtpConnection,
    reply_timeout: Duration,
}

impl Submitter {
    pub fn new(server: MailServer) -> Result<Self, SmtpError> {
        let ca_pem = match &server.ca_file {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| SmtpError::Setup(format!("{}: {e}", path.display())))?,
            ),
            None => None,
        };
        Ok(Self { server, ca_pem })
    }

    /// Connects, signs in as `login`, and sends the envelope (`from`, `recipients`). Nothing has
    /// been sent when this fails. `message` is only looked at to announce 8-bit content.
    pub async fn open(
        &self,
        login: &str,
        password: &str,
        from: &str,
        recipients: &[String],
        message: &[u8],
    ) -> Result<OpenSubmission, SmtpError> {
        let parse = |a: &str| {
            a.parse::<Address>()
                .map_err(|_| SmtpError::BadAddress(a.to_string()))
        };
        let to = recipients
            .iter()
            .map(|r| parse(r))
            .collect::<Result<Vec<_>, _>>()?;
        let envelope = Envelope::new(Some(parse(from)?), to)
            .map_err(|e| SmtpError::Rejected(e.to_string()))?;
        let credentials = Credentials::new(login.to_string(), password.to_string());
        match self.open_once(&credentials, &envelope, message).await {
            // A 4xx reply is a definite "not accepted, try later" (seen when the MTA's link to
            // the SASL service went stale after an IMAP server restart), and nothing has been
            // sent yet, so one retry cannot deliver twice.
            Err(Failure::Transient(e)) => {
                tracing::info!("SMTP answered {e}; retrying once");
                tokio::time::sleep(Duration::from_secs(1)).await;
                self.open_once(&credentials, &envelope, message)
                    .await
                    .map_err(Failure::into_error)
            }
            other => other.map_err(Failure::into_error),
        }
    }

    async fn open_once(
        &self,
        credentials: &Credentials,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<OpenSubmission, Failure> {
        let reply_timeout = self.server.reply_timeout();
        let hello = ClientId::default();
        let wrapper = match self.server.security {
            Security::Tls => Some(self.tls_parameters().map_err(Failure::Final)?),
            _ => None,
        };
        let mut conn = deadline(
            reply_timeout,
            AsyncSmtpConnection::connect_tokio1(
                (self.server.host.as_str(), self.server.port),
                Some(reply_timeout),
                &hello,
                wrapper,
                None,
            ),
        )
        .await?;
        if self.server.security == Security::Starttls {
            let params = self.tls_parameters().map_err(Failure::Final)?;
            deadline(reply_timeout, conn.starttls(params, &hello)).await?;
        }
        // lettre keeps only the extensions it knows from the greeting, and SIZE is not one of
        // them: ask again (before AUTH, which a second EHLO would not keep everywhere).
        let hello_again = deadline(reply_timeout, conn.command(Ehlo::new(hello.clone()))).await?;
        let size_limit = advertised_size(hello_again.message());
        if let Some(SizeLimit::Fixed(limit)) = size_limit
            && message.len() > limit
        {
            return Err(Failure::Final(SmtpError::TooLarge {
                size: message.len(),
                limit,
            }));
        }
        deadline(reply_timeout, conn.auth(DEFAULT_MECHANISMS, credentials)).await?;
        let mut options = Vec::new();
        if size_limit.is_some() {
            // So a server with a limit of its own (per sender, per quota) refuses before DATA.
            options.push(MailParameter::Size(message.len()));
        }
        if !message.is_ascii() && conn.server_info().supports_feature(Extension::EightBitMime) {
            options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        deadline(
            reply_timeout,
            conn.command(Mail::new(envelope.from().cloned(), options)),
        )
        .await?;
        for to in envelope.to() {
            deadline(
                reply_timeout,
                conn.command(Rcpt::new(to.clone(), Vec::new())),
            )
            .await?;
        }
        deadline(reply_timeout, conn.command(Data)).await?;
        Ok(OpenSubmission {
            conn,
            reply_timeout,
        })
    }

    fn tls_parameters(&self) -> Result<TlsParameters, SmtpError> {
        let mut builder = TlsParameters::builder(self.server.host.clone());
        if let Some(pem) = &self.ca_pem {
            let cert = Certificate::from_pem(pem).map_err(|e| SmtpError::Setup(e.to_string()))?;
            builder = builder.add_root_certificate(cert);
        }
        builder
            .build_rustls()
            .map_err(|e| SmtpError::Setup(e.to_string()))
    }
}

impl OpenSubmission {
    /// Sends `message` unchanged and waits for the server's verdict. A lost connection or a
    /// missing answer from here on is [`SmtpError::Uncertain`].
    pub async fn transmit(mut self, message: &[u8]) -> Result<(), SmtpError> {
        // lettre always adds the final CRLF before the terminating dot; remove ours so the
        // delivered bytes equal the bytes we built (signatures depend on it).
        let body = message.strip_suffix(b"\r\n").unwrap_or(message);
        // Writing a large message takes its own time; the deadline is for the answer after it.
        let allowed = self.reply_timeout + Duration::from_secs((body.len() / (256 * 1024)) as u64);
        let result = match tokio::time::timeout(allowed, self.conn.message(body)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is_transient() || e.is_permanent() => {
                Err(SmtpError::Rejected(e.to_string()))
            }
            Ok(Err(e)) => Err(SmtpError::Uncertain(e.to_string())),
            Err(_) => Err(SmtpError::Uncertain("no answer in time".into())),
        };
        if result.is_ok() {
            let _ = tokio::time::timeout(self.reply_timeout, self.conn.quit()).await;
        }
        result
    }

    /// Gives up before the message was sent: the server discards the transaction.
    pub async fn abort(mut self) {
        let _ = tokio::time::timeout(self.reply_timeout, self.conn.abort()).await;
    }
}

/// What an EHLO answer says of the largest message the server takes (RFC 1870).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum SizeLimit {
    /// `SIZE` with no number (or 0): the extension, with no fixed limit.
    None,
    Fixed(usize),
}

/// The `SIZE` line of an EHLO answer's lines (the first is the greeting), if there is one.
fn advertised_size<'a>(mut lines: impl Iterator<Item = &'a str>) -> Option<SizeLimit> {
    lines.find_map(|line| {
        let mut words = line.split_ascii_whitespace();
        if !words.next()?.eq_ignore_ascii_case("SIZE") {
            return None;
        }
        Some(match words.next().and_then(|n| n.parse::<usize>().ok()) {
            Some(0) | None => SizeLimit::None,
            Some(limit) => SizeLimit::Fixed(limit),
        })
    })
}

/// Why opening a submission failed, and whether one more try may help.
enum Failure {
    Transient(lettre::transport::smtp::Error),
    Final(SmtpError),
}

impl Failure {
    fn into_error(self) -> SmtpError {
        match self {
            Failure::Transient(e) => SmtpError::Unavailable(e.to_string()),
            Failure::Final(e) => e,
        }
    }
}

/// One step of a submission before the message, with its deadline.
async fn deadline<T>(
    limit: Duration,
    step: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(limit, step).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) if e.is_transient() => Err(Failure::Transient(e)),
        Ok(Err(e)) if e.is_permanent() => Err(Failure::Final(SmtpError::Rejected(e.to_string()))),
        Ok(Err(e)) => Err(Failure::Final(SmtpError::Unavailable(e.to_string()))),
        Err(_) => Err(Failure::Final(SmtpError::Stalled)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_line_of_an_ehlo_answer_is_read() {
        let postfix = [
            "mail.example.test",
            "PIPELINING",
            "SIZE 52428800",
            "8BITMIME",
        ];
        assert_eq!(
            advertised_size(postfix.into_iter()),
            Some(SizeLimit::Fixed(52_428_800))
        );
        assert_eq!(
            advertised_size(["mx", "size"].into_iter()),
            Some(SizeLimit::None)
        );
        assert_eq!(
            advertised_size(["mx", "SIZE 0"].into_iter()),
            Some(SizeLimit::None)
        );
        assert_eq!(advertised_size(["mx", "SIZEX 10"].into_iter()), None);
        assert_eq!(advertised_size(["mx", "8BITMIME"].into_iter()), None);
    }
}
