//! Readiness probes of the mail servers: can this instance reach them now? A TCP connect and
//! the server's greeting within the server's reply deadline, and nothing more: no login, so a
//! probe needs no credentials and costs the mail server next to nothing.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::config::{MailServer, Security};

/// The longest greeting line read; a real one is well under this.
const MAX_GREETING: u64 = 1024;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("unreachable: {0}")]
    Unreachable(std::io::Error),
    #[error("no greeting within {0} s")]
    Timeout(u64),
    #[error("TLS failed: {0}")]
    Tls(String),
    #[error("unexpected greeting: {0:?}")]
    Greeting(String),
}

impl ProbeError {
    /// One word for the readiness answer, which anyone who can reach the server may read: the
    /// details (host names, server banners) go to the log only.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Unreachable(_) => "unreachable",
            Self::Timeout(_) => "timeout",
            Self::Tls(_) => "tls",
            Self::Greeting(_) => "bad-greeting",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Imap,
    Smtp,
}

impl Protocol {
    /// Whether `line` is a greeting that lets the conversation go on.
    fn welcomes(self, line: &str) -> bool {
        let upper = line.to_ascii_uppercase();
        match self {
            Self::Imap => upper.starts_with("* OK") || upper.starts_with("* PREAUTH"),
            Self::Smtp => upper.starts_with("220"),
        }
    }

    /// Said before hanging up, so the server logs a polite goodbye rather than a lost client.
    fn goodbye(self) -> &'static [u8] {
        match self {
            Self::Imap => b"p1 LOGOUT\r\n",
            Self::Smtp => b"QUIT\r\n",
        }
    }
}

/// Connects to `server` and reads its greeting, all within its `timeout_seconds`.
pub async fn greeting(server: &MailServer, protocol: Protocol) -> Result<(), ProbeError> {
    let limit = server.reply_timeout();
    tokio::time::timeout(limit, connect_and_greet(server, protocol))
        .await
        .map_err(|_| ProbeError::Timeout(limit.as_secs()))?
}

async fn connect_and_greet(server: &MailServer, protocol: Protocol) -> Result<(), ProbeError> {
    let tcp = TcpStream::connect((server.host.as_str(), server.port))
        .await
        .map_err(ProbeError::Unreachable)?;
    match server.security {
        // With STARTTLS the greeting comes in the clear, before any upgrade.
        Security::Plain | Security::Starttls => read_greeting(tcp, protocol).await,
        Security::Tls => {
            let config = crate::tls::client_config(server.ca_file.as_deref())
                .map_err(|e| ProbeError::Tls(e.to_string()))?;
            let name = ServerName::try_from(server.host.clone())
                .map_err(|e| ProbeError::Tls(format!("{}: {e}", server.host)))?;
            let tls = TlsConnector::from(Arc::clone(&config))
                .connect(name, tcp)
                .await
                .map_err(|e| ProbeError::Tls(e.to_string()))?;
            read_greeting(tls, protocol).await
        }
    }
}

async fn read_greeting<S>(stream: S, protocol: Protocol) -> Result<(), ProbeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    (&mut reader)
        .take(MAX_GREETING)
        .read_line(&mut line)
        .await
        .map_err(ProbeError::Unreachable)?;
    if !protocol.welcomes(&line) {
        return Err(ProbeError::Greeting(
            line.trim_end().chars().take(80).collect(),
        ));
    }
    let mut stream = reader.into_inner();
    // Best effort: the answer to the goodbye does not matter.
    let _ = stream.write_all(protocol.goodbye()).await;
    let _ = stream.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_are_recognised_by_protocol() {
        assert!(Protocol::Imap.welcomes("* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n"));
        assert!(Protocol::Imap.welcomes("* PREAUTH ready\r\n"));
        assert!(!Protocol::Imap.welcomes("* BYE too many connections\r\n"));
        assert!(!Protocol::Imap.welcomes(""));
        assert!(Protocol::Smtp.welcomes("220 mail.example.test ESMTP Postfix\r\n"));
        assert!(Protocol::Smtp.welcomes("220-mail.example.test\r\n"));
        assert!(!Protocol::Smtp.welcomes("554 no service\r\n"));
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable_and_a_silent_server_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = |port: u16| MailServer {
            host: "127.0.0.1".into(),
            port,
            security: Security::Plain,
            ca_file: None,
            timeout_seconds: 1,
            send_lease_seconds: None,
            max_connections: None,
            max_connections_per_user: None,
        };
        // Accepted but never greeted.
        let silent = greeting(&server(port), Protocol::Smtp).await.unwrap_err();
        assert_eq!(silent.word(), "timeout", "{silent}");
        drop(listener);
        let closed = greeting(&server(port), Protocol::Smtp).await.unwrap_err();
        assert_eq!(closed.word(), "unreachable", "{closed}");
    }
}
