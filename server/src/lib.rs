//! Sealmail's server: a web mail front end over the user's own IMAP and SMTP servers.
//!
//! Data flows one way: browser → [`web`] → [`imap`] / [`smtp`]; [`mail`] turns bytes into pages
//! and forms into bytes without touching the network; [`db`] keeps sessions and the outbox so
//! any server instance can answer any request.

pub mod cli;
pub mod config;
pub mod contacts;
pub mod db;
pub mod directory;
pub mod identities;
pub mod imap;
pub mod logging;
pub mod mail;
pub mod metrics;
pub mod options;
pub mod outbox;
pub mod policy;
pub mod probe;
pub mod recovery;
pub mod sessions;
pub mod sieve;
pub mod smtp;
pub mod tls;
pub mod trust;
pub mod web;

use std::sync::Arc;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error(transparent)]
    Tls(#[from] tls::TlsSetupError),
    #[error(transparent)]
    Smtp(#[from] smtp::SmtpError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Builds the application for `config`: database ready, state shared, router assembled.
pub async fn build_app(config: config::Config) -> Result<(axum::Router, web::Shared), StartError> {
    let db = db::open(&config.database.url).await?;
    let state = Arc::new(web::AppState::new(config, db)?);
    Ok((web::ops::attach(web::router(state.clone()), &state), state))
}

/// Serves until Ctrl-C or SIGTERM. With `config_file`, edits to its `[smime]` policy take effect
/// while the server runs.
pub async fn serve(
    config: config::Config,
    config_file: Option<std::path::PathBuf>,
) -> Result<(), StartError> {
    let addr = config.web.listen;
    let grace = std::time::Duration::from_secs(config.web.shutdown_grace_seconds);
    let (router, state) = build_app(config).await?;
    state.spawn_upkeep();
    if let Some(path) = config_file {
        tokio::spawn(watch_config(state.clone(), path));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })?;
    tracing::info!(
        "Sealmail listening on http://{addr} (instance {})",
        web::ops::instance_id()
    );
    let (stopping_tx, stopping) = tokio::sync::oneshot::channel::<()>();
    // The peer's address, for the IMAP server's per-address limits (see web::client_address).
    let router = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stopping_tx.send(());
    });
    // Draining is bounded: a request stuck on a stalled peer must not keep the process alive.
    let drained = async {
        let _ = stopping.await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        served = server => served.map_err(|source| StartError::Listen { addr, source }),
        () = drained => {
            tracing::warn!("requests still in flight after {} s; stopping anyway", grace.as_secs());
            Ok(())
        }
    }
}

/// Looks at the configuration file every [`policy::RELOAD_INTERVAL`] and reloads it when it
/// changed, or at once on SIGHUP, what `systemctl reload` sends (see
/// [`web::AppState::reload_config`]).
async fn watch_config(state: web::Shared, path: std::path::PathBuf) {
    let modified = |path: &std::path::Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut seen = modified(&path);
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let asked = tokio::select! {
            () = tokio::time::sleep(policy::RELOAD_INTERVAL) => false,
            Some(()) = async { hangup.as_mut()?.recv().await } => true,
        };
        #[cfg(not(unix))]
        let asked = {
            tokio::time::sleep(policy::RELOAD_INTERVAL).await;
            false
        };
        let now = modified(&path);
        if asked || now != seen {
            seen = now;
            state.reload_config(&path);
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
