//! Key recovery: which of a user's keys the browser keeps a copy of for the organisation's
//! recovery agents, and whether the agents the server names may receive it.
//!
//! The copy is a private key, so the browser treats the agents as it treats recipients: the
//! server names them, but a copy is only encrypted to certificates that chain to the browser's
//! own trust anchors (the issuers of the user's digital IDs) and may receive encrypted data.

use crate::hex;
use crate::plan::{Own, anchors, certificates};

/// Whether a key with this certificate (DER) is archived: keys mail is encrypted to are, keys
/// that may only sign never are ("signing keys are never archived": a recovered signing key
/// could sign as the user).
pub fn needs_archival(certificate: &[u8]) -> bool {
    pki::Certificate::from_der(certificate).is_ok_and(|c| c.may_receive_encrypted())
}

/// A recovery agent the browser may not encrypt a key to, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    #[error(
        "Your organization requires a copy of your encryption key for its key recovery agents, but it names none."
    )]
    NoAgents,
    #[error(
        "The key recovery agent {subject} (SHA-256 fingerprint {fingerprint}) cannot be trusted with a copy of your key: {reason}"
    )]
    Untrusted {
        subject: String,
        fingerprint: String,
        reason: String,
    },
    #[error("A key recovery agent's certificate cannot be read.")]
    Unreadable,
}

/// The agents (base64 DER) a key copy may be encrypted to, as DER, in the order given; an
/// error names the first that may not.
pub fn check_agents(agents: &[String], own: &[Own], time: i64) -> Result<Vec<Vec<u8>>, AgentError> {
    if agents.is_empty() {
        return Err(AgentError::NoAgents);
    }
    let read = certificates(agents);
    if read.len() != agents.len() {
        return Err(AgentError::Unreadable);
    }
    let anchors = anchors(own, time);
    let mut out = Vec::new();
    for agent in read {
        let verdict = pki::validate_certificate(
            &agent,
            &pki::Inputs {
                trust_anchors: &anchors,
                intermediates: &[],
                crls: &[],
                time,
                usage: pki::Usage::Encrypt,
                email: None,
                untrusted: &[],
                check_revocation: false,
            },
        );
        if let pki::Status::Invalid(reason) = verdict.status {
            return Err(AgentError::Untrusted {
                subject: agent.subject(),
                fingerprint: hex(&agent.fingerprint()),
                reason: match reason {
                    pki::Reason::UntrustedIssuer => {
                        "it was issued by an authority this browser does not trust: none of your own digital IDs comes from it.".to_string()
                    }
                    other => format!("{other}."),
                },
            });
        }
        out.push(agent.der().to_vec());
    }
    Ok(out)
}
