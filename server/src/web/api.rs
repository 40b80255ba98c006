//! JSON endpoints the browser's S/MIME code calls: recipients' certificates before sending,
//! publishing the user's own certificates, adding a sender's certificates to contacts.
//!
//! Every endpoint needs a session and, being state-reading or state-changing on the user's
//! behalf, the session's CSRF token in `X-CSRF-Token` (on top of the cross-site check all POSTs
//! get). Answers are JSON, failures too: `{"error": "…"}` with a fitting status.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::Shared;
use super::auth::{SESSION_COOKIE, User, our_cookie};
use crate::directory::lookup::{self, Found};
use crate::directory::{UserSource, normalize};
use crate::mail::secure::{self, SignatureReport, SignerFacts};
use crate::sessions::Lookup;
use pki::{Certificate, Usage, containers};

pub const CSRF_HEADER: &str = "x-csrf-token";

/// Recipient lookups in flight at once for one request.
const LOOKUP_CONCURRENCY: usize = 16;

/// A JSON failure.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

pub fn api_error(status: StatusCode, why: String) -> ApiError {
    ApiError(status, why)
}

pub(super) fn bad(why: impl Into<String>) -> ApiError {
    ApiError(StatusCode::UNPROCESSABLE_ENTITY, why.into())
}

pub(super) fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!("api: {e}");
    ApiError(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The server could not complete this request.".into(),
    )
}

/// The signed-in user with the CSRF header checked; JSON 401/403 otherwise.
pub struct ApiUser(pub User);

impl FromRequestParts<Shared> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        let unauthorized = || ApiError(StatusCode::UNAUTHORIZED, "Please sign in again.".into());
        let value = our_cookie(state, &parts.headers, SESSION_COOKIE).ok_or_else(unauthorized)?;
        let user = match state.sessions.lookup(&value).await.map_err(internal)? {
            Some(Lookup::Active(user)) => User(user),
            _ => return Err(unauthorized()),
        };
        let token = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        user.check_token(token).map_err(|_| {
            ApiError(
                StatusCode::FORBIDDEN,
                "The request's security token does not match your session.".into(),
            )
        })?;
        Ok(ApiUser(user))
    }
}

