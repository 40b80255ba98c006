//! The IMAP store: connecting and signing in, and the few mailbox operations the pages need.
//!
//! Everything here speaks to the user's IMAP server with the user's own credentials; the web
//! server holds no mail of its own.

pub mod folders;
pub mod limits;
pub mod mailbox;
mod pool;
pub mod search;
mod session;
mod sorted;
mod stream;
pub mod threads;

pub use mailbox::{Folder, FolderRole, MessagePage, MessageSummary};
pub use pool::SessionPool;
pub use session::Session;
pub use stream::MailStream;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::config::{MailServer, Security};

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("the mail server cannot be reached ({0})")]
    Unreachable(#[source] std::io::Error),
    #[error("the mail server did not answer in time")]
    Timeout,
    #[error("the email address or password is incorrect")]
    BadCredentials,
    #[error("the mail server refused the request: {0}")]
    Refused(String),
    #[error("the connection to the mail server failed: {0}")]
    Protocol(String),
    #[error("the mail server's TLS certificate was not accepted: {0}")]
    Tls(String),
    #[error("that message or folder no longer exists")]
    NotFound,
    #[error("every connection to the mail server is in use")]
    Busy,
}

impl ImapError {
    /// Errors after which the connection must not be reused.
    pub fn breaks_connection(&self) -> bool {
        !matches!(
            self,
            ImapError::Refused(_) | ImapError::NotFound | ImapError::BadCredentials
        )
    }
}

impl From<async_imap::error::Error> for ImapError {
    fn from(e: async_imap::error::Error) -> Self {
        use async_imap::error::Error;
        match e {
            Error::No(text) => ImapError::Refused(text),
            Error::Bad(text) => ImapError::Refused(text),
            Error::Io(io) => ImapError::Protocol(io.to_string()),
            other => ImapError::Protocol(other.to_string()),
        }
    }
}

/// How to reach one IMAP server.
#[derive(Clone)]
pub struct Connector {
    server: MailServer,
    tls: Arc<ClientConfig>,
}

impl Connector {
    pub fn new(server: MailServer, tls: Arc<ClientConfig>) -> Self {
        Self { server, tls }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.server.timeout_seconds.max(1))
    }

    /// Connects and logs in. A refused LOGIN is reported as bad credentials whatever the server's
    /// wording, so the page never reveals whether an address exists. `client`, the person's
    /// address, is given to the server first (RFC 2971 `ID`, `x-originating-ip`): Dovecot then
    /// applies its per-address limits and sign-in penalties to the person rather than to
    /// Sealmail, when Sealmail's address is in its `login_trusted_networks` (it ignores it
    /// otherwise).
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<Session, ImapError> {
        tokio::time::timeout(self.timeout(), self.login_inner(email, password, client))
            .await
            .map_err(|_| ImapError::Timeout)?
    }

    async fn login_inner(
        &self,
        email: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<Session, ImapError> {
        let mut connection = self.connect().await?;
        if let Some(address) = client {
            let id = format!("ID (\"name\" \"Sealmail\" \"x-originating-ip\" \"{address}\")");
            match connection.run_command_and_check_ok(&id, None).await {
                // A server without ID says NO or BAD: sign in all the same.
                Ok(())
                | Err(async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match connection.login(email, password).await {
            Ok(session) => Ok(Session::new(session)),
            Err((async_imap::error::Error::No(_), _)) => Err(ImapError::BadCredentials),
            Err((e, _)) => Err(e.into()),
        }
    }

    async fn connect(&self) -> Result<async_imap::Client<MailStream>, ImapError> {
        let tcp = TcpStream::connect((self.server.host.as_str(), self.server.port))
            .await
            .map_err(ImapError::Unreachable)?;
        tcp.set_nodelay(true).map_err(ImapError::Unreachable)?;
        match self.server.security {
            Security::Plain => greeted(MailStream::Plain(tcp)).await,
            Security::Tls => greeted(self.wrap(tcp).await?).await,
            Security::Starttls => {
                let mut client = greeted(MailStream::Plain(tcp)).await?.into_inner();
                // The client is unusable across the upgrade, so speak the one command ourselves.
                starttls(&mut client).await?;
                let MailStream::Plain(tcp) = client else {
                    return Err(ImapError::Protocol(
                        "STARTTLS on an encrypted stream".into(),
                    ));
                };
                // RFC 3501 §6.2.1: no new greeting after STARTTLS.
                Ok(async_imap::Client::new(self.wrap(tcp).await?))
            }
        }
    }

    async fn wrap(&self, tcp: TcpStream) -> Result<MailStream, ImapError> {
        let name = ServerName::try_from(self.server.host.clone())
            .map_err(|e| ImapError::Tls(format!("{}: {e}", self.server.host)))?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| ImapError::Tls(e.to_string()))?;
        Ok(MailStream::Tls(Box::new(tls)))
    }
}

async fn greeted(stream: MailStream) -> Result<async_imap::Client<MailStream>, ImapError> {
    let mut client = async_imap::Client::new(stream);
    match client.read_response().await {
        Ok(Some(_)) => Ok(client),
        Ok(None) => Err(ImapError::Protocol(
            "the server closed the connection before greeting".into(),
        )),
        Err(e) => Err(ImapError::Protocol(e.to_string())),
    }
}

async fn starttls(stream: &mut MailStream) -> Result<(), ImapError> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    stream
        .write_all(b"S1 STARTTLS\r\n")
        .await
        .map_err(ImapError::Unreachable)?;
    stream.flush().await.map_err(ImapError::Unreachable)?;
    // Read byte-wise up to the tagged reply: a buffered reader must not swallow the TLS handshake.
    let mut reader = BufReader::with_capacity(1, stream);
    loop {
        let mut line = String::new();
        if reader
            .read_line(&mut line)
            .await
            .map_err(ImapError::Unreachable)?
            == 0
        {
            return Err(ImapError::Protocol(
                "connection closed during STARTTLS".into(),
            ));
        }
        if let Some(status) = line.strip_prefix("S1 ") {
            return if status.to_ascii_uppercase().starts_with("OK") {
                Ok(())
            } else {
                Err(ImapError::Refused(format!(
                    "STARTTLS: {}",
                    status.trim_end()
                )))
            };
        }
    }
}
