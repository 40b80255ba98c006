//! Writing and sending mail.
//!
//! The rule this module keeps: a message the user sent is delivered and filed in Sent exactly
//! once, or the user is told it was not sent and the draft is in Drafts. See `outbox` for how a
//! retried send stays single.

mod after_send;
mod checks;
mod form;
mod page;
mod plain;
mod sealed;

pub(in crate::web) use form::{domain_of, kept_attachments, kept_list, read_form, sender};
pub use page::compose_page;
pub use plain::submit;
pub use sealed::submit_sealed;
