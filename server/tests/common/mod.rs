//! Test harness: the real server router, in process, against the rig's real Dovecot and Postfix
//! (started by `scripts/test`, which exports the `RIG_*` variables). A missing rig fails loudly.
#![allow(dead_code)] // each test program uses its own subset

pub mod proxy;

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use futures::TryStreamExt;
use sealmail_server::config::Config;
use tower::ServiceExt;

pub fn rig(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: these tests need the mail rig; run them through scripts/test (or source .state/test/rig.env after `scripts/rig start`)")
    })
}

pub fn password(user: &str) -> String {
    rig(&format!("RIG_PASSWORD_{user}"))
}

pub fn email(user: &str) -> String {
    format!("{user}@{}", rig("RIG_DOMAIN"))
}

/// A configuration for the rig; the database is a fresh SQLite file unless
/// `SEALMAIL_TEST_DATABASE_URL` names another (the PostgreSQL run).
pub fn config(db_dir: &tempfile::TempDir, extra: &str) -> Config {
    Config::from_toml(&config_text(db_dir, extra), []).expect("test config")
}

/// The test configuration as a file's text, with `extra` TOML after the `[web]` keys.
pub fn config_text(db_dir: &tempfile::TempDir, extra: &str) -> String {
    let db_url = std::env::var("SEALMAIL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/test.db?mode=rwc", db_dir.path().display()));
    let text = format!(
        r#"
        [web]
        secure_cookies = false
        {extra}
        [sieve]
        host = "127.0.0.1"
        port = {sieve}
        timeout_seconds = 5
        [imap]
        host = "127.0.0.1"
        port = {imap}
        security = "starttls"
        ca_file = "{ca}"
        timeout_seconds = 5
        [smtp]
        host = "127.0.0.1"
        port = {smtp}
        security = "plain"
        timeout_seconds = 5
        [database]
        url = "{db_url}"
        [login]
        delay_step_ms = 1
        lockout_failures = 4
        "#,
        imap = rig("RIG_IMAP_PORT"),
        ca = rig("RIG_TLS_CA"),
        smtp = rig("RIG_SUBMISSION_PORT"),
        sieve = rig("RIG_MANAGESIEVE_PORT"),
    );
    text
}

/// A browser stand-in: sends requests to the router and keeps cookies.
pub struct Browser {
    pub router: Router,
    pub cookies: Vec<(String, String)>,
    pub _db: tempfile::TempDir,
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub headers: axum::http::HeaderMap,
    pub body: String,
    /// The body as it came, for downloads.
    pub bytes: Vec<u8>,
}

impl Page {
    /// Asserts this is the answer to a message that was sent: back to the Inbox, saying so.
    #[track_caller]
    pub fn assert_sent(&self) {
        assert_eq!(
            self.location.as_deref(),
            Some("/mail?folder=INBOX&notice=sent"),
            "not sent: {}",
            self.body
        );
    }

    /// The value of a hidden form field, e.g. the CSRF token.
    pub fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\"");
        let at = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in:\n{}", self.body));
        let tag_start = self.body[..at].rfind('<').expect("inside a tag");
        let tag_end = self.body[at..].find('>').expect("tag closes") + at;
        let tag = &self.body[tag_start..tag_end];
        let start = tag
            .find("value=\"")
            .unwrap_or_else(|| panic!("field {name} has no value: {tag}"))
            + 7;
        let end = tag[start..].find('"').expect("closing quote") + start;
        unescape(&tag[start..end])
    }
}

impl Page {
    /// The UID in the link of the listed message whose subject contains `subject`.
    pub fn uid_of(&self, subject: &str) -> String {
        let at = self
            .body
            .find(subject)
            .unwrap_or_else(|| panic!("{subject} is not listed"));
        let uid_at = self.body[..at].rfind("uid=").expect("a message link") + 4;
        self.body[uid_at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect()
    }
}

impl Browser {
    pub async fn new(extra_config: &str) -> Self {
        Self::with_config(|text| text, extra_config).await
    }

    /// A server whose configuration text is changed by `edit` first (e.g. another SMTP port).
    pub async fn with_config(edit: impl FnOnce(String) -> String, extra_config: &str) -> Self {
        let db = tempfile::tempdir().expect("temp dir");
        let text = edit(config_text(&db, extra_config));
        let config = Config::from_toml(&text, []).expect("test config");
        let (router, _state) = sealmail_server::build_app(config)
            .await
            .expect("app starts");
        Self {
            router,
            cookies: Vec::new(),
            _db: db,
        }
    }

