//! SMTP submission with the user's own credentials, so the MTA applies its own sender checks.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{MailServer, Security};

#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("the outgoing mail server could not be reached; try again in a few minutes")]
    Unavailable(String),
    #[error("the outgoing mail server refused the message: {0}")]
    Rejected(String),
    #[error("\"{0}\" is not an address the mail server can deliver to")]
    BadAddress(String),
    #[error("the outgoing mail server is misconfigured: {0}")]
    Setup(String),
}

#[derive(Clone)]
pub struct Submitter {
    server: MailServer,
    ca_pem: Option<Vec<u8>>,
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

    /// Submits `message` unchanged to `recipients` with `from` as the envelope sender.
    pub async fn submit(
        &self,
        login: &str,
        password: &str,
        from: &str,
        recipients: &[String],
        message: &[u8],
    ) -> Result<(), SmtpError> {
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
        let transport = self.transport(login, password)?;
        // lettre always adds the final CRLF before the terminating dot; remove ours so the
        // delivered bytes equal the bytes we built (signatures depend on it).
        let body = message.strip_suffix(b"\r\n").unwrap_or(message);
        match transport.send_raw(&envelope, body).await {
            Ok(_) => Ok(()),
            // A 4xx reply is a definite "not accepted, try later" (seen when the MTA's link to
            // the SASL service went stale after an IMAP server restart), so one retry cannot
            // deliver twice. Anything ambiguous, such as a connection lost after DATA, is not
            // retried: the user is told and the draft is kept instead.
            Err(e) if e.is_transient() => {
                tracing::info!("SMTP answered {e}; retrying once");
                tokio::time::sleep(Duration::from_secs(1)).await;
                transport
                    .send_raw(&envelope, body)
                    .await
                    .map(|_| ())
                    .map_err(classify)
            }
            Err(e) => Err(classify(e)),
        }
    }

    fn transport(
        &self,
        login: &str,
        password: &str,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, SmtpError> {
        let tls = match self.server.security {
            Security::Plain => Tls::None,
            Security::Tls => Tls::Wrapper(self.tls_parameters()?),
            Security::Starttls => Tls::Required(self.tls_parameters()?),
        };
        Ok(
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.server.host.clone())
                .port(self.server.port)
                .tls(tls)
                .timeout(Some(Duration::from_secs(
                    self.server.timeout_seconds.max(1),
                )))
                .credentials(Credentials::new(login.to_string(), password.to_string()))
                .build(),
        )
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

fn classify(e: lettre::transport::smtp::Error) -> SmtpError {
    if e.is_permanent() {
        SmtpError::Rejected(e.to_string())
    } else {
        SmtpError::Unavailable(e.to_string())
    }
}
