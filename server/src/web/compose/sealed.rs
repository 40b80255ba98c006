//! `POST /compose/sealed`: sending a message the browser signed and/or encrypted, checked against
//! the policy and the recipients' certificates before it goes.

use axum::Json;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::db::now;
use crate::mail::compose;
use crate::mail::ids;
use crate::policy;
use crate::sessions::SignedIn;
use crate::web::Shared;
use crate::web::api::{ApiError, ApiUser, api_error};
use crate::web::deliver::{Outcome, Part, deliver};
use crate::web::errors::{PageError, TOO_LARGE};
use crate::web::identities as mine;
use pki::Usage;

use super::after_send::{SENT_LOCATION, remove_draft, send_again_id};
use super::checks::{count_refusal, expand_lists, policy_refusal};
use super::form::{BAD_SEND_ID, domain_of, read_form, sender};

/// `POST /compose/sealed`: a message whose body the browser signed and/or encrypted (the
/// `entity` field) with the compose form's header fields. Answers JSON — `{"location": …}` once
/// sent, `{"error": …}` when not. Nothing is saved as a draft on failure: the server cannot
/// read an encrypted body, so the page keeps the message and the user decides.
pub async fn submit_sealed(
    State(state): State<Shared>,
    ApiUser(user): ApiUser,
    multipart: Multipart,
) -> Result<Response, ApiError> {
    let mut s = read_form(multipart).await.map_err(|e| match e {
        PageError::TooLarge => api_error(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE.into()),
        other => api_error(StatusCode::BAD_REQUEST, other.to_string()),
    })?;
    if s.action == "send-new" {
        s.form.send_id = Some(s.send_id.clone());
        s.send_id = send_again_id(&s.send_id);
    }
    if !ids::is_send_id(&s.send_id) {
        return Err(api_error(StatusCode::BAD_REQUEST, BAD_SEND_ID.into()));
    }
    let Some(entity) = s.entity.as_deref() else {
        return Err(not_sent_json(
            StatusCode::BAD_REQUEST,
            "the signed or encrypted message is missing",
        ));
    };
    if s.fork_to.len() != s.fork_entities.len() {
        return Err(not_sent_json(
            StatusCode::BAD_REQUEST,
            "the messages for Bcc recipients came without their recipients",
        ));
    }
    let refused = |why: String| not_sent_json(StatusCode::UNPROCESSABLE_ENTITY, &why);
    let user = &user.0;
    let identities = mine::load(&state, user)
        .await
        .map_err(|e| not_sent_json(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()))?;
    let from = sender(&identities, &s.from).map_err(|e| refused(e.to_string()))?;
    let own: Vec<String> = identities.list.iter().map(|i| i.address.clone()).collect();
    let who = policy::Sender {
        from: &from.email,
        own: &own,
    };
    let message_id = format!("{}@{}", s.send_id, domain_of(&user.email));
    let draft = s
        .form
        .validate(from.clone(), message_id, now())
        .map_err(|e| refused(e.to_string()))?;
    // Once for the whole send, however many messages it is split into.
    expand_lists(&state, user, &draft.envelope_recipients())
        .await
        .map_err(refused)?;

    // Policy is enforced here again: the page follows it, but a modified page must not get
    // around it.
    let policy = state.policy.current();
    let shape = check_sealed(&state, user, &policy, who, entity).await?;
    let mut forks: Vec<Vec<String>> = Vec::with_capacity(s.fork_to.len());
    for to in &s.fork_to {
        let parsed = compose::parse_recipients(to).map_err(|e| refused(e.to_string()))?;
        forks.push(parsed.into_iter().map(|r| r.email).collect());
    }
    let mut bcc: Vec<String> = Vec::new();
    for r in &draft.bcc {
        if !bcc.iter().any(|b| b.eq_ignore_ascii_case(&r.email)) {
            bcc.push(r.email.clone());
        }
    }
    let encrypted = shape.encryption.is_some();
    let mode = policy.bcc_mode();
    policy::check_split(mode, encrypted, &bcc, &forks)
        .map_err(|v| refused(policy_refusal(&state, user, v)))?;
    let mut fork_shapes = Vec::with_capacity(forks.len());
    for fork_entity in &s.fork_entities {
        fork_shapes.push(check_sealed(&state, user, &policy, who, fork_entity).await?);
    }
    if !forks.is_empty() {
        // No message may name a Bcc recipient it does not go to. (The sender is named in every
        // message, to keep Sent readable; Bcc to oneself reveals nothing.)
        for address in bcc.iter().filter(|a| !a.eq_ignore_ascii_case(&user.email)) {
            let hidden = state.known_certificates(&user.email, address).await;
            let in_fork = |f: &Vec<String>| f.iter().any(|a| a.eq_ignore_ascii_case(address));
            let leaks = policy::reveals(&shape, &hidden)
                || forks
                    .iter()
                    .zip(&fork_shapes)
                    .any(|(f, shape)| !in_fork(f) && policy::reveals(shape, &hidden));
            if leaks {
                let violation = policy::Violation::BccRevealed(address.clone());
                return Err(refused(policy_refusal(&state, user, violation)));
            }
        }
    }

    // Under AlwaysEncrypt every recipient must be able to open what reaches them (the page
    // offers no "encrypt anyway" then): each message must name a certificate of each of its
    // recipients.
    if policy.always_encrypt {
        let bcc_split = !forks.is_empty();
        let mut parts: Vec<(&policy::Shape, Vec<String>)> = vec![(
            &shape,
            draft
                .envelope_recipients()
                .into_iter()
                .filter(|r| !bcc_split || !bcc.iter().any(|b| b.eq_ignore_ascii_case(r)))
                .collect(),
        )];
        parts.extend(fork_shapes.iter().zip(forks.iter().cloned()));
        for (part, recipients) in parts {
            // A distribution list has no certificate; its members must each be able to open it.
            let people = expand_lists(&state, user, &recipients)
                .await
                .map_err(refused)?;
            for address in people {
                let theirs = state.known_certificates(&user.email, &address).await;
                if !policy::reveals(part, &theirs) {
                    let violation = policy::Violation::NotForRecipient(address);
                    return Err(refused(policy_refusal(&state, user, violation)));
                }
            }
        }
    }

    // The message for To and Cc (and everyone, when nothing was split) is the Sent copy; each
    // split-off message has its own outbox id, so a retry sends only what did not go out.
    let visible: Vec<String> = if forks.is_empty() {
        draft.envelope_recipients()
    } else {
        draft
            .envelope_recipients()
            .into_iter()
            .filter(|r| !bcc.iter().any(|b| b.eq_ignore_ascii_case(r)))
            .collect()
    };
    let main = Part {
        send_id: &s.send_id,
        recipients: visible,
        file_in_sent: true,
    };
    let unavailable = |e: PageError| not_sent_json(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
    let outcome = deliver(&state, user, &main, &draft, |copy| {
        compose::build_sealed(&draft, copy, entity)
    })
    .await
    .map_err(unavailable)?;
    match outcome {
        Outcome::Sent => {}
        Outcome::NotSent(status, why) => return Err(not_sent_json(status, &why)),
        Outcome::Uncertain(why) => return Ok(uncertain_json(&why)),
    }
    for (to, fork_entity) in forks.iter().zip(&s.fork_entities) {
        let send_id = fork_send_id(&s.send_id, to);
        let part = Part {
            send_id: &send_id,
            recipients: to.clone(),
            file_in_sent: false,
        };
        let outcome = deliver(&state, user, &part, &draft, |copy| {
            compose::build_sealed(&draft, copy, fork_entity)
        })
        .await
        .map_err(unavailable)?;
        if let Outcome::Uncertain(why) = outcome {
            return Ok(uncertain_json(&format!(
                "It went to the To and Cc recipients, but for {}: {why}",
                to.join(", ")
            )));
        }
        if let Outcome::NotSent(status, why) = outcome {
            let why = format!(
                "it went to the To and Cc recipients, but not yet to {} ({why}); sending again sends it only where it has not gone",
                to.join(", ")
            );
            return Err(not_sent_json(status, &why));
        }
    }
    remove_draft(&state, user, &s).await;
    Ok(Json(serde_json::json!({ "location": SENT_LOCATION })).into_response())
}

/// The outbox id of the message split off for `to`: named by who it goes to, not by its
/// position, so a retry with a changed Bcc list cannot mistake one recipient's copy for
/// another's.
fn fork_send_id(send_id: &str, to: &[String]) -> String {
    use sha2::Digest;
    let mut addresses: Vec<String> = to.iter().map(|a| a.to_ascii_lowercase()).collect();
    addresses.sort();
    addresses.dedup();
    let digest = sha2::Sha256::digest(addresses.join(",").as_bytes());
    let short = send_rules::hex(&digest[..8]);
    format!("{send_id}-bcc-{short}")
}

/// One sealed message against the policy, then its outer signer's certificate against the
/// trust store: the signer must be this user, with a certificate valid now.
async fn check_sealed(
    state: &Shared,
    user: &SignedIn,
    policy: &policy::SmimePolicy,
    who: policy::Sender<'_>,
    entity: &[u8],
) -> Result<policy::Shape, ApiError> {
    let refused = |why: &str| not_sent_json(StatusCode::UNPROCESSABLE_ENTITY, why);
    if !matches!(
        smime::mime::parse_smime(entity),
        Ok(smime::mime::SmimeContent::ClearSigned { .. }
            | smime::mime::SmimeContent::Opaque { .. })
    ) {
        count_refusal(state, user, policy::Violation::Malformed.label());
        return Err(refused(
            "the browser did not produce a signed or encrypted message",
        ));
    }
    let shape = policy::check_submission(policy, who, entity)
        .map_err(|v| refused(&policy_refusal(state, user, v)))?;
    for signer in &shape.outer_signers {
        let Ok(cert) = pki::Certificate::from_der(signer.der()) else {
            count_refusal(state, user, "certificate_unusable");
            return Err(refused("the certificate you signed with cannot be read"));
        };
        // check_submission made sure it names one of the user's addresses.
        let address = who
            .address_in(signer)
            .unwrap_or_else(|| who.from.to_string());
        let checker = state.checker();
        let checked = checker
            .check(&cert, &[], Usage::Sign, Some(&address), now())
            .await;
        if !checked.usable(checker.settings.check_crl) {
            count_refusal(state, user, "certificate_unusable");
            return Err(refused(&format!(
                "the digital ID you signed with cannot be used: {}",
                checked.reason()
            )));
        }
    }
    Ok(shape)
}

fn not_sent_json(status: StatusCode, why: &str) -> ApiError {
    let why = why.trim_end_matches('.');
    api_error(
        status,
        format!(
            "Your message was not sent: {why}. It is still on this page: send it again, or save it as a draft."
        ),
    )
}

/// A sealed send that may have gone out: the page keeps the message and offers "Send again as a
/// new message".
fn uncertain_json(why: &str) -> Response {
    let body = serde_json::json!({ "error": why, "uncertain": true });
    (StatusCode::CONFLICT, Json(body)).into_response()
}
