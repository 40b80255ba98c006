//! The send workflow, in one place: claim the send id, submit over SMTP, record the outcome, and
//! file the sender's copy in Sent. Every send (plain or sealed, and each message a send is split
//! into) goes through [`deliver`], so the exactly-once rule lives here and in `outbox`.

use axum::http::StatusCode;
use tracing::Instrument;

use super::{FolderRole, Shared};
use crate::imap;
use crate::mail::compose::{self, Copy, Draft};
use crate::metrics::SendOutcome;
use crate::outbox::Claim;
use crate::sessions::SignedIn;
use crate::smtp::SmtpError;

use super::errors::PageError;

/// What one send attempt came to.
pub enum Outcome {
    /// Delivered (now or by an earlier attempt with the same send id) and filed or queued for
    /// filing in Sent.
    Sent,
    /// Nothing went out; the reason is for the user.
    NotSent(StatusCode, String),
    /// It may have gone out: the mail server took it and never confirmed it. Never retried by
    /// itself; the user decides after checking.
    Uncertain(String),
}

/// What the user is told when a send's outcome is uncertain, and on every retry of it.
pub const UNCERTAIN: &str = "Sealmail cannot tell whether this message was sent: the outgoing mail server took it but the \
     connection broke before it confirmed. It may well have been delivered. Check with the recipients \
     (or wait for their reply) before sending it again; to send it anyway, choose \"Send again as a new message\".";

/// One message of a send: the whole send, or one of the messages it is split into when Bcc
/// recipients get their own encrypted copy.
pub struct Part<'a> {
    /// The outbox id: the form's send id, with a suffix for each split-off message.
    pub send_id: &'a str,
    /// Who gets it (SMTP RCPT TO); may be empty when only Bcc recipients were named.
    pub recipients: Vec<String>,
    /// Only one message of a send is the sender's copy in Sent.
    pub file_in_sent: bool,
}

/// Claims the send id, builds both copies, submits, and files the sender's copy.
pub async fn deliver(
    state: &Shared,
    user: &SignedIn,
    part: &Part<'_>,
    draft: &Draft,
    build: impl Fn(Copy) -> Result<Vec<u8>, compose::ComposeError>,
) -> Result<Outcome, PageError> {
    let send_id = part.send_id;
    match state
        .outbox
        .claim(send_id, &user.email, &draft.message_id)
        .await?
    {
        Claim::Done => return Ok(Outcome::Sent),
        Claim::InProgress => {
            let why = "This message is already being sent. Check Sent in a moment before sending it again.";
            return Ok(Outcome::NotSent(StatusCode::CONFLICT, why.into()));
        }
        Claim::Uncertain => return Ok(Outcome::Uncertain(UNCERTAIN.into())),
        Claim::Submitted {
            sent_copy,
            message_id,
        } => {
            if !state.outbox.claim_filing(send_id).await? {
                // Another request is filing it right now: it was sent all the same.
                return Ok(Outcome::Sent);
            }
            if part.file_in_sent {
                file_in_sent(state, user, send_id, &message_id, &sent_copy, true).await;
            } else {
                state.outbox.mark_filed(send_id).await?;
            }
            return Ok(Outcome::Sent);
        }
        Claim::Fresh => {}
    }
    let (delivered, kept) = match build(Copy::Delivered).and_then(|d| Ok((d, build(Copy::Kept)?))) {
        Ok(pair) => pair,
        Err(e) => {
            state.outbox.release(send_id).await?;
            return Ok(Outcome::NotSent(
                StatusCode::UNPROCESSABLE_ENTITY,
                e.to_string(),
            ));
        }
    };
    // The submission runs on its own task: a browser that goes away (a closed tab, a dropped
    // connection) must not cancel a send half way and leave its bookkeeping undone.
    let job = Submission {
        state: state.clone(),
        user: user.clone(),
        send_id: send_id.to_string(),
        message_id: draft.message_id.clone(),
        recipients: part.recipients.clone(),
        file_in_sent: part.file_in_sent,
        delivered,
        kept,
    };
    // The request's span goes along, so the send's log lines carry the request id.
    tokio::spawn(counted(state.clone(), job.run()).in_current_span())
        .await
        .map_err(|e| PageError::Internal(e.into()))?
}

/// Counts what a submission came to, inside its task, so a send whose browser went away is
/// counted too. (Answers from the outbox about an earlier attempt are not new sends.)
async fn counted(
    state: Shared,
    run: impl Future<Output = Result<Outcome, PageError>>,
) -> Result<Outcome, PageError> {
    let outcome = run.await;
    if let Ok(outcome) = &outcome {
        state.metrics.send(match outcome {
            Outcome::Sent => SendOutcome::Sent,
            Outcome::NotSent(..) => SendOutcome::NotSent,
            Outcome::Uncertain(_) => SendOutcome::Uncertain,
        });
    }
    outcome
}

struct Submission {
    state: Shared,
    user: SignedIn,
    send_id: String,
    message_id: String,
    recipients: Vec<String>,
    file_in_sent: bool,
    delivered: Vec<u8>,
    kept: Vec<u8>,
}

