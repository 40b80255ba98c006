//! Loopback TCP proxies between Sealmail and the rig.
//!
//! [`SmtpProxy`] can cut an SMTP submission at the worst moment: after the client's final `.`
//! reached the server, and before the server's answer reaches the client. The server then has
//! the message (it queues and delivers it) while the client never hears so.
//!
//! [`CountingProxy`] passes everything through, notes the most connections open at once, and
//! keeps what the client said (to check which commands Sealmail sends).
//!
//! [`RewritingProxy`] changes what the server says, line by line: an IMAP server without an
//! extension the rig's Dovecot has.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct SmtpProxy {
    pub port: u16,
    /// While set, every connection is cut after the end of its message.
    pub cut_after_final_dot: Arc<AtomicBool>,
    /// Connections accepted so far: a refused retry must open none.
    pub connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpProxy {
    pub async fn start(target_port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let cut = Arc::new(AtomicBool::new(true));
        let connections = Arc::new(AtomicUsize::new(0));
        let (cut2, count2) = (cut.clone(), connections.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                count2.fetch_add(1, Ordering::SeqCst);
                let cut = cut2.load(Ordering::SeqCst);
                tokio::spawn(relay(client, target_port, cut));
            }
        });
        Self {
            port,
            cut_after_final_dot: cut,
            connections,
            task,
        }
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn relay(client: TcpStream, target_port: u16, cut: bool) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let dot_sent = Arc::new(AtomicBool::new(false));
    let dot_seen = dot_sent.clone();
    let upstream = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut tail: Vec<u8> = Vec::new();
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // Flagged before it is forwarded, so the server's answer can never overtake the flag.
            tail.extend_from_slice(&buf[..n]);
            if tail.windows(5).any(|w| w == b"\r\n.\r\n") {
                dot_seen.store(true, Ordering::SeqCst);
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
            let keep = tail.len().saturating_sub(4);
            tail.drain(..keep);
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match server_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if cut && dot_sent.load(Ordering::SeqCst) {
            // The server's verdict on the message: swallow it and drop both sides.
            break;
        }
        if client_write.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    upstream.abort();
}

pub struct CountingProxy {
    pub port: u16,
    open: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    said: Arc<std::sync::Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CountingProxy {
    pub async fn start(target_port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let open = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let said = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (open2, most2, said2) = (open.clone(), most.clone(), said.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (open, most, said) = (open2.clone(), most2.clone(), said2.clone());
                tokio::spawn(async move {
                    // A connection closed just before this one was opened may not have been
                    // seen closing yet: give its end a moment to arrive before counting.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)).await else {
                        open.fetch_sub(1, Ordering::SeqCst);
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    // Open for as long as Sealmail holds its end, whatever the server does.
                    let up = async {
                        let mut buffer = vec![0u8; 64 * 1024];
                        while let Ok(n @ 1..) = client_read.read(&mut buffer).await {
                            said.lock()
                                .expect("proxy record")
                                .extend_from_slice(&buffer[..n]);
                            if server_write.write_all(&buffer[..n]).await.is_err() {
                                break;
                            }
                        }
                        open.fetch_sub(1, Ordering::SeqCst);
                        let _ = server_write.shutdown().await;
                    };
                    let down = async {
                        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                        let _ = client_write.shutdown().await;
                    };
                    tokio::join!(up, down);
                });
            }
        });
        Self {
            port,
            open,
            most,
            said,
            task,
        }
    }

    /// Everything clients said through this proxy so far, all connections run together.
    pub fn client_said(&self) -> String {
        String::from_utf8_lossy(&self.said.lock().expect("proxy record")).into_owned()
    }

    /// The most connections that were open at the same time.
    pub fn most_at_once(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }

    pub fn open_now(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

pub struct RewritingProxy {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RewritingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RewritingProxy {
    /// Passes the client's bytes as they are, and the server's with `from` replaced by `to` in
    /// each line (a plain-text protocol: IMAP without TLS).
    pub async fn start(target_port: u16, from: &'static str, to: &'static str) -> Self {
        use tokio::io::AsyncBufReadExt;
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (server_read, mut server_write) = server.into_split();
                    let up = async {
                        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                        let _ = server_write.shutdown().await;
                    };
                    let down = async {
                        let mut lines = tokio::io::BufReader::new(server_read);
                        let mut line = Vec::new();
                        while lines.read_until(b'\n', &mut line).await.unwrap_or(0) > 0 {
                            let text = String::from_utf8_lossy(&line).replace(from, to);
                            if client_write.write_all(text.as_bytes()).await.is_err() {
                                break;
                            }
                            line.clear();
                        }
                        let _ = client_write.shutdown().await;
                    };
                    tokio::join!(up, down);
                });
            }
        });
        Self { port, task }
    }
}
