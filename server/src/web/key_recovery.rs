//! Key recovery's two JSON endpoints: whom the browser encrypts a key's copy to, and where it
//! deposits the copy. The rules are `crate::recovery`'s; these only carry them over HTTP.

use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use super::Shared;
use super::api::{ApiError, ApiUser, bad, directory_refusal, internal};
use crate::directory::{Person, normalize};
use crate::recovery::{self, Archives, RecoveryError};

#[derive(Serialize)]
pub struct AgentsResponse {
    /// Base64 DER; empty when the organization keeps no copies.
    pub agents: Vec<String>,
}

/// `GET /api/recovery-agents`: the recovery agents' certificates, when key archival is on.
pub async fn agents(
    State(state): State<Shared>,
    ApiUser(_user): ApiUser,
) -> Result<Json<AgentsResponse>, ApiError> {
    let policy = state.policy.current();
    let agents = match (&policy.recovery_agents, policy.require_key_archival) {
        (Some(path), true) => recovery::agents(path).map_err(internal)?,
        _ => Vec::new(),
    };
    Ok(Json(AgentsResponse {
        agents: agents.iter().map(|a| B64.encode(a.der())).collect(),
    }))
}

#[derive(Deserialize)]
pub struct DepositRequest {
    /// Base64 DER of the certificate whose key the copy holds.
    pub certificate: String,
    /// Base64 DER of the CMS EnvelopedData.
    pub archive: String,
}

#[derive(Serialize)]
pub struct DepositResponse {
    pub deposited: bool,
}

/// `POST /api/key-archive`: keeps the copy of one of the user's own encryption keys, after
/// checking it is sealed to every recovery agent.
pub async fn deposit(
    State(state): State<Shared>,
    ApiUser(user): ApiUser,
    Json(request): Json<DepositRequest>,
) -> Result<Json<DepositResponse>, ApiError> {
    let policy = state.policy.current();
    let Some(path) = policy.recovery_agents.as_deref() else {
        return Err(bad("this organization names no key recovery agents"));
    };
    let decode = |what: &str, text: &str| {
        B64.decode(text.trim())
            .map_err(|_| bad(format!("the {what} is not base64")))
    };
    let certificate = pki::Certificate::from_der(&decode("certificate", &request.certificate)?)
        .map_err(|e| bad(format!("the certificate cannot be read: {e}")))?;
    let owner = &user.0.email;
    let person = state
        .directory
        .person(owner)
        .await
        .map_err(internal)?
        .unwrap_or_else(|| Person {
            address: normalize(owner),
            display_name: owner.clone(),
            aliases: Vec::new(),
        });
    person.check_own(&certificate).map_err(directory_refusal)?;
    let archive = decode("recovery copy", &request.archive)?;
    let agents = recovery::agents(path).map_err(internal)?;
    recovery::check_archive(&archive, &agents).map_err(refused)?;
    Archives::new(state.db.clone())
        .deposit(owner, &certificate, &archive, crate::db::now())
        .await
        .map_err(refused)?;
    tracing::info!(owner = %owner, subject = %certificate.subject(), "key recovery copy deposited");
    Ok(Json(DepositResponse { deposited: true }))
}

/// A key recovery refusal as the browser hears it: what the user or their browser did wrong is
/// a 422 with the sentence; the server's own trouble (database, agents' file) a 500.
pub(super) fn refused(e: RecoveryError) -> ApiError {
    match e {
        RecoveryError::Database(_) | RecoveryError::Agents { .. } => internal(e),
        other => bad(other.to_string()),
    }
}
