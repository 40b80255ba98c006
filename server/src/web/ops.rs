//! What operators and orchestrators ask the server: `/healthz` (is the process alive),
//! `/readyz` (can it serve: database, IMAP and SMTP reachable, and which policy it runs) and
//! `/metrics` (Prometheus text). None needs a session, none says anything about users, and none
//! reveals a setting's value: readiness names the failing part in a word and the configuration
//! by a hash.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::Digest;

use super::{Shared, access};
use crate::probe::{self, Protocol};

/// The database must answer a trivial query within this long to count as ready.
const DATABASE_DEADLINE: Duration = Duration::from_secs(5);

/// The application with the operators' endpoints and, around every route, the access log and
/// request metrics.
pub fn attach(app: Router, state: &Shared) -> Router {
    let mut ops = Router::new()
        .route("/healthz", get(health))
        .route("/readyz", get(ready));
    if state.config.web.metrics {
        ops = ops.route("/metrics", get(metrics));
    }
    // `layer` wraps each route (and the fallback) on its own, so the route template is known
    // to the access log; it is added last so it times everything the other layers do.
    app.merge(ops.with_state(state.clone()))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::observe,
        ))
}

/// Alive: the process answers. Deliberately checks nothing else, so a restart is never
/// ordered because a mail server is down.
async fn health() -> Response {
    plain(StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into())
}

async fn ready(State(state): State<Shared>) -> Response {
    let database = async {
        let query = sqlx::query("SELECT 1").execute(&state.db);
        match tokio::time::timeout(DATABASE_DEADLINE, query).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                tracing::warn!("readiness: the database failed: {e}");
                Err("error")
            }
            Err(_) => {
                tracing::warn!(
                    "readiness: the database did not answer within {} s",
                    DATABASE_DEADLINE.as_secs()
                );
                Err("timeout")
            }
        }
    };
    let mail = |server, protocol, name: &'static str| async move {
        probe::greeting(server, protocol).await.map_err(|e| {
            tracing::warn!("readiness: {name}: {e}");
            e.word()
        })
    };
    let (database, imap, smtp) = tokio::join!(
        database,
        mail(&state.config.imap, Protocol::Imap, "imap"),
        mail(&state.config.smtp, Protocol::Smtp, "smtp"),
    );
    let word = |r: &Result<(), &'static str>| r.err().unwrap_or("ok");
    let ready = database.is_ok() && imap.is_ok() && smtp.is_ok();
    let body = serde_json::json!({
        "ready": ready,
        "database": word(&database),
        "imap": word(&imap),
        "smtp": word(&smtp),
        "config_version": config_version(&state),
        "instance": instance_id(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    plain(status, "application/json", body.to_string())
}

/// Behind a load balancer, which instance answered: a random name this process took at start
/// and logged with its address, so the answer itself says nothing of where it runs.
pub fn instance_id() -> &'static str {
    static ID: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| send_rules::hex(&rand::random::<[u8; 4]>()));
    &ID
}

/// A short hash of the `[smime]` and `[pki]` settings in force (they change without a
/// restart), so an operator can tell which configuration each instance runs. A hash, not the
/// values: paths and per-user limits are nobody else's business.
pub fn config_version(state: &Shared) -> String {
    let policy = state.policy.current();
    let checker = state.checker();
    let settings = serde_json::json!({ "smime": &*policy, "pki": &checker.settings });
    let digest = sha2::Sha256::digest(settings.to_string().as_bytes());
    send_rules::hex(&digest[..6])
}

async fn metrics(State(state): State<Shared>) -> Response {
    match state.metrics.render(state.imap_pool.idle_count()) {
        Ok(text) => plain(StatusCode::OK, crate::metrics::CONTENT_TYPE, text),
        Err(e) => {
            tracing::error!("rendering the metrics failed: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// These answers change from one second to the next: no cache may keep them.
fn plain(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}