    /// A server that reaches IMAP in the clear through a proxy on loopback at `proxy_port`
    /// (Dovecot allows plain IMAP there), so the proxy can read or change what is said.
    pub async fn through_imap_proxy(proxy_port: u16, extra_config: &str) -> Self {
        let imap = rig("RIG_IMAP_PORT");
        Self::with_config(
            |text| {
                text.replace(
                    &format!("port = {imap}\n        security = \"starttls\""),
                    &format!("port = {proxy_port}\n        security = \"plain\""),
                )
            },
            extra_config,
        )
        .await
    }

    /// Another tab of this browser: the same server and cookies.
    pub fn tab(&self) -> Browser {
        Browser {
            router: self.router.clone(),
            cookies: self.cookies.clone(),
            _db: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn send(&mut self, request: Request<Body>) -> Page {
        let response: Response<Body> = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router answers");
        for value in response.headers().get_all(header::SET_COOKIE) {
            let text = value.to_str().unwrap_or_default();
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((k, v)) = pair.split_once('=') {
                self.cookies.retain(|(name, _)| name != k);
                if !v.is_empty() && !text.contains("Max-Age=0") {
                    self.cookies.push((k.to_string(), v.to_string()));
                }
            }
        }
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap_or_default().to_string());
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
            .await
            .expect("body");
        Page {
            status,
            location,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes: bytes.to_vec(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = Request::get(path)
            .header(header::COOKIE, self.cookie_header())
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    /// A form POST as our own page sends it (same-origin fetch metadata).
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post_form_from(path, fields, "same-origin").await
    }

    pub async fn post_form_from(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        site: &str,
    ) -> Page {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let request = Request::post(path)
            .header(header::COOKIE, self.cookie_header())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("sec-fetch-site", site)
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    pub async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &[u8])],
    ) -> Page {
        let files: Vec<(&str, &str, &str, &[u8])> = files
            .iter()
            .map(|(name, bytes)| ("attachments", *name, "application/octet-stream", *bytes))
            .collect();
        self.post_files(path, fields, &files).await
    }

    /// Sends a multipart body as the browser does: the session cookie, same-origin, and the CSRF
    /// header when the page's script sends one.
    async fn send_multipart(
        &mut self,
        path: &str,
        boundary: &str,
        body: Vec<u8>,
        csrf_header: Option<&str>,
    ) -> Page {
        let mut request = Request::post(path)
            .header(header::COOKIE, self.cookie_header())
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header(header::CONTENT_LENGTH, body.len())
            .header("sec-fetch-site", "same-origin");
        if let Some(token) = csrf_header {
            request = request.header("x-csrf-token", token);
        }
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    /// A multipart form post with files, each `(field, file name, content type, bytes)`.
    pub async fn post_files(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, &str, &[u8])],
    ) -> Page {
        let boundary = "sealmail-test-boundary-7d1b";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
        }
        for (field, file_name, content_type, bytes) in files {
            body.extend(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\n\
                     Content-Type: {content_type}\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend(*bytes);
            body.extend(b"\r\n");
        }
        body.extend(format!("--{boundary}--\r\n").as_bytes());
        self.send_multipart(path, boundary, body, None).await
    }

    /// A JSON POST as the page's own script sends it: same origin, the CSRF token in its header.
    pub async fn post_json(&mut self, path: &str, token: &str, body: &serde_json::Value) -> Page {
        let request = Request::post(path)
            .header(header::COOKIE, self.cookie_header())
            .header(header::CONTENT_TYPE, "application/json")
            .header("sec-fetch-site", "same-origin")
            .header("x-csrf-token", token)
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(request).await
    }

    /// What the compose page's script posts for a message sealed in the browser: the form's
    /// fields, the S/MIME entity as a file, and the CSRF token in its header.
    pub async fn post_sealed(&mut self, fields: &[(&str, &str)], entity: &[u8]) -> Page {
        self.post_sealed_split(fields, entity, &[]).await
    }

