//! HTTP: the router, shared state and the security layers every page goes through.
//!
//! Handlers stay thin: they read the request, call `imap`, `smtp`, `mail` or `outbox`, and hand
//! a view model to a template.

/// Runs `$body` with `$s` bound to one of `$user`'s IMAP sessions and evaluates to
/// `Result<T, PageError>`. A stale pooled connection is replaced and the body run once more, so a
/// restarted IMAP server costs the user nothing. (A macro rather than a closure-taking method:
/// async closures borrowing the session do not yet prove `Send` for axum handlers.)
macro_rules! with_imap {
    ($state:expr, $user:expr, |$s:ident| $body:block) => {{
        let state: &$crate::web::AppState = &$state;
        let user: &$crate::sessions::SignedIn = $user;
        async {
            let mut fresh = false;
            loop {
                let (mut connection, pooled) = state.checkout(user, fresh).await?;
                // Every use of a connection has a deadline: a stalled server costs the user a
                // clear answer, and the connection is dropped, never pooled again.
                let result: Result<_, $crate::imap::ImapError> =
                    match tokio::time::timeout(state.config.imap.reply_timeout(), async {
                        let $s = &mut connection.session;
                        $body
                    })
                    .await
                    {
                        Ok(result) => result,
                        Err(_) => Err($crate::imap::ImapError::Timeout),
                    };
                if state.checkin(user, connection, pooled, &result) {
                    fresh = true;
                    continue;
                }
                break result.map_err($crate::web::PageError::from);
            }
        }
        .await
    }};
}

mod access;
pub mod api;
pub mod assets;
mod auth;
mod client_address;
mod compose;
mod contacts;
mod deliver;
mod drafts;
mod errors;
mod filters;
mod folders;
mod hardening;
mod identities;
mod installed_app;
mod key_recovery;
mod large_requests;
pub mod ops;
mod out_of_office;
mod pages;
mod search;
mod selection;
mod settings;
mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::Config;
use crate::db::Pool;
use crate::imap::limits::Connection;
use crate::imap::{self, Connector, ImapError, SessionPool};
use crate::outbox::Outbox;
use crate::sessions::{LoginGuard, Sessions, SignedIn};
use crate::smtp::Submitter;

pub use errors::PageError;

/// Everything a handler may use. Nothing in here has to survive a restart.
pub struct AppState {
    pub config: Config,
    pub db: Pool,
    pub sessions: Sessions,
    pub login_guard: LoginGuard,
    pub imap: Connector,
    pub imap_pool: SessionPool,
    pub imap_limit: crate::imap::limits::ConnectionLimit,
    pub smtp: Submitter,
    pub outbox: Outbox,
    pub directory: crate::directory::Directory,
    pub contacts: crate::contacts::Contacts,
    pub identities: crate::identities::Identities,
    /// The validator with the `[pki]` settings in force; replaced whole when they change.
    checker: std::sync::RwLock<Arc<crate::trust::Checker>>,
    /// The S/MIME policy in force: read it here, not from `config.smime`, which is only what
    /// the server started with.
    pub policy: Arc<crate::policy::Live>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Out-of-office replies and filters, when a ManageSieve server is configured.
    pub sieve: Option<crate::sieve::ManageSieve>,
}

pub type Shared = Arc<AppState>;

/// The directory over the database, asking the live LDAP directory first when one is configured.
fn directory(config: &Config, db: Pool) -> Result<crate::directory::Directory, crate::StartError> {
    let directory = crate::directory::Directory::new(db);
    Ok(match &config.directory {
        Some(server) => directory.with_ldap(crate::directory::ldap::LdapDirectory::new(
            server.clone(),
            server.password()?,
            crate::tls::client_config(server.ca_file.as_deref())?,
        )),
        None => directory,
    })
}