/// Certificates as the browser sends them: base64 DER, or PEM text.
fn read_certificates(items: &[String]) -> Result<Vec<Certificate>, ApiError> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ders = if containers::is_pem(item.as_bytes()) {
            containers::certificates_in(item.as_bytes())
                .map_err(|e| bad(format!("certificate {}: {e}", i + 1)))?
        } else {
            let der = B64
                .decode(item.trim())
                .map_err(|_| bad(format!("certificate {} is not base64", i + 1)))?;
            containers::certificates_in(&der)
                .map_err(|e| bad(format!("certificate {}: {e}", i + 1)))?
        };
        for der in ders {
            out.push(
                Certificate::from_der(&der)
                    .map_err(|e| bad(format!("certificate {}: {e}", i + 1)))?,
            );
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
pub struct RecipientsRequest {
    pub recipients: Vec<String>,
}

#[derive(Serialize)]
pub struct RecipientAnswer {
    pub address: String,
    /// "ok", "warning" (usable, revocation unknown) or "none".
    pub status: &'static str,
    /// Base64 DER of the certificate to encrypt to.
    pub certificate: Option<String>,
    /// Base64 DER of its issuers, anchor last, so the browser can check the certificate
    /// against the anchors it holds itself.
    pub chain: Vec<String>,
    pub source: Option<&'static str>,
    pub reason: String,
    /// The distribution list the address came from.
    pub via: Option<String>,
    /// What the certificate's owner can decrypt (policy names), if a signature of theirs said;
    /// absent when unknown.
    pub capabilities: Option<Vec<String>>,
}

impl RecipientAnswer {
    fn from_found(found: Found, via: Option<String>) -> Self {
        let status = match (&found.certificate, found.warning) {
            (Some(_), false) => "ok",
            (Some(_), true) => "warning",
            (None, _) => "none",
        };
        Self {
            address: found.address,
            status,
            certificate: found.certificate.map(|c| B64.encode(c.der())),
            chain: found.issuers.iter().map(|c| B64.encode(c.der())).collect(),
            source: found.source.map(|s| s.label()),
            reason: found.reason,
            via,
            capabilities: None,
        }
    }

    /// Adds what the directory learnt of the certificate's capabilities: from signatures the
    /// server verified, else from what `owner` harvested.
    async fn with_capabilities(
        mut self,
        directory: &crate::directory::Directory,
        owner: &str,
        cert: Option<&Certificate>,
    ) -> Self {
        if let Some(cert) = cert {
            self.capabilities = match directory.capabilities(cert).await.ok().flatten() {
                Some(known) => Some(known),
                None => directory
                    .harvested_capabilities(owner, cert)
                    .await
                    .ok()
                    .flatten(),
            };
        }
        self
    }
}

#[derive(Serialize)]
pub struct RecipientsResponse {
    /// The sender's own encryption certificate (so Sent Items stays readable).
    pub sender: RecipientAnswer,
    pub recipients: Vec<RecipientAnswer>,
    /// Lists that could not be expanded, loops, a live directory that could not be reached.
    pub problems: Vec<String>,
}

/// `POST /api/recipients` `{"recipients": ["a@x", "list@x"]}` → per recipient (lists
/// expanded) a certificate or the reason there is none, plus the sender's own.
pub async fn recipients(
    State(state): State<Shared>,
    ApiUser(user): ApiUser,
    Json(request): Json<RecipientsRequest>,
) -> Result<Json<RecipientsResponse>, ApiError> {
    let checker = state.checker();
    let settings = &checker.settings;
    let limit = settings.recipient_limit_for(&user.0.email);
    if request.recipients.len() > limit {
        return Err(bad(format!(
            "This message has more than {limit} recipients."
        )));
    }
    let expanded = state
        .expand_lists(&user.0.email, &request.recipients)
        .await
        .map_err(|e| bad(e.to_string()))?;
    let now = crate::db::now();
    let owner = user.0.email.clone();
    // Recipients are looked up concurrently — their CRLs are fetched in parallel, and a CRL
    // they share is fetched once — but a bounded number at a time, so 5000 recipients do not
    // queue 5000 lookups on the database pool at once. `buffered` keeps the request's order.
    let answers: Vec<RecipientAnswer> = futures::stream::iter(expanded.recipients)
        .map(|r| {
            let state = state.clone();
            let checker = checker.clone();
            let owner = owner.clone();
            async move {
                let found = lookup::find_certificate(
                    &state.directory,
                    &checker,
                    &owner,
                    &r.address,
                    Usage::Encrypt,
                    now,
                )
                .await;
                let cert = found.certificate.clone();
                RecipientAnswer::from_found(found, r.via)
                    .with_capabilities(&state.directory, &owner, cert.as_ref())
                    .await
            }
        })
        .buffered(LOOKUP_CONCURRENCY)
        .collect()
        .await;
    let sender = lookup::find_certificate(
        &state.directory,
        &checker,
        &owner,
        &owner,
        Usage::Encrypt,
        now,
    )
    .await;
    let mut problems = expanded.problems;
    problems.extend(state.directory.live_directory_trouble());
    Ok(Json(RecipientsResponse {
        sender: RecipientAnswer::from_found(sender, None),
        recipients: answers,
        problems,
    }))
}

#[derive(Deserialize)]
pub struct SuggestQuery {
    #[serde(default)]
    pub q: String,
}

#[derive(Serialize)]
pub struct Suggestion {
    pub name: String,
    pub address: String,
    /// "contacts", "directory" or "recent".
    pub source: &'static str,
    /// A usable certificate was found for the address (the recipients lookup's answer).
    pub can_encrypt: bool,
}

#[derive(Serialize)]
pub struct SuggestResponse {
    pub suggestions: Vec<Suggestion>,
}

/// Most suggestions for one query.
const SUGGESTIONS: usize = 8;
/// Longest query looked up; a longer one is no search but a pasted list.
const MAX_QUERY: usize = 100;

/// `GET /api/suggest?q=ann` → who the user may mean: personal contacts, then addresses
/// recently sent to, then the live directory and the imported one; each says whether mail to it
/// can be encrypted.
pub async fn suggest(
    State(state): State<Shared>,
    ApiUser(user): ApiUser,
    axum::extract::Query(query): axum::extract::Query<SuggestQuery>,
) -> Json<SuggestResponse> {
    use crate::contacts::suggest::{
        self, LiveDirectory, OrganisationDirectory, PersonalContacts, RecentlyUsed,
    };
    let q = query.q.trim();
    if q.is_empty() || q.chars().count() > MAX_QUERY {
        return Json(SuggestResponse {
            suggestions: Vec::new(),
        });
    }
    let owner = user.0.email.clone();
    let contacts = PersonalContacts(state.contacts.clone());
    let live = LiveDirectory(state.directory.clone());
    let directory = OrganisationDirectory(state.directory.clone());
    let recent = RecentlyUsed(state.contacts.clone());
    let found = suggest::suggest(
        &[&contacts, &recent, &live, &directory],
        &owner,
        q,
        SUGGESTIONS,
    )
    .await;
    let checker = state.checker();
    let now = crate::db::now();
    let suggestions = futures::stream::iter(found)
        .map(|c| {
            let (state, checker, owner) = (state.clone(), checker.clone(), owner.clone());
            async move {
                let found = lookup::find_certificate(
                    &state.directory,
                    &checker,
                    &owner,
                    &c.address,
                    Usage::Encrypt,
                    now,
                )
                .await;
                Suggestion {
                    can_encrypt: found.certificate.is_some(),
                    name: c.name,
                    address: c.address,
                    source: c.origin.as_str(),
                }
            }
        })
        .buffered(SUGGESTIONS)
        .collect()
        .await;
    Json(SuggestResponse { suggestions })
}

#[derive(Deserialize)]
pub struct CertificatesRequest {
    /// Base64 DER (certificate or PKCS#7) or PEM text, one certificate set per item.
    pub certificates: Vec<String>,
}

#[derive(Serialize)]
pub struct PublishResponse {
    pub published: usize,
}

/// `POST /api/certificates/publish` `{"certificates": [...]}`: replaces the user's own
/// directory certificates; `userCertificate` and `userSMIMECertificate` get the same set.
pub async fn publish(
    State(state): State<Shared>,
    ApiUser(user): ApiUser,
    Json(request): Json<CertificatesRequest>,
) -> Result<Json<PublishResponse>, ApiError> {
    let certs = read_certificates(&request.certificates)?;
    if state.policy.current().require_key_archival {
        crate::recovery::Archives::new(state.db.clone())
            .check_publish(&user.0.email, &certs)
            .await
            .map_err(super::key_recovery::refused)?;
    }
    let published = state
        .directory
        .publish(&user.0.email, &certs)
        .await
        .map_err(directory_refusal)?;
    Ok(Json(PublishResponse { published }))
}

/// The directory's refusal as the browser hears it: a 422 with its sentence; its own trouble a 500.
pub(super) fn directory_refusal(e: crate::directory::DirectoryError) -> ApiError {
    match e {
        crate::directory::DirectoryError::Refused(why) => bad(why),
        other => internal(other),
    }
}

#[derive(Serialize)]
pub struct Added {
    pub address: String,
    pub fingerprint: String,
}

#[derive(Serialize)]
pub struct ContactsResponse {
    pub added: Vec<Added>,
    pub refused: Vec<String>,
}

/// `POST /api/contacts/certificates` `{"certificates": [...]}`: adds a (verified) sender's
/// certificates to the user's contacts, each under the addresses it names. A certificate that
/// does not validate now is refused with its reason; CA certificates are skipped.
pub async fn add_to_contacts(
    State(state): State<Shared>,
    ApiUser(user): ApiUser,
    Json(request): Json<CertificatesRequest>,
) -> Result<Json<ContactsResponse>, ApiError> {
    let certs = read_certificates(&request.certificates)?;
    let now = crate::db::now();
    let checker = state.checker();
    let mut out = ContactsResponse {
        added: Vec::new(),
        refused: Vec::new(),
    };
    for cert in certs.iter().filter(|c| !c.is_ca()) {
        let checked = checker.check(cert, &certs, Usage::Any, None, now).await;
        if !checked.usable(checker.settings.check_crl) {
            out.refused
                .push(format!("{}: {}", cert.subject(), checked.reason()));
            continue;
        }
        let addresses = cert.email_addresses();
        if addresses.is_empty() {
            out.refused.push(format!(
                "{}: the certificate names no e-mail address",
                cert.subject()
            ));
            continue;
        }
        for address in addresses {
            state
                .directory
                .add_user_certificate(&user.0.email, UserSource::Contact, &address, cert)
                .await
                .map_err(internal)?;
            out.added.push(Added {
                address: normalize(&address),
                fingerprint: crate::directory::fingerprint_hex(cert),
            });
        }
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
pub struct SignatureRequest {
    /// The signer's certificate first, then every certificate the message carried.
    pub certificates: Vec<String>,
    /// What the browser's engine found checking the signature itself.
    pub facts: SignerFacts,
    /// The message's From address, for the wording.
    #[serde(default)]
    pub from: String,
}

/// `POST /api/signature/report`: the browser verified a signature inside an encrypted
/// message; the server checks the signer's certificate chain and revocation and words the
/// verdict exactly as it does for signed mail it verified itself.
pub async fn signature_report(
    State(state): State<Shared>,
    ApiUser(user): ApiUser,
    Json(request): Json<SignatureRequest>,
) -> Result<Json<SignatureReport>, ApiError> {
    let certs = read_certificates(&request.certificates)?;
    let signer = certs.first();
    let checked = match signer {
        Some(cert) => Some(
            state
                .checker()
                .check(cert, &certs, Usage::Sign, None, crate::db::now())
                .await,
        ),
        None => None,
    };
    // The facts here are the page's word (the server cannot see inside the encryption), so
    // nothing is learnt from them for everyone: anyone could claim what bob's program reads.
    // The reader's own address book may take the certificate, though: it validated here, and
    // the reader could have added it to contacts with one click anyway.
    if let (Some(cert), Some(checked)) = (signer, &checked) {
        harvest_signer(
            &state,
            &user.0.email,
            &request.facts,
            cert,
            checked,
            &request.from,
        )
        .await;
    }
    Ok(Json(secure::report(
        &request.facts,
        signer,
        checked.as_ref(),
        &request.from,
    )))
}

/// A valid signature the server verified itself tells what its signer's software can decrypt
/// (SMIMECapabilities): keep it, so mail back to them uses the strongest cipher they read.
pub async fn learn_capabilities(
    state: &Shared,
    facts: &secure::SignerFacts,
    cert: &Certificate,
    checked: &crate::trust::Checked,
) {
    let algorithms = facts.encryption_capabilities();
    if algorithms.is_empty() || !(facts.digest_ok && facts.signature_ok && checked.is_valid()) {
        return;
    }
    // A signing time in the future would pin these capabilities against later signatures.
    let now = crate::db::now();
    let signed_at = facts.signing_time.map_or(now, |t| t.min(now));
    if let Err(e) = state
        .directory
        .record_capabilities(cert, &algorithms, signed_at)
        .await
    {
        tracing::warn!("remembering a signer's capabilities failed: {e}");
    }
}

/// A signature that is valid and trusted files its signer's certificate, and what it announced
/// it can decrypt, in the reader's address book (harvesting): writing back can then be
/// encrypted without importing anything. Only for the message's one sender, whom the
/// certificate must name; a failure to store is logged, the reader still gets the message.
pub async fn harvest_signer(
    state: &Shared,
    owner: &str,
    facts: &secure::SignerFacts,
    cert: &Certificate,
    checked: &crate::trust::Checked,
    from: &str,
) {
    if !facts.vouched_for(checked) || cert.is_ca() {
        return;
    }
    let senders = smime::mime::addresses(from);
    let [sender] = senders.as_slice() else {
        return;
    };
    let sender = normalize(sender);
    if !cert
        .email_addresses()
        .iter()
        .any(|a| normalize(a) == sender)
    {
        return;
    }
    // A signing time in the future would outrank every later signature.
    let now = crate::db::now();
    let signed_at = facts.signing_time.map_or(now, |t| t.min(now));
    let capabilities = facts.encryption_capabilities();
    let harvest = crate::directory::harvest::Harvest {
        owner,
        address: &sender,
        certificate: cert,
        signed_at,
        capabilities: &capabilities,
    };
    if let Err(e) = state.directory.harvest(harvest).await {
        tracing::warn!("keeping a signer's certificate failed: {e}");
    }
}

#[derive(Serialize)]
pub struct ChainResponse {
    /// Base64 DER, issuer of the certificate first, trust anchor last.
    pub chain: Vec<String>,
}

/// `POST /api/chain` `{"certificates": [signing certificate, anything carried]}`: the path the
/// server validates for the user's own signing certificate, for the page to carry in signatures
/// (SecurityFlags 0x001/0x002) even when the digital ID file holds no chain. Refused when the
/// certificate is not the user's or does not validate.
pub async fn chain(
    State(state): State<Shared>,
    ApiUser(user): ApiUser,
    Json(request): Json<CertificatesRequest>,
) -> Result<Json<ChainResponse>, ApiError> {
    let certs = read_certificates(&request.certificates)?;
    let Some(cert) = certs.first() else {
        return Err(bad(String::from("No certificate was given.")));
    };
    let checker = state.checker();
    let checked = checker
        .check(
            cert,
            &certs,
            Usage::Sign,
            Some(&user.0.email),
            crate::db::now(),
        )
        .await;
    if !checked.usable(checker.settings.check_crl) {
        return Err(bad(checked.reason()));
    }
    Ok(Json(ChainResponse {
        chain: checked
            .verdict
            .path
            .iter()
            .skip(1)
            .map(|c| B64.encode(c.der()))
            .collect(),
    }))
}