    /// [`Browser::post_sealed`] with messages split off for Bcc recipients: `(fork_to, entity)`.
    pub async fn post_sealed_split(
        &mut self,
        fields: &[(&str, &str)],
        entity: &[u8],
        forks: &[(&str, &[u8])],
    ) -> Page {
        let boundary = "sealmail-sealed-boundary-4a2c";
        let mut body = Vec::new();
        let mut token = "";
        for (name, value) in fields {
            if *name == "csrf" {
                token = value;
                continue;
            }
            body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
        }
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"entity\"; filename=\"entity\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend(entity);
        body.extend(b"\r\n");
        for (to, fork) in forks {
            body.extend(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"fork_to\"\r\n\r\n{to}\r\n\
                     --{boundary}\r\nContent-Disposition: form-data; name=\"fork_entity\"; filename=\"fork\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend(*fork);
            body.extend(b"\r\n");
        }
        body.extend(format!("--{boundary}--\r\n").as_bytes());
        self.send_multipart("/compose/sealed", boundary, body, Some(token))
            .await
    }

    /// What the compose page's script posts to save a draft (`POST /compose/draft`): the form's
    /// fields, files to attach, and for an encrypted draft the entity; the CSRF token in its
    /// header.
    pub async fn post_draft(
        &mut self,
        fields: &[(&str, &str)],
        files: &[(&str, &[u8])],
        entity: Option<&[u8]>,
    ) -> Page {
        let boundary = "sealmail-draft-boundary-93e1";
        let mut body = Vec::new();
        let mut token = "";
        let mut part = |name: &str, file: Option<&str>, bytes: &[u8]| {
            let file = file
                .map(|f| format!("; filename=\"{f}\"\r\nContent-Type: application/octet-stream"))
                .unwrap_or_default();
            body.extend(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend(bytes);
            body.extend(b"\r\n");
        };
        for (name, value) in fields {
            if *name == "csrf" {
                token = value;
                continue;
            }
            part(name, None, value.as_bytes());
        }
        for (file_name, bytes) in files {
            part("attachments", Some(file_name), bytes);
        }
        if let Some(entity) = entity {
            part("entity", Some("entity"), entity);
        }
        body.extend(format!("--{boundary}--\r\n").as_bytes());
        self.send_multipart("/compose/draft", boundary, body, Some(token))
            .await
    }

    pub async fn sign_in(&mut self, user: &str) -> Page {
        self.sign_in_as(&email(user), &password(user)).await
    }

    /// Signs in with any account, e.g. one a test made with `scripts/rig add-user`.
    pub async fn sign_in_as(&mut self, email: &str, password: &str) -> Page {
        let login = self.get("/login").await;
        let token = login.field("login_token");
        let page = self
            .post_form(
                "/login",
                &[
                    ("email", email),
                    ("password", password),
                    ("login_token", &token),
                ],
            )
            .await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "sign-in failed: {}",
            page.body
        );
        self.get("/mail?folder=INBOX").await
    }
}

/// The fields Send posts from a draft reopened in the compose page (`reopened`), with what the
/// user filled in.
pub fn draft_send_fields(
    reopened: &Page,
    to: String,
    subject: String,
    body: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("csrf", reopened.field("csrf")),
        ("send_id", reopened.field("send_id")),
        ("draft_uid", reopened.field("draft_uid")),
        ("source_folder", reopened.field("source_folder")),
        ("source_uid", reopened.field("source_uid")),
        ("to", to),
        ("subject", subject),
        ("body", body.into()),
        ("action", "send".into()),
    ]
}

/// Base64 in lines of 76 characters, as a message body carries it.
pub fn base64_lines(data: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(data);
    text.as_bytes()
        .chunks(76)
        .map(|c| format!("{}\r\n", String::from_utf8_lossy(c)))
        .collect()
}

/// The fields of a filled-in compose form, as its Send button posts them.
pub fn compose_fields<'a>(
    page: &'a Page,
    to: &'a str,
    cc: &'a str,
    subject: &'a str,
) -> Vec<(&'static str, String)> {
    vec![
        ("csrf", page.field("csrf")),
        ("send_id", page.field("send_id")),
        ("to", to.to_string()),
        ("cc", cc.to_string()),
        ("bcc", String::new()),
        ("subject", subject.to_string()),
        ("body", "Numbers attached.\nAlice".to_string()),
        ("action", "send".to_string()),
    ]
}

pub fn as_refs<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Undoes the HTML escaping templates apply to attribute values.
pub fn unescape(s: &str) -> String {
    s.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

pub fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A unique marker for subjects, so parallel tests never count each other's mail.
pub fn unique(label: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{label}-{t:x}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Messages in `user`'s `folder` whose subject contains `needle`, read directly over IMAP.
pub async fn count_messages(user: &str, folder: &str, needle: &str) -> usize {
    let mut session = imap_login(user).await;
    session.select(folder).await.expect("select");
    let found = session
        .search(format!("SUBJECT \"{needle}\""))
        .await
        .expect("search");
    let _ = session.logout().await;
    found.len()
}

/// Messages Postfix holds and has not delivered yet (its queue files).
fn mail_queued() -> usize {
    fn files(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .flatten()
                .map(|entry| match entry.file_type() {
                    Ok(kind) if kind.is_dir() => files(&entry.path()),
                    _ => 1,
                })
                .sum()
        })
    }
    let queue = std::path::PathBuf::from(rig("RIG_MAIL_QUEUE"));
    ["maildrop", "incoming", "active", "deferred", "hold"]
        .iter()
        .map(|part| files(&queue.join(part)))
        .sum()
}