impl AppState {
    pub fn new(config: Config, db: Pool) -> Result<Self, crate::StartError> {
        let imap_tls = crate::tls::client_config(config.imap.ca_file.as_deref())?;
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let checker = crate::trust::Checker::from_config(&config.pki, db.clone()).map_err(|e| {
            crate::config::ConfigError::Invalid {
                setting: "pki",
                problem: e.to_string(),
            }
        })?;
        let checker = checker.observed_by(metrics.crl_observer());
        Ok(Self {
            metrics,
            sieve: config.sieve.clone().map(crate::sieve::ManageSieve::new),
            policy: Arc::new(crate::policy::Live::new(config.smime.clone())),
            directory: directory(&config, db.clone())?,
            contacts: crate::contacts::Contacts::new(db.clone()),
            identities: crate::identities::Identities::new(db.clone()),
            checker: std::sync::RwLock::new(Arc::new(checker)),
            sessions: Sessions::new(
                db.clone(),
                config.web.session_idle_seconds,
                config.web.session_max_seconds,
            ),
            login_guard: LoginGuard::new(db.clone(), config.login.clone()),
            imap: Connector::new(config.imap.clone(), imap_tls),
            imap_pool: SessionPool::new(10_000),
            imap_limit: crate::imap::limits::ConnectionLimit::new(
                config.imap.max_connections(),
                config.imap.max_connections_per_user(),
            ),
            smtp: Submitter::new(config.smtp.clone())?,
            outbox: Outbox::new(db.clone(), config.smtp.send_lease_seconds()),
            config,
            db,
        })
    }

    /// The validator in force (with its `[pki]` settings).
    pub fn checker(&self) -> Arc<crate::trust::Checker> {
        self.checker
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// `addresses` with distribution lists replaced by their members (nested lists followed),
    /// within `email`'s recipient limit and the `[pki]` expansion deadline: the one expansion
    /// the recipients' lookup and every send make alike.
    pub async fn expand_lists(
        &self,
        email: &str,
        addresses: &[String],
    ) -> Result<crate::directory::lookup::Expanded, crate::directory::lookup::ExpandError> {
        let checker = self.checker();
        let settings = &checker.settings;
        let limit = settings.recipient_limit_for(email);
        crate::directory::lookup::expand(
            addresses,
            |address| {
                let directory = self.directory.clone();
                async move { directory.members(&address, limit).await }
            },
            limit,
            Duration::from_secs(settings.dl_expansion_timeout_seconds),
        )
        .await
    }

    /// Every certificate the directory, `owner`'s contacts and harvest hold for `address`, as
    /// the S/MIME engine's type.
    pub async fn known_certificates(&self, owner: &str, address: &str) -> Vec<smime::Certificate> {
        crate::directory::lookup::known_certificates(&self.directory, owner, address)
            .await
            .iter()
            .filter_map(|c| smime::Certificate::from_der(c.der()).ok())
            .collect()
    }

    /// Re-reads the configuration file and puts its `[smime]` policy and `[pki]` settings in
    /// force, if the whole file is valid; a broken edit is logged and changes nothing. The other
    /// sections (listeners, mail servers, database) need a restart. Says whether anything changed.
    pub fn reload_config(&self, path: &std::path::Path) -> bool {
        let config = match Config::load(path, std::env::vars()) {
            Ok(config) => config,
            Err(e) => {
                tracing::error!(
                    path = %path.display(),
                    "the edited configuration is refused, the settings in force stay: {e}"
                );
                return false;
            }
        };
        // Both sections are made ready before either is put in force, so an edit is taken whole
        // or not at all.
        let new_checker = if self.checker().settings != config.pki {
            match crate::trust::Checker::from_config(&config.pki, self.db.clone()) {
                Ok(checker) => Some(checker.observed_by(self.metrics.crl_observer())),
                Err(e) => {
                    tracing::error!(
                        path = %path.display(),
                        "the edited configuration is refused, the settings in force stay: [pki]: {e}"
                    );
                    return false;
                }
            }
        } else {
            None
        };
        let mut changed = false;
        if *self.policy.current() != config.smime {
            self.policy.replace(config.smime);
            tracing::info!(path = %path.display(), "S/MIME policy reloaded");
            changed = true;
        }
        if let Some(checker) = new_checker {
            *self.checker.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(checker);
            tracing::info!(path = %path.display(), "[pki] settings reloaded");
            changed = true;
        }
        changed
    }

    /// One of the user's IMAP connections: an idle one from the pool unless `fresh` is asked
    /// for. Says whether it came from the pool (and so may have gone stale).
    pub async fn checkout(
        &self,
        user: &SignedIn,
        fresh: bool,
    ) -> Result<(Connection, bool), PageError> {
        if !fresh && let Some((connection, _idle)) = self.imap_pool.take(&user.pool_key) {
            return Ok((connection, true));
        }
        Ok((
            self.open_imap(&user.email, &user.password, user.client)
                .await?,
            false,
        ))
    }

    /// Keeps a healthy connection for the user's next page, unless a page is waiting for room:
    /// then it is closed, and that page opens its own.
    pub fn keep_imap(&self, pool_key: &str, connection: Connection) {
        if !self.imap_limit.anyone_waiting_for(&connection) {
            self.imap_pool.put(pool_key, connection);
        }
    }

    /// Signs in to IMAP on a new connection, waiting in line (up to the IMAP deadline) while this
    /// instance holds as many connections as `[imap] max_connections` allows.
    /// `client` is the person's address, for the IMAP server's per-address limits.
    pub async fn open_imap(
        &self,
        email: &str,
        password: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<Connection, ImapError> {
        let patience = self.config.imap.reply_timeout();
        let login = self.imap.login(email, password, client);
        let user = email.to_ascii_lowercase();
        match self
            .imap_limit
            .open(&user, &self.imap_pool, patience, login)
            .await
        {
            Ok(opened) => opened,
            Err(_busy) => Err(ImapError::Busy),
        }
    }

    /// Returns a connection after use. `true` means: the pooled connection was dead, run the
    /// operation again on a fresh one (the IMAP server restarted, a network blip).
    pub fn checkin<T>(
        &self,
        user: &SignedIn,
        connection: Connection,
        pooled: bool,
        result: &Result<T, ImapError>,
    ) -> bool {
        match result {
            // A server that did not answer in time is slow, not restarted: asking again on a new
            // connection would only make the user wait twice.
            Err(ImapError::Timeout) => false,
            Err(e) if e.breaks_connection() => {
                if pooled {
                    tracing::info!(user = %user.email, "IMAP connection lost ({e}); reconnecting");
                }
                pooled
            }
            _ => {
                self.keep_imap(&user.pool_key, connection);
                false
            }
        }
    }

    /// Background upkeep: close idle IMAP connections, drop expired sessions, reload the trust
    /// store; and, more often, recover sends whose server process died mid-send.
    pub fn spawn_upkeep(self: &Arc<Self>) {
        let state = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                if let Err(e) = state.outbox.recover_expired(None).await {
                    tracing::warn!("recovering stalled sends failed: {e}");
                }
            }
        });
        let state = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                // Closed in the background: one stalled server must not hold up the rest of upkeep.
                for connection in state.imap_pool.expire(Duration::from_secs(300)) {
                    crate::imap::limits::close_in_background(connection);
                }
                state.imap_limit.forget_idle_users();
                if let Err(e) = state.sessions.purge_expired().await {
                    tracing::warn!("purging expired sessions failed: {e}");
                }
                if let Err(e) = state.outbox.purge_filed().await {
                    tracing::warn!("purging the outbox failed: {e}");
                }
                // Trust anchors and the untrusted list take effect within a minute.
                if let Err(e) = state.checker().reload() {
                    tracing::warn!("reloading the trust store failed (the old one stays): {e}");
                }
            }
        });
    }
}

