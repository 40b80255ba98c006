//! Server configuration: a TOML file, then `SEALMAIL_<SECTION>_<KEY>` environment overrides.
//!
//! Environment overrides exist so a container or a test can change one value without writing a file.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::policy::SmimePolicy;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration is not valid: {0}")]
    Parse(String),
    #[error("{setting}: {problem}")]
    Invalid {
        setting: &'static str,
        problem: String,
    },
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub web: WebConfig,
    pub imap: MailServer,
    pub smtp: MailServer,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub login: LoginThrottle,
    #[serde(default)]
    pub pki: PkiConfig,
    /// The admin's S/MIME policy (see [`crate::policy`]); reloaded while the server runs.
    #[serde(default)]
    pub smime: SmimePolicy,
    /// The ManageSieve server that keeps users' out-of-office replies and filters. Unset, those
    /// pages say the feature is not available.
    #[serde(default)]
    pub sieve: Option<SieveServer>,
    /// A live LDAP directory (Active Directory, OpenLDAP) recipients and their certificates are
    /// looked up in. Unset, only the directory imported from LDIF files is used.
    #[serde(default)]
    pub directory: Option<DirectoryServer>,
    /// Which From addresses users may send as, besides their own and the directory's aliases.
    #[serde(default)]
    pub identities: IdentitiesConfig,
}

/// `[identities]`: whether users may add From addresses of their own on the Identities page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentitiesConfig {
    /// `"none"` (the default: only the sign-in address and the directory's aliases),
    /// `"domain"` (any address in the sign-in address's domain) or `"any"`.
    pub user_addresses: crate::identities::UserAddresses,
}

/// The organisation's LDAP directory, with the attribute names an Active Directory admin knows:
/// people by `mail` or `proxyAddresses` (`smtp:alias`), certificates in `userCertificate;binary`
/// and `userSMIMECertificate`, groups by `member`.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryServer {
    /// `ldaps://dc.example.com` (TLS from the first byte) or `ldap://host:389`.
    pub ldap_url: String,
    /// With an `ldap://` URL: upgrade with StartTLS before binding.
    #[serde(default)]
    pub starttls: bool,
    /// An extra certificate authority (PEM) to trust, for a directory with a private certificate.
    pub ca_file: Option<PathBuf>,
    /// Unset: an anonymous bind.
    pub bind_dn: Option<String>,
    pub bind_password: Option<String>,
    /// A file holding the password (its first line), so it need not sit in this file.
    pub bind_password_file: Option<PathBuf>,
    /// Where people and groups are searched, e.g. `dc=example,dc=com`.
    pub base_dn: String,
    /// Which entries are people; ANDed with the address match.
    #[serde(default = "default_user_filter")]
    pub user_filter: String,
    /// Which entries are distribution lists (groups with `member`).
    #[serde(default = "default_group_filter")]
    pub group_filter: String,
    /// Each connection, bind and search must answer within this; a directory that does not is
    /// treated as unreachable.
    #[serde(default = "default_directory_timeout")]
    pub timeout_seconds: u64,
    /// How long an answer is reused before the directory is asked again.
    #[serde(default = "default_directory_cache")]
    pub cache_seconds: u64,
}

// By hand: `Config` is printed with `{:?}` wherever someone debugs start-up.
impl std::fmt::Debug for DirectoryServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryServer")
            .field("ldap_url", &self.ldap_url)
            .field("starttls", &self.starttls)
            .field("ca_file", &self.ca_file)
            .field("bind_dn", &self.bind_dn)
            .field("bind_password", &self.bind_password.as_ref().map(|_| "***"))
            .field("bind_password_file", &self.bind_password_file)
            .field("base_dn", &self.base_dn)
            .field("user_filter", &self.user_filter)
            .field("group_filter", &self.group_filter)
            .field("timeout_seconds", &self.timeout_seconds)
            .field("cache_seconds", &self.cache_seconds)
            .finish()
    }
}

fn default_user_filter() -> String {
    // AD's users are objectClass=user, which is also person; OpenLDAP's are inetOrgPerson.
    "(objectClass=person)".into()
}

fn default_group_filter() -> String {
    "(|(objectClass=group)(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))".into()
}

fn default_directory_timeout() -> u64 {
    5
}

fn default_directory_cache() -> u64 {
    60
}