/// Waits until exactly `expected` matching messages are there, and checks that no extra copy
/// follows: once Postfix's queue is empty, everything sent so far has been delivered (Dovecot
/// stores a message before Postfix removes it from the queue), so the count is final.
pub async fn assert_count_settles(user: &str, folder: &str, needle: &str, expected: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let queued = mail_queued();
        let seen = count_messages(user, folder, needle).await;
        if (queued == 0 && seen >= expected) || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let settled = count_messages(user, folder, needle).await;
    assert_eq!(
        settled, expected,
        "{user}/{folder} holds {settled} messages matching {needle}, expected {expected}"
    );
}

pub async fn imap_login(user: &str) -> async_imap::Session<tokio::net::TcpStream> {
    let tcp =
        tokio::net::TcpStream::connect(("127.0.0.1", rig("RIG_IMAP_PORT").parse::<u16>().unwrap()))
            .await
            .expect("IMAP port reachable");
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.expect("greeting");
    client
        .login(email(user), password(user))
        .await
        .map_err(|(e, _)| e)
        .expect("IMAP login")
}

/// The raw bytes of every message in `folder` matching `needle`.
pub async fn fetch_matching(user: &str, folder: &str, needle: &str) -> Vec<Vec<u8>> {
    let mut session = imap_login(user).await;
    session.select(folder).await.expect("select");
    let found = session
        .search(format!("SUBJECT \"{needle}\""))
        .await
        .expect("search");
    let mut out = Vec::new();
    for seq in found {
        let fetches: Vec<_> = session
            .fetch(seq.to_string(), "BODY.PEEK[]")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        out.extend(fetches.iter().filter_map(|f| f.body().map(<[u8]>::to_vec)));
    }
    let _ = session.logout().await;
    out
}

/// Delivers `message` to `to` through the rig's inbound SMTP port, as another mail system would.
pub async fn deliver_from_outside(from: &str, to: &str, message: &[u8]) {
    deliver_through("RIG_SMTP_PORT", "EHLO", from, to, message).await;
}

/// Delivers `message` straight to Dovecot over LMTP, bypassing Postfix (which would tidy up
/// what a hostile message carries, such as a bare CR in a header field; LMTP keeps it).
pub async fn deliver_over_lmtp(from: &str, to: &str, message: &[u8]) {
    deliver_through("RIG_LMTP_PORT", "LHLO", from, to, message).await;
}

async fn deliver_through(port: &str, hello: &str, from: &str, to: &str, message: &[u8]) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", rig(port).parse::<u16>().unwrap()))
        .await
        .expect("the rig's delivery port is reachable");
    let mut stream = BufReader::new(tcp);
    async fn reply(stream: &mut BufReader<tokio::net::TcpStream>, expect: char) {
        loop {
            let mut line = String::new();
            stream.read_line(&mut line).await.expect("SMTP reply");
            assert!(line.starts_with(expect), "SMTP said {line}");
            if line.as_bytes().get(3) != Some(&b'-') {
                return;
            }
        }
    }
    reply(&mut stream, '2').await;
    for (command, expect) in [
        (format!("{hello} outside.test"), '2'),
        (format!("MAIL FROM:<{from}>"), '2'),
        (format!("RCPT TO:<{to}>"), '2'),
        ("DATA".to_string(), '3'),
    ] {
        stream
            .get_mut()
            .write_all(format!("{command}\r\n").as_bytes())
            .await
            .unwrap();
        reply(&mut stream, expect).await;
    }
    let mut data = Vec::new();
    for line in message.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b".") {
            data.push(b'.');
        }
        data.extend(line);
    }
    if !data.ends_with(b"\r\n") {
        data.extend(b"\r\n");
    }
    data.extend(b".\r\n");
    stream.get_mut().write_all(&data).await.unwrap();
    reply(&mut stream, '2').await;
    stream.get_mut().write_all(b"QUIT\r\n").await.unwrap();
}

/// The rig's servers, as the tests of one program share them: a test that stops or stalls one
/// holds them alone; a test that needs them working (in a program that has such tests) shares.
static SERVERS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

pub async fn servers_shared() -> tokio::sync::RwLockReadGuard<'static, ()> {
    SERVERS.read().await
}

pub async fn servers_alone() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    SERVERS.write().await
}

/// Runs `scripts/rig <args>` against the test rig (stop Postfix, restart Dovecot…).
pub fn rig_command(args: &[&str]) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/rig");
    let status = std::process::Command::new(script)
        .args(args)
        .env("STATE_DIR", rig("RIG_STATE_DIR"))
        .status()
        .expect("scripts/rig runs");
    assert!(status.success(), "scripts/rig {args:?} failed");
}