pub fn router(state: Shared) -> Router {
    let body_limit = state.config.web.max_upload_bytes;
    // Only the compose routes take a message's size; everything else is small, so a large body
    // sent anywhere else is refused before it is read into memory.
    let small = DefaultBodyLimit::max(16 * 1024);
    let json = DefaultBodyLimit::max(1024 * 1024);
    let router = Router::new()
        .route("/", get(pages::home))
        .route(
            "/login",
            get(auth::login_page).post(auth::login).layer(small),
        )
        .route("/logout", post(auth::logout).layer(small))
        .route("/mail", get(pages::folder))
        .route("/mail/selected", post(selection::act).layer(small))
        .route("/mail/view", post(pages::list_view).layer(small))
        .route("/folders", get(folders::page))
        .route("/folders/create", post(folders::create).layer(small))
        .route("/folders/rename", post(folders::rename).layer(small))
        .route(
            "/folders/subscription",
            post(folders::subscription).layer(small),
        )
        .route(
            "/folders/delete",
            get(folders::confirm_delete)
                .post(folders::delete)
                .layer(small),
        )
        .route(
            "/folders/empty",
            get(folders::confirm_empty)
                .post(folders::empty)
                .layer(small),
        )
        .route("/message", get(pages::message))
        .route("/message/action", post(pages::message_action).layer(small))
        .route("/message/raw", get(pages::raw_message))
        .route("/attachment", get(pages::attachment))
        .route("/search", get(search::search))
        .route("/api/search/encrypted", get(search::encrypted_messages))
        .route("/compose", get(compose::compose_page).post(compose::submit))
        .route("/compose/sealed", post(compose::submit_sealed))
        .route("/compose/draft", post(drafts::save))
        .route("/keys", get(settings::keys_page))
        .route("/contacts", get(contacts::address_book))
        .route("/contacts/remove", post(contacts::remove).layer(small))
        .route("/contacts/edit", get(contacts::edit))
        // A contact's notes may be 10,000 characters of any script.
        .route(
            "/contacts/save",
            post(contacts::save).layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .route("/contacts/delete", post(contacts::delete).layer(small))
        .route(
            "/contacts/from-message",
            post(contacts::from_message).layer(small),
        )
        // Room for the largest file taken and the form around it; past that the upload is
        // refused unread, with the same words.
        .route(
            "/contacts/import",
            post(contacts::import).layer(DefaultBodyLimit::max(
                crate::contacts::vcard::MAX_BYTES + 64 * 1024,
            )),
        )
        .route("/contacts/export", get(contacts::export))
        .route("/api/suggest", get(api::suggest))
        .route(
            "/options",
            get(settings::options_page)
                .post(settings::save_options)
                .layer(small),
        )
        .route(
            "/vacation",
            get(out_of_office::page)
                .post(out_of_office::save)
                // The reply's text may be 10,000 characters, percent-encoded.
                .layer(DefaultBodyLimit::max(128 * 1024)),
        )
        .route("/identities", get(identities::page))
        .route(
            "/identities/save",
            post(identities::save).layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .route(
            "/identities/default",
            post(identities::make_default).layer(small),
        )
        .route("/identities/remove", post(identities::remove).layer(small))
        .route("/filters", get(filters::page))
        .route("/filters/add", post(filters::add).layer(small))
        .route("/filters/remove", post(filters::remove).layer(small))
        .route("/api/recipients", post(api::recipients).layer(json))
        .route(
            "/api/signature/report",
            post(api::signature_report).layer(json),
        )
        .route("/api/chain", post(api::chain).layer(json))
        .route("/api/certificates/publish", post(api::publish).layer(json))
        .route("/api/recovery-agents", get(key_recovery::agents))
        .route("/api/key-archive", post(key_recovery::deposit).layer(json))
        .route(
            "/api/contacts/certificates",
            post(api::add_to_contacts).layer(json),
        )
        .merge(assets::routes(&state.config.web.static_dir))
        .fallback(pages::not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(tokio::sync::Semaphore::new(
                state.config.web.max_large_requests,
            )),
            large_requests::in_turn,
        ))
        // No request hangs for ever: past the deadline the user gets "try again". (A send goes
        // on in its own task and still finishes its bookkeeping.)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(state.config.web.request_timeout_seconds),
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::refuse_cross_site,
        ))
        .layer(axum::middleware::from_fn(hardening::no_store))
        .layer(security_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(security_header(header::REFERRER_POLICY, "no-referrer"))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            content_security_policy(state.config.web.kiosk_app_origin.as_deref()),
        ));
    let router = if state.config.web.kiosk_app_origin.is_none() {
        router.layer(security_header(header::X_FRAME_OPTIONS, "DENY"))
    } else {
        // `X-Frame-Options` can only say "nobody" or "same origin", so it is left out and the
        // policy's `frame-ancestors` (which browsers prefer anyway) names the app.
        router.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            agree_to_cross_origin_isolation,
        ))
    };
    let router = if state.config.web.secure_cookies {
        router.layer(hardening::strict_transport_security())
    } else {
        router
    };
    // Outermost, so that a refusal or an error reaches the app as what it is, not as a
    // network failure.
    let router = match installed_app::cross_origin_layer(&state) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.with_state(state)
}

/// The kiosk app is cross-origin isolated, and such a page frames only pages that agree to it:
/// the page requested for the frame says so with CORP, and every document and worker (the
/// framed page's engine worker must match its page) with COEP. `credentialless` still lets
/// "Show images" load remote images, without cookies. Nothing but a framed page is marked
/// embeddable by other sites.
async fn agree_to_cross_origin_isolation(
    State(state): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let framed = auth::framed_by_kiosk_app(&state, request.headers());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        HeaderName::from_static("cross-origin-embedder-policy"),
        HeaderValue::from_static("credentialless"),
    );
    if framed {
        headers.insert(
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("cross-origin"),
        );
    }
    response
}

fn content_security_policy(kiosk_app_origin: Option<&str>) -> HeaderValue {
    // The configured origin was checked to be header-safe; should that ever fail, no framing
    // is the safe side.
    HeaderValue::try_from(views::content_security_policy(false, kiosk_app_origin)).unwrap_or_else(
        |_| {
            HeaderValue::from_static(
                "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
            )
        },
    )
}

fn security_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
}

pub use imap::FolderRole;