impl DirectoryServer {
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_seconds.max(1))
    }

    /// The bind password: given inline, or the first line of `bind_password_file`.
    pub fn password(&self) -> Result<Option<String>, ConfigError> {
        match (&self.bind_password, &self.bind_password_file) {
            (Some(p), _) => Ok(Some(p.clone())),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                Ok(Some(text.lines().next().unwrap_or_default().to_string()))
            }
            (None, None) => Ok(None),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting, problem: String| ConfigError::Invalid { setting, problem };
        let (scheme, rest) = self.ldap_url.split_once("://").ok_or_else(|| {
            invalid(
                "directory.ldap_url",
                format!(
                    "{:?} is not an LDAP URL; write ldaps://host or ldap://host:389",
                    self.ldap_url
                ),
            )
        })?;
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        };
        match scheme.to_ascii_lowercase().as_str() {
            "ldaps" if self.starttls => {
                return Err(invalid(
                    "directory.starttls",
                    "ldaps:// is TLS already; StartTLS goes with ldap:// URLs".into(),
                ));
            }
            "ldaps" => {}
            "ldap" if self.starttls || is_loopback_host(host) => {}
            "ldap" => {
                return Err(invalid(
                    "directory.ldap_url",
                    format!(
                        "ldap:// without StartTLS sends the bind password and the directory unencrypted, \
                         so it is allowed only for a server on this machine, not for {host}; use \
                         ldaps:// or set starttls = true"
                    ),
                ));
            }
            _ => {
                return Err(invalid(
                    "directory.ldap_url",
                    format!(
                        "{:?} is not an LDAP URL; write ldaps://host or ldap://host:389",
                        self.ldap_url
                    ),
                ));
            }
        }
        if self.bind_password.is_some() && self.bind_password_file.is_some() {
            return Err(invalid(
                "directory.bind_password",
                "give bind_password or bind_password_file, not both".into(),
            ));
        }
        if self.base_dn.trim().is_empty() {
            return Err(invalid("directory.base_dn", "must not be empty".into()));
        }
        for (setting, filter) in [
            ("directory.user_filter", &self.user_filter),
            ("directory.group_filter", &self.group_filter),
        ] {
            if !(filter.starts_with('(') && filter.ends_with(')')) {
                return Err(invalid(
                    setting,
                    format!("{filter:?} is not an LDAP filter; it must be in parentheses"),
                ));
            }
        }
        if !(1..=60).contains(&self.timeout_seconds) {
            return Err(invalid(
                "directory.timeout_seconds",
                "must be 1 to 60 (seconds)".into(),
            ));
        }
        if self.cache_seconds > 3600 {
            return Err(invalid(
                "directory.cache_seconds",
                "must be 0 to 3600 (seconds)".into(),
            ));
        }
        Ok(())
    }
}

/// A ManageSieve server (RFC 5804), normally Dovecot Pigeonhole beside the IMAP server. Users sign
/// in to it with their mail password.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SieveServer {
    pub host: String,
    /// 4190 is the registered port.
    pub port: u16,
    /// Seconds to wait for each answer before telling the user the server is not answering.
    #[serde(default = "default_mail_timeout")]
    pub timeout_seconds: u64,
}

impl SieveServer {
    pub fn reply_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_seconds.max(1))
    }
}

/// Certificate validation, CRL retrieval and recipient lookup; names follow the OWA settings
/// admins know (DisableCRLCheck, CheckCRL, RevocationURLRetrievalTimeout, …).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PkiConfig {
    /// Folder of PEM/DER files: the trust anchors. None trusts nothing (every chain fails).
    pub trust_anchors: Option<PathBuf>,
    /// File of SHA-256 fingerprints (hex, one a line, `#` comments) that are never trusted.
    pub untrusted_list: Option<PathBuf>,
    /// DisableCRLCheck: no revocation checking at all.
    pub disable_crl_check: bool,
    /// How revocation is checked: `crl`, `ocsp` (the responder named in each certificate's
    /// Authority Information Access), or `ocsp-then-crl` (CRLs where OCSP gives no answer).
    pub revocation: RevocationMethod,
    /// CheckCRL: false — an unobtainable CRL warns; true — it blocks sending.
    pub check_crl: bool,
    /// RevocationURLRetrievalTimeout: per CRL URL, 5..=600 s.
    pub revocation_url_retrieval_timeout_seconds: u64,
    /// CertURLRetrievalTimeout: all retrievals of one validation together, 0..=600 s
    /// (0: use only what is cached).
    pub cert_url_retrieval_timeout_seconds: u64,
    /// CertMatchingDoNotUseProxies: alias (proxy) addresses do not match certificates.
    pub cert_matching_do_not_use_proxies: bool,
    /// CRL and AIA URLs may lead to loopback and private addresses (an internal CA). Off by
    /// default: the URLs come from certificates anyone can send.
    pub fetch_from_private_addresses: bool,
    /// Most recipients one message may have after distribution lists are expanded.
    pub recipient_limit: usize,
    /// Per-user exceptions to `recipient_limit`: `{ "ceo@example.com" = 20000 }`.
    pub recipient_limits: std::collections::BTreeMap<String, usize>,
    /// DLExpansionTimeout: per distribution list.
    pub dl_expansion_timeout_seconds: u64,
}

