//! Checks both kinds of send make before anything goes out: distribution lists expanded
//! against the recipient limit, and policy refusals worded and counted.

use crate::policy;
use crate::sessions::SignedIn;
use crate::web::Shared;

/// `addresses` with distribution lists replaced by their members (nested lists followed), as
/// the lookup endpoint expands them; an error says the user's recipient limit was passed, which
/// is how every send checks that limit.
pub(super) async fn expand_lists(
    state: &Shared,
    user: &SignedIn,
    addresses: &[String],
) -> Result<Vec<String>, String> {
    let expanded = state
        .expand_lists(&user.email, addresses)
        .await
        .map_err(|e| e.to_string().trim_end_matches('.').to_string())?;
    Ok(expanded.recipients.into_iter().map(|r| r.address).collect())
}

/// Counts and logs a send refused by policy, and words the reason for the user. The log and
/// the metric get a fixed word only: the user's words may name a Bcc recipient.
pub(super) fn policy_refusal(
    state: &Shared,
    user: &SignedIn,
    violation: policy::Violation,
) -> String {
    count_refusal(state, user, violation.label());
    violation.to_string()
}

pub(super) fn count_refusal(state: &Shared, user: &SignedIn, reason: &'static str) {
    state.metrics.policy_refusal(reason);
    tracing::info!(user = %user.email, reason, "send refused by the S/MIME policy");
}