impl Submission {
    async fn run(self) -> Result<Outcome, PageError> {
        let (state, user, send_id) = (&self.state, &self.user, self.send_id.as_str());
        // A split-off copy is never filed, so none is kept for filing later either.
        let sent_copy: &[u8] = if self.file_in_sent { &self.kept } else { &[] };
        let lease = std::time::Duration::from_secs(state.config.smtp.send_lease_seconds());
        let submitted = match tokio::time::timeout(lease, self.submit(sent_copy)).await {
            Ok(result) => result,
            // Past the lease the sweeper may already have settled this send; what happened is
            // unknown.
            Err(_) => Err(SmtpError::Uncertain("the submission took too long".into())),
        };
        match submitted {
            Ok(()) => {}
            Err(e) if e.may_have_been_sent() => {
                tracing::warn!(user = %user.email, send_id, "SMTP outcome unknown: {e}");
                state.outbox.mark_uncertain(send_id).await?;
                return Ok(Outcome::Uncertain(UNCERTAIN.into()));
            }
            Err(e) => {
                tracing::warn!(user = %user.email, "SMTP submission failed: {e}");
                state.outbox.release(send_id).await?;
                let status = match e {
                    SmtpError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                    _ => StatusCode::SERVICE_UNAVAILABLE,
                };
                return Ok(Outcome::NotSent(status, e.to_string()));
            }
        }
        // From here on the message is out: never report failure, only finish the bookkeeping.
        if let Err(e) = state.outbox.mark_filing(send_id).await {
            tracing::error!(user = %user.email, "sent, but recording it failed: {e}");
        }
        // For recipient suggestions; losing this loses a convenience, not the send.
        if let Err(e) = state
            .contacts
            .remember_recipients(&user.email, &self.recipients)
            .await
        {
            tracing::warn!(user = %user.email, "sent, but remembering its recipients failed: {e}");
        }
        if self.file_in_sent {
            file_in_sent(state, user, send_id, &self.message_id, &self.kept, false).await;
        } else if let Err(e) = state.outbox.mark_filed(send_id).await {
            // Left unmarked, a later page would file this split-off copy in Sent as well.
            tracing::error!(user = %user.email, "sent, but recording it failed: {e}");
        }
        Ok(Outcome::Sent)
    }

    /// Submits over SMTP, recording just before the message goes out that it is going out.
    async fn submit(&self, sent_copy: &[u8]) -> Result<(), SmtpError> {
        let (state, user) = (&self.state, &self.user);
        let record =
            |e: sqlx::Error| SmtpError::Setup(format!("the outbox cannot be written: {e}"));
        if self.recipients.is_empty() {
            // Only Bcc recipients, each sent their own copy: this part goes to nobody.
            return state
                .outbox
                .mark_sending(&self.send_id, sent_copy)
                .await
                .map_err(record);
        }
        let open = state
            .smtp
            .open(
                &user.email,
                &user.password,
                &user.email,
                &self.recipients,
                &self.delivered,
            )
            .await?;
        if let Err(e) = state.outbox.mark_sending(&self.send_id, sent_copy).await {
            open.abort().await;
            return Err(record(e));
        }
        open.transmit(&self.delivered).await
    }
}

/// Files the sender's copy in Sent; the caller holds the send in `filing`. `may_be_filed`: an
/// earlier attempt may have stored it (a recovered or retried filing), so Sent is searched for
/// it first; right after the send nothing can have, and the search of a large Sent is skipped.
/// A failure is left for `file_pending_sent_copies` on a later page.
pub async fn file_in_sent(
    state: &Shared,
    user: &SignedIn,
    send_id: &str,
    message_id: &str,
    copy: &[u8],
    may_be_filed: bool,
) {
    let mut tried = false;
    let filed = with_imap!(state, user, |conn| {
        let sent = imap::mailbox::special_folder(conn, FolderRole::Sent)
            .await?
            .unwrap_or_else(|| "Sent".into());
        let stored = match may_be_filed || tried {
            true => imap::mailbox::find_by_message_id(conn, &sent, message_id).await?,
            false => None,
        };
        tried = true;
        if stored.is_none() {
            imap::mailbox::append(conn, &sent, "(\\Seen)", copy).await?;
        }
        Ok(())
    });
    match filed {
        Ok(()) => {
            if let Err(e) = state.outbox.mark_filed(send_id).await {
                tracing::error!(user = %user.email, "filed in Sent, but recording it failed: {e}");
            }
        }
        Err(e) => {
            tracing::warn!(user = %user.email, "filing in Sent failed, will retry: {e}");
            if let Err(e) = state.outbox.release_filing(send_id).await {
                tracing::error!(user = %user.email, "updating the outbox failed: {e}");
            }
        }
    }
}

/// Files the Sent copies of sends that were accepted but not filed (a failed filing, or a send
/// whose server process stopped and was recovered).
pub async fn file_pending_sent_copies(state: &Shared, user: &SignedIn) {
    match state.outbox.pending(&user.email).await {
        Ok(pending) => {
            for p in pending {
                match state.outbox.claim_filing(&p.send_id).await {
                    Ok(true) => {}
                    // Another request (another tab) is filing this one.
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::warn!(user = %user.email, "updating the outbox failed: {e}");
                        continue;
                    }
                }
                if p.sent_copy.is_empty() {
                    // A copy split off for Bcc recipients: it is not the Sent copy.
                    if let Err(e) = state.outbox.mark_filed(&p.send_id).await {
                        tracing::warn!(user = %user.email, "updating the outbox failed: {e}");
                    }
                    continue;
                }
                file_in_sent(state, user, &p.send_id, &p.message_id, &p.sent_copy, true).await;
            }
        }
        Err(e) => tracing::warn!(user = %user.email, "reading the outbox failed: {e}"),
    }
}