/// `[pki] revocation`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationMethod {
    #[default]
    Crl,
    Ocsp,
    OcspThenCrl,
}

impl PkiConfig {
    /// The recipient limit for `user`: their own if the admin set one, else everyone's.
    pub fn recipient_limit_for(&self, user: &str) -> usize {
        self.recipient_limits
            .iter()
            .find(|(address, _)| address.eq_ignore_ascii_case(user))
            .map_or(self.recipient_limit, |(_, limit)| *limit)
    }
}

impl Default for PkiConfig {
    fn default() -> Self {
        Self {
            trust_anchors: None,
            untrusted_list: None,
            disable_crl_check: false,
            revocation: RevocationMethod::Crl,
            check_crl: false,
            fetch_from_private_addresses: false,
            revocation_url_retrieval_timeout_seconds: 60,
            cert_url_retrieval_timeout_seconds: 60,
            cert_matching_do_not_use_proxies: false,
            recipient_limit: 5000,
            recipient_limits: Default::default(),
            dl_expansion_timeout_seconds: 60,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    pub listen: SocketAddr,
    /// Off only for a plain-http demo on loopback; browsers drop `Secure` cookies over http.
    pub secure_cookies: bool,
    pub static_dir: PathBuf,
    /// A session unused this long is ended.
    pub session_idle_seconds: i64,
    /// A session older than this is ended however busy it is.
    pub session_max_seconds: i64,
    /// Largest request body (a message with its attachments), in bytes.
    pub max_upload_bytes: usize,
    /// Reverse proxies whose `X-Forwarded-For` names the client (their own address is the
    /// connection's peer). The client's address goes to the IMAP server with `ID`.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Large request bodies (over 1 MiB) taken in at once; more wait their turn. Memory for
    /// sends is about this many times five times the largest message (see `web::large_requests`).
    pub max_large_requests: usize,
    pub page_size: u32,
    /// The origin of the kiosk app (`isolated-app://…`) that may show Sealmail's pages in a
    /// frame. Unset, no site may frame them.
    pub kiosk_app_origin: Option<String>,
    /// The origin of the installed Sealmail app (`isolated-app://…`, `scripts/build-app`): a
    /// client whose pages' scripts and module come from its own signed bundle, and which reads
    /// the pages across origins. Unset, no other site may read them.
    pub app_origin: Option<String>,
    /// A request still unanswered after this long gets "try again" instead of hanging. A send
    /// is not cut off by it: it goes on and finishes its bookkeeping.
    pub request_timeout_seconds: u64,
    /// On shutdown, requests in flight get this long to finish before the server stops.
    pub shutdown_grace_seconds: u64,
    /// How log lines are written: `text` for people, `json` for a log collector. Read at start.
    pub log_format: LogFormat,
    /// Serve `/metrics`. It holds no user data, only counts; admins restrict it at the proxy
    /// (or turn it off here) because request rates still say something about the site.
    pub metrics: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            secure_cookies: true,
            static_dir: PathBuf::from("static"),
            session_idle_seconds: 30 * 60,
            session_max_seconds: 12 * 60 * 60,
            max_upload_bytes: 40 * 1024 * 1024,
            max_large_requests: 4,
            trusted_proxies: Vec::new(),
            page_size: 50,
            kiosk_app_origin: None,
            app_origin: None,
            request_timeout_seconds: 120,
            shutdown_grace_seconds: 20,
            log_format: LogFormat::Text,
            metrics: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Tls,
    /// Plain connection upgraded with STARTTLS before any credential is sent.
    Starttls,
    /// No encryption at all: accepted only for a server on this machine.
    Plain,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailServer {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// An extra certificate authority (PEM) to trust, for a server with a private certificate.
    pub ca_file: Option<PathBuf>,
    /// Seconds to wait for the server to answer before telling the user it is unavailable.
    #[serde(default = "default_mail_timeout")]
    pub timeout_seconds: u64,
    /// `[smtp]` only: the longest one submission may take, and so how long a claimed send id is
    /// held before a claim left by a dead server process is recovered (see `outbox`).
    pub send_lease_seconds: Option<u64>,
    /// `[imap]` only: connections this instance holds open to the IMAP server at most, in use
    /// or idle; a page needing one more waits in line (see `imap::limits`).
    pub max_connections: Option<usize>,
    /// `[imap]` only: of those, how many one user's pages (all tabs and browsers) hold at once;
    /// more wait in line for the user's own.
    pub max_connections_per_user: Option<usize>,
}

impl MailServer {
    /// How long to wait for one answer from the server.
    pub fn reply_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_seconds.max(1))
    }

    pub fn send_lease_seconds(&self) -> u64 {
        self.send_lease_seconds.unwrap_or(600)
    }

    /// Under Dovecot's default of 100 `imap-login` processes, leaving room for other clients.
    pub fn max_connections(&self) -> usize {
        self.max_connections.unwrap_or(64)
    }

    /// Under Dovecot's default `mail_max_userip_connections` of 10, with room for a second
    /// instance and the user's own desktop client.
    pub fn max_connections_per_user(&self) -> usize {
        self.max_connections_per_user.unwrap_or(4)
    }
}

fn default_mail_timeout() -> u64 {
    20
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path?mode=rwc` (the default, embedded) or `postgres://…` for several servers.
    pub url: String,
}

// By hand: a PostgreSQL URL may hold the database password, and `Config` is printed with
// `{:?}` wherever someone debugs start-up.
impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &mask_password(&self.url))
            .finish()
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://sealmail.db?mode=rwc".into(),
        }
    }
}

