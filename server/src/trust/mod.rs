//! Live validation: the pure validator (the `pki` crate) fed with trust anchors from a folder,
//! intermediates from messages, the directory and AIA, and CRLs from a cache shared by every
//! user and instance, or OCSP answers (`ocsp.rs`). Everything here that touches the network, the database or the clock is
//! what `pki` may not.

mod checker;
mod crl_cache;
pub mod fetch;
mod files;
mod ocsp;

pub use checker::{Checked, Checker};
pub use crl_cache::{CrlCache, CrlEvent, CrlObserver, FAILURE_PAUSE};
pub use files::{SetupError, Trust, load_certificates, load_crls, parse_untrusted};

/// Most failed CRL URLs, and most fetched AIA URLs, remembered in memory (each map on its own):
/// URLs come from certificates anyone can send.
const MAX_REMEMBERED: usize = 10_000;