/// Slows down password guessing against one address.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginThrottle {
    /// Failures allowed before answers are delayed.
    pub free_failures: i64,
    /// Delay added per failure beyond the free ones (doubling, capped at 8 steps).
    pub delay_step_ms: u64,
    /// Failures after which the address is refused outright until the window passes.
    pub lockout_failures: i64,
    /// Failures older than this are forgotten.
    pub window_seconds: i64,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            free_failures: 3,
            delay_step_ms: 500,
            lockout_failures: 10,
            window_seconds: 15 * 60,
        }
    }
}

impl Config {
    /// Reads `path` and applies overrides from `env` (normally `std::env::vars()`).
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, env)
    }

    pub fn from_toml(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        for (name, value) in env {
            apply_override(&mut table, &name, &value)?;
        }
        let config: Config = table
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (setting, server) in [("imap.security", &self.imap), ("smtp.security", &self.smtp)] {
            if server.security == Security::Plain && !is_loopback_host(&server.host) {
                return Err(ConfigError::Invalid {
                    setting,
                    problem: format!(
                        "\"plain\" sends passwords unencrypted, so it is allowed only for a server on this \
                         machine, not for {}; use \"tls\" or \"starttls\"",
                        server.host
                    ),
                });
            }
        }
        // The client speaks ManageSieve without STARTTLS, so passwords would cross the network
        // in the clear to anything but this machine.
        if let Some(sieve) = &self.sieve
            && !is_loopback_host(&sieve.host)
        {
            return Err(ConfigError::Invalid {
                setting: "sieve.host",
                problem: format!(
                    "Sealmail talks to ManageSieve without encryption, so the server must be on this \
                     machine (localhost or 127.0.0.1), not {}",
                    sieve.host
                ),
            });
        }
        if self.web.session_idle_seconds <= 0 || self.web.session_max_seconds <= 0 {
            return Err(ConfigError::Invalid {
                setting: "web.session_idle_seconds",
                problem: "session lifetimes must be positive".into(),
            });
        }
        if !(1..=1000).contains(&self.web.max_large_requests) {
            return Err(ConfigError::Invalid {
                setting: "web.max_large_requests",
                problem: "must be 1 to 1000".into(),
            });
        }
        if !(1..=500).contains(&self.web.page_size) {
            return Err(ConfigError::Invalid {
                setting: "web.page_size",
                problem: "must be 1 to 500".into(),
            });
        }
        for (setting, origin) in [
            ("web.kiosk_app_origin", &self.web.kiosk_app_origin),
            ("web.app_origin", &self.web.app_origin),
        ] {
            if let Some(origin) = origin
                && let Err(problem) = check_origin(origin)
            {
                return Err(ConfigError::Invalid { setting, problem });
            }
        }
        if !(1..=3600).contains(&self.web.request_timeout_seconds) {
            return Err(ConfigError::Invalid {
                setting: "web.request_timeout_seconds",
                problem: "must be 1 to 3600".into(),
            });
        }
        if self.web.shutdown_grace_seconds > 600 {
            return Err(ConfigError::Invalid {
                setting: "web.shutdown_grace_seconds",
                problem: "must be at most 600".into(),
            });
        }
        if self.imap.send_lease_seconds.is_some() {
            return Err(ConfigError::Invalid {
                setting: "imap.send_lease_seconds",
                problem: "belongs in [smtp]".into(),
            });
        }
        if self.smtp.max_connections.is_some() {
            return Err(ConfigError::Invalid {
                setting: "smtp.max_connections",
                problem: "belongs in [imap]".into(),
            });
        }
        if !(1..=10_000).contains(&self.imap.max_connections()) {
            return Err(ConfigError::Invalid {
                setting: "imap.max_connections",
                problem: "must be 1 to 10000".into(),
            });
        }
        if self.smtp.max_connections_per_user.is_some() {
            return Err(ConfigError::Invalid {
                setting: "smtp.max_connections_per_user",
                problem: "belongs in [imap]".into(),
            });
        }
        if !(1..=100).contains(&self.imap.max_connections_per_user()) {
            return Err(ConfigError::Invalid {
                setting: "imap.max_connections_per_user",
                problem: "must be 1 to 100".into(),
            });
        }
        if !(5..=86_400).contains(&self.smtp.send_lease_seconds()) {
            return Err(ConfigError::Invalid {
                setting: "smtp.send_lease_seconds",
                problem: "must be 5 to 86400".into(),
            });
        }
        let pki = &self.pki;
        if !(5..=600).contains(&pki.revocation_url_retrieval_timeout_seconds) {
            return Err(ConfigError::Invalid {
                setting: "pki.revocation_url_retrieval_timeout_seconds",
                problem: "must be 5 to 600 (seconds)".into(),
            });
        }
        if pki.cert_url_retrieval_timeout_seconds > 600 {
            return Err(ConfigError::Invalid {
                setting: "pki.cert_url_retrieval_timeout_seconds",
                problem: "must be 0 to 600 (seconds)".into(),
            });
        }
        if !(1..=1_000_000).contains(&pki.recipient_limit) {
            return Err(ConfigError::Invalid {
                setting: "pki.recipient_limit",
                problem: "must be 1 to 1000000".into(),
            });
        }
        if let Some((user, _)) = pki
            .recipient_limits
            .iter()
            .find(|(_, limit)| !(1..=1_000_000).contains(*limit))
        {
            return Err(ConfigError::Invalid {
                setting: "pki.recipient_limits",
                problem: format!("the limit for {user} must be 1 to 1000000"),
            });
        }
        if !(1..=600).contains(&pki.dl_expansion_timeout_seconds) {
            return Err(ConfigError::Invalid {
                setting: "pki.dl_expansion_timeout_seconds",
                problem: "must be 1 to 600 (seconds)".into(),
            });
        }
        if let Some(directory) = &self.directory {
            directory.validate()?;
        }
        self.smime.validate().map_err(|e| ConfigError::Invalid {
            setting: e.setting,
            problem: e.problem,
        })
    }
}

const SECTIONS: [&str; 10] = [
    "web",
    "imap",
    "smtp",
    "database",
    "login",
    "pki",
    "smime",
    "sieve",
    "directory",
    "identities",
];

/// `SEALMAIL_IMAP_PORT=993` sets `[imap] port = 993`. A value is read as TOML when it parses
/// (numbers, booleans) and as a string otherwise.
fn apply_override(table: &mut toml::Table, name: &str, value: &str) -> Result<(), ConfigError> {
    let Some(rest) = name.strip_prefix("SEALMAIL_") else {
        return Ok(());
    };
    let rest = rest.to_ascii_lowercase();
    let Some((section, key)) = rest.split_once('_') else {
        return Ok(());
    };
    if !SECTIONS.contains(&section) {
        return Ok(());
    }
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let entry = table
        .entry(section.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    match entry {
        toml::Value::Table(t) => {
            t.insert(key.to_string(), parsed);
            Ok(())
        }
        _ => Err(ConfigError::Parse(format!(
            "[{section}] must be a table to apply {name}"
        ))),
    }
}

/// `sealmail config show`: every effective setting, one `section.key = value` line each, with
/// where it came from (the file, an environment variable, or the default). Passwords in URLs
/// are masked.
pub fn show(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<String, ConfigError> {
    let env: Vec<(String, String)> = env.into_iter().collect();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let file: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Parse(e.to_string()))?;
    let config = Config::from_toml(&text, env.iter().cloned())?;
    let effective =
        toml::Table::try_from(&config).map_err(|e| ConfigError::Parse(e.to_string()))?;
    let mut out = String::new();
    for section in SECTIONS {
        let Some(toml::Value::Table(values)) = effective.get(section) else {
            continue;
        };
        for (key, value) in values {
            let variable = format!("SEALMAIL_{}_{}", section, key).to_ascii_uppercase();
            let source = if env.iter().any(|(name, _)| *name == variable) {
                format!("environment {variable}")
            } else if file
                .get(section)
                .and_then(|t| t.get(key.as_str()))
                .is_some()
            {
                format!("file {}", path.display())
            } else {
                "default".to_string()
            };
            // Flags read as OWA documents them: a sum of hex values.
            let shown = match (key.as_str(), value) {
                ("security_flags", toml::Value::Integer(flags)) => format!("0x{flags:03x}"),
                ("bind_password", _) => "***".to_string(),
                _ => mask_password(&value.to_string()),
            };
            out.push_str(&format!("{section}.{key} = {shown}    # {source}\n"));
        }
    }
    Ok(out)
}

/// `scheme://user:secret@host` → `scheme://user:***@host`; a `password=` query parameter is
/// masked too.
fn mask_password(value: &str) -> String {
    let mut out = value.to_string();
    if let Some(scheme_end) = out.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = out[authority_start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| authority_start + i);
        let authority = &out[authority_start..authority_end];
        // The last '@' ends the user info: a password may itself contain '@'.
        if let Some(at) = authority.rfind('@')
            && let Some(colon) = authority[..at].find(':')
        {
            out.replace_range(authority_start + colon + 1..authority_start + at, "***");
        }
    }
    if let Some(start) = out.find("password=") {
        let value_start = start + "password=".len();
        let value_end = out[value_start..]
            .find('&')
            .map_or(out.len(), |i| value_start + i);
        out.replace_range(value_start..value_end, "***");
    }
    out
}

/// An origin alone (`scheme://host[:port]`): it goes into a `Content-Security-Policy` header,
/// so anything else (a path, a space, a `;`) could widen the policy.
fn check_origin(origin: &str) -> Result<(), String> {
    let problem = || {
        format!(
            "{origin:?} is not an origin; write the app's origin alone, like \"isolated-app://<bundle id>\""
        )
    };
    let (scheme, host) = origin.split_once("://").ok_or_else(problem)?;
    let scheme_ok = !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '[' | ']'));
    if scheme_ok && host_ok {
        Ok(())
    } else {
        Err(problem())
    }
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [imap]
        host = "127.0.0.1"
        port = 143
        security = "plain"
        [smtp]
        host = "127.0.0.1"
        port = 587
        security = "plain"
    "#;

    #[test]
    fn debug_output_hides_the_database_password() {
        let env = [(
            "SEALMAIL_DATABASE_URL".to_string(),
            "postgres://sealmail:db-secret@db.example.test/mail?password=other-secret".to_string(),
        )];
        let config = Config::from_toml(MINIMAL, env).unwrap();
        let shown = format!("{config:?}");
        assert!(shown.contains("db.example.test"), "{shown}");
        assert!(!shown.contains("db-secret"), "{shown}");
        assert!(!shown.contains("other-secret"), "{shown}");
    }

    #[test]
    fn an_app_origin_must_be_an_origin_alone() {
        type Read = fn(&Config) -> Option<&str>;
        let settings: [(&str, &str, Read); 2] = [
            ("KIOSK_APP_ORIGIN", "web.kiosk_app_origin", |c| {
                c.web.kiosk_app_origin.as_deref()
            }),
            ("APP_ORIGIN", "web.app_origin", |c| {
                c.web.app_origin.as_deref()
            }),
        ];
        for (variable, setting, read) in settings {
            let with = |origin: &str| {
                let env = [(format!("SEALMAIL_WEB_{variable}"), origin.to_string())];
                Config::from_toml(MINIMAL, env)
            };
            let app = "isolated-app://amoiebz32b7o24tilu257xne2yf3nkblkploanxzm7ebeglseqpfeaacai";
            assert_eq!(read(&with(app).unwrap()), Some(app));
            assert!(with("https://kiosk.example.org:8443").is_ok());
            for widening in [
                "https://kiosk.example.org/app",
                "https://a.example.org https://b.example.org",
                "isolated-app://x; script-src *",
                "'self'",
                "*",
            ] {
                let error = with(widening).unwrap_err().to_string();
                assert!(
                    error.starts_with(&format!("{setting}:")) && error.contains("is not an origin"),
                    "{widening}: {error}"
                );
            }
        }
    }

    #[test]
    fn environment_overrides_file_values_with_typed_values() {
        let env = [
            ("SEALMAIL_IMAP_PORT".to_string(), "993".to_string()),
            ("SEALMAIL_IMAP_SECURITY".to_string(), "tls".to_string()),
            (
                "SEALMAIL_WEB_SECURE_COOKIES".to_string(),
                "false".to_string(),
            ),
            (
                "SEALMAIL_DATABASE_URL".to_string(),
                "postgres://db/mail".to_string(),
            ),
            ("UNRELATED".to_string(), "x".to_string()),
        ];
        let config = Config::from_toml(MINIMAL, env).unwrap();
        assert_eq!(config.imap.port, 993);
        assert_eq!(config.imap.security, Security::Tls);
        assert!(!config.web.secure_cookies);
        assert_eq!(config.database.url, "postgres://db/mail");
    }

    #[test]
    fn plaintext_to_a_remote_server_is_refused_with_the_setting_named() {
        let text = MINIMAL.replacen("127.0.0.1", "mail.example.com", 1);
        let err = Config::from_toml(&text, []).unwrap_err();
        assert!(err.to_string().starts_with("imap.security:"), "{err}");
    }

    #[test]
    fn sieve_is_optional_and_only_on_this_machine() {
        assert_eq!(Config::from_toml(MINIMAL, []).unwrap().sieve, None);
        let local = Config::from_toml(
            &format!("{MINIMAL}\n[sieve]\nhost = \"localhost\"\nport = 4190\n"),
            [],
        )
        .unwrap();
        let sieve = local.sieve.expect("configured");
        assert_eq!((sieve.port, sieve.timeout_seconds), (4190, 20));
        let err = Config::from_toml(
            &format!("{MINIMAL}\n[sieve]\nhost = \"mail.example.com\"\nport = 4190\n"),
            [],
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("sieve.host:"), "{err}");
    }

    #[test]
    fn the_directory_needs_tls_unless_on_this_machine_and_hides_its_password() {
        let with = |body: &str| {
            Config::from_toml(
                &format!("{MINIMAL}\n[directory]\nbase_dn = \"dc=example,dc=com\"\n{body}"),
                [],
            )
        };
        assert!(Config::from_toml(MINIMAL, []).unwrap().directory.is_none());
        let remote_plain = with("ldap_url = \"ldap://dc.example.com\"\n").unwrap_err();
        assert!(
            remote_plain.to_string().starts_with("directory.ldap_url:"),
            "{remote_plain}"
        );
        for ok in [
            "ldap_url = \"ldaps://dc.example.com\"\n",
            "ldap_url = \"ldap://dc.example.com:389\"\nstarttls = true\n",
            "ldap_url = \"ldap://127.0.0.1:26389\"\n",
            "ldap_url = \"ldap://[::1]:389\"\n",
        ] {
            with(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let both =
            with("ldap_url = \"ldaps://dc\"\nbind_password = \"x\"\nbind_password_file = \"/p\"\n")
                .unwrap_err();
        assert!(both.to_string().contains("not both"), "{both}");
        let bad_filter =
            with("ldap_url = \"ldaps://dc\"\nuser_filter = \"objectClass=person\"\n").unwrap_err();
        assert!(
            bad_filter.to_string().starts_with("directory.user_filter:"),
            "{bad_filter}"
        );
        let config = with("ldap_url = \"ldaps://dc\"\nbind_password = \"hunter2\"\n").unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
        let directory = config.directory.unwrap();
        assert_eq!(
            (directory.timeout_seconds, directory.cache_seconds),
            (5, 60)
        );
        assert_eq!(directory.password().unwrap().as_deref(), Some("hunter2"));
    }

    #[test]
    fn pki_defaults_and_ranges() {
        let config = Config::from_toml(MINIMAL, []).unwrap();
        assert_eq!(config.pki.revocation_url_retrieval_timeout_seconds, 60);
        assert_eq!(config.pki.recipient_limit, 5000);
        let err = Config::from_toml(
            &format!("{MINIMAL}\n[pki]\nrevocation_url_retrieval_timeout_seconds = 4\n"),
            [],
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("pki.revocation_url_retrieval_timeout_seconds:"),
            "{err}"
        );
        let env = [("SEALMAIL_PKI_CHECK_CRL".to_string(), "true".to_string())];
        assert!(Config::from_toml(MINIMAL, env).unwrap().pki.check_crl);
        let per_user = Config::from_toml(
            &format!("{MINIMAL}\n[pki]\nrecipient_limits = {{ \"Boss@example.test\" = 9 }}\n"),
            [],
        )
        .unwrap();
        assert_eq!(per_user.pki.recipient_limit_for("boss@example.test"), 9);
        assert_eq!(per_user.pki.recipient_limit_for("other@example.test"), 5000);
        let err = Config::from_toml(
            &format!("{MINIMAL}\n[pki]\nrecipient_limits = {{ \"a@example.test\" = 0 }}\n"),
            [],
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("pki.recipient_limits:"),
            "{err}"
        );
    }

    #[test]
    fn smime_policy_defaults_ranges_and_overrides() {
        let config = Config::from_toml(MINIMAL, []).unwrap();
        assert!(config.smime.clear_sign && config.smime.triple_wrap);
        assert!(!config.smime.always_sign && !config.smime.always_encrypt);
        let with = |extra: &str| Config::from_toml(&format!("{MINIMAL}\n[smime]\n{extra}\n"), []);
        assert!(with("always_sign = true").unwrap().smime.always_sign);
        let err = with("encryption_algorithms = [\"3des\"]").unwrap_err();
        assert!(err.to_string().contains("3des"), "{err}");
        let err = with("encryption_algorithms = []").unwrap_err();
        assert!(
            err.to_string().starts_with("smime.encryption_algorithms:"),
            "{err}"
        );
        let err = with("require_key_archival = true").unwrap_err();
        assert!(
            err.to_string().starts_with("smime.recovery_agents:"),
            "{err}"
        );
        let err = with("default_signing_algorithm = \"sha1\"").unwrap_err();
        assert!(err.to_string().contains("sha1"), "{err}");
        let err = with("security_flags = 0x003").unwrap_err();
        assert!(
            err.to_string().starts_with("smime.security_flags:"),
            "{err}"
        );
        let err = with("security_flags = 0x004").unwrap_err();
        assert!(
            err.to_string().starts_with("smime.security_flags:"),
            "{err}"
        );
        assert_eq!(
            with("security_flags = 0x109").unwrap().smime.security_flags,
            0x109
        );
        let env = [(
            "SEALMAIL_SMIME_ENCRYPTION_ALGORITHMS".to_string(),
            "[\"aes128-cbc\"]".to_string(),
        )];
        let config = Config::from_toml(MINIMAL, env).unwrap();
        assert_eq!(
            config.smime.encryption_algorithms,
            [crate::policy::EncryptionAlgorithm::Aes128Cbc]
        );
    }

    #[test]
    fn show_names_each_source_and_masks_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sealmail.toml");
        std::fs::write(
            &path,
            format!("{MINIMAL}\n[smime]\nalways_sign = true\n[database]\nurl = \"postgres://mail:hunter2@db/mail\"\n"),
        )
        .unwrap();
        let env = [("SEALMAIL_SMIME_CLEAR_SIGN".to_string(), "false".to_string())];
        let shown = show(&path, env).unwrap();
        let line = |key: &str| {
            shown
                .lines()
                .find(|l| l.starts_with(&format!("{key} = ")))
                .unwrap_or_else(|| panic!("{key} missing from:\n{shown}"))
                .to_string()
        };
        assert!(line("smime.always_sign").contains("= true    # file "));
        assert!(
            line("smime.clear_sign").contains("= false    # environment SEALMAIL_SMIME_CLEAR_SIGN")
        );
        assert!(line("smime.triple_wrap").ends_with("= true    # default"));
        assert!(line("smime.security_flags").ends_with("= 0x101    # default"));
        assert!(line("database.url").contains("postgres://mail:***@db/mail"));
        assert!(!shown.contains("hunter2"));
        assert_eq!(
            mask_password("postgres://u:p@ss@db/x"),
            "postgres://u:***@db/x"
        );
        assert_eq!(mask_password("a@b://c"), "a@b://c");
        assert_eq!(
            mask_password("postgres://db/x?user=u&password=s3cret&ssl=1"),
            "postgres://db/x?user=u&password=***&ssl=1"
        );
        assert_eq!(mask_password("\"plain\""), "\"plain\"");
    }

    #[test]
    fn log_format_and_metrics_switch() {
        let config = Config::from_toml(MINIMAL, []).unwrap();
        assert_eq!(config.web.log_format, LogFormat::Text);
        assert!(config.web.metrics);
        let with = |extra: &str| Config::from_toml(&format!("[web]\n{extra}\n{MINIMAL}"), []);
        assert_eq!(
            with("log_format = \"json\"").unwrap().web.log_format,
            LogFormat::Json
        );
        assert!(!with("metrics = false").unwrap().web.metrics);
        let env = [("SEALMAIL_WEB_LOG_FORMAT".to_string(), "json".to_string())];
        assert_eq!(
            Config::from_toml(MINIMAL, env).unwrap().web.log_format,
            LogFormat::Json
        );
        for (bad, setting) in [
            ("log_format = \"xml\"", "web.log_format"),
            ("log_format = 1", "web.log_format"),
            ("metrics = \"yes\"", "web.metrics"),
        ] {
            let err = with(bad).unwrap_err().to_string();
            assert!(err.contains(setting), "{bad}: {err}");
        }
    }

    #[test]
    fn unknown_settings_are_refused() {
        let err =
            Config::from_toml(&format!("{MINIMAL}\n[web]\nlisten_port = 1\n"), []).unwrap_err();
        assert!(err.to_string().contains("listen_port"), "{err}");
    }
}
