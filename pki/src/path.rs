//! Certification path building and validation (RFC 5280 §6.1) for S/MIME (RFC 8550).
//!
//! Paths are built from the end entity upwards by name, preferring issuers whose subject key
//! identifier matches the authority key identifier, checking each link's signature as it is
//! added. Every complete path is then run through §6.1's checks and §6.3's revocation check;
//! the first path that passes wins. Work is bounded: path length, candidates per step,
//! signature verifications per call and the depth of CRL-signer validations are all capped.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use super::cert::{Cert, PublicKey, key_usage};
use super::crl;
use super::{
    Certificate, Inputs, Reason, Revocation, Usage, certificate_policies, constraints, oid,
    signature,
};

/// Longest path accepted, trust anchor excluded (PKITS' longest is 6).
const MAX_PATH_LEN: usize = 10;
/// Issuer candidates tried per step.
const MAX_CANDIDATES: usize = 8;
/// Signature verifications per top-level validation (each is ~50 µs for RSA-2048).
const SIGNATURE_BUDGET: u32 = 2_000;
/// Search steps (candidate paths extended or validated) per top-level validation: cached
/// signature results cost nothing, so without this a pool of cross-certified CAs could make
/// the number of paths explored exponential.
const STEP_BUDGET: u32 = 5_000;
/// Nesting of "validate the CRL signer's own path" (§6.3.3 (f)).
const MAX_SIGNER_DEPTH: usize = 3;

/// What the last certificate of a path is being validated for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purpose<'a> {
    EndEntity {
        usage: Usage,
        email: Option<&'a str>,
    },
    CrlSigner,
}

/// Why a path failed, with a detail for logs.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub reason: Reason,
    pub detail: String,
    pub path: Vec<Certificate>,
    pub revocation: Revocation,
}

/// A validated path, end entity first, trust anchor last.
#[derive(Debug, Clone)]
pub(crate) struct Success {
    pub path: Vec<Certificate>,
    pub revocation: Revocation,
}

/// (child, issuer) fingerprints: one signature check.
type LinkKey = ([u8; 32], [u8; 32]);

/// State shared by one validation, including nested CRL-signer validations.
pub(crate) struct Ctx<'a> {
    inputs: &'a Inputs<'a>,
    /// Untrusted certificates, without any that is also a trust anchor.
    pool: Vec<&'a Certificate>,
    budget: Cell<u32>,
    steps: Cell<u32>,
    sig_cache: RefCell<HashMap<LinkKey, bool>>,
    /// CRL signers whose validation is in progress (to break signer → CRL → signer cycles).
    signer_stack: RefCell<Vec<[u8; 32]>>,
}

impl<'a> Ctx<'a> {
    pub fn new(inputs: &'a Inputs<'a>) -> Self {
        let pool = inputs
            .intermediates
            .iter()
            .filter(|c| {
                !inputs
                    .trust_anchors
                    .iter()
                    .any(|a| a.fingerprint == c.fingerprint)
            })
            .collect();
        Ctx {
            inputs,
            pool,
            budget: Cell::new(SIGNATURE_BUDGET),
            steps: Cell::new(STEP_BUDGET),
            sig_cache: RefCell::new(HashMap::new()),
            signer_stack: RefCell::new(Vec::new()),
        }
    }

    fn spend(&self) -> bool {
        take_one(&self.budget)
    }

    fn step(&self) -> bool {
        take_one(&self.steps)
    }

    /// Did `issuer`'s key sign `child`? Cached, since failed paths are retried.
    ///
    /// A DSA issuer key without parameters cannot be checked until the path above it is
    /// known; such links are let through here and verified in [`validate`].
    fn signed_by(&self, child: &Certificate, issuer: &Certificate) -> bool {
        if issuer.inner.public_key.lacks_dsa_parameters() {
            return true;
        }
        let key = (child.fingerprint, issuer.fingerprint);
        if let Some(ok) = self.sig_cache.borrow().get(&key) {
            return *ok;
        }
        if !self.spend() {
            return false;
        }
        let c = &child.inner;
        let ok = signature::verify(
            c.tbs(),
            &c.signature_algorithm,
            &c.signature,
            &issuer.inner.public_key,
        )
        .is_ok();
        self.sig_cache.borrow_mut().insert(key, ok);
        ok
    }

    fn crl_signed_by(&self, list: &crl::Crl, signer: &PublicKey) -> bool {
        self.spend() && list.signed_by(signer)
    }
}

fn take_one(counter: &Cell<u32>) -> bool {
    let left = counter.get();
    if left == 0 {
        return false;
    }
    counter.set(left - 1);
    true
}

/// Builds paths from `leaf` to one of `anchors` and returns the first that validates, or
/// the failure of the first complete path (or why none could be built).
pub(crate) fn build(
    ctx: &Ctx<'_>,
    leaf: &Certificate,
    anchors: &[&Certificate],
    purpose: Purpose<'_>,
    depth: usize,
) -> Result<Success, Failure> {
    let mut chain = vec![leaf];
    let mut first_failure = None;
    let mut bad_signature = false;
    if let Some(ok) = search(
        ctx,
        &mut chain,
        anchors,
        purpose,
        depth,
        &mut first_failure,
        &mut bad_signature,
    ) {
        return Ok(ok);
    }
    Err(first_failure.unwrap_or_else(|| {
        let (reason, detail) = if bad_signature {
            (
                Reason::BadSignature,
                format!(
                    "no issuer's key verifies the signature of {}",
                    leaf.inner.subject
                ),
            )
        } else {
            (
                Reason::UntrustedIssuer,
                format!("no path from {} to a trust anchor", leaf.inner.subject),
            )
        };
        Failure {
            reason,
            detail,
            path: vec![leaf.clone()],
            revocation: Revocation::NotChecked,
        }
    }))
}

fn search<'c>(
    ctx: &Ctx<'c>,
    chain: &mut Vec<&'c Certificate>,
    anchors: &[&'c Certificate],
    purpose: Purpose<'_>,
    depth: usize,
    first_failure: &mut Option<Failure>,
    bad_signature: &mut bool,
) -> Option<Success> {
    if !ctx.step() {
        return None;
    }
    let last = *chain.last()?;
    for anchor in anchors
        .iter()
        .filter(|a| a.inner.subject == last.inner.issuer)
    {
        if !ctx.signed_by(last, anchor) {
            *bad_signature = true;
            continue;
        }
        if !ctx.step() {
            return None;
        }
        match validate(ctx, chain, anchor, purpose, depth) {
            Ok(ok) => return Some(ok),
            Err(f) => {
                first_failure.get_or_insert(f);
            }
        }
    }
    if chain.len() >= MAX_PATH_LEN {
        return None;
    }
    let mut candidates: Vec<&'c Certificate> = ctx
        .pool
        .iter()
        .copied()
        .filter(|c| c.inner.subject == last.inner.issuer)
        .filter(|c| !chain.iter().any(|x| x.fingerprint == c.fingerprint))
        .collect();
    // Key identifiers are hints, not proof: matching ones go first, the rest still count.
    let aki = last.inner.ext.authority_key_id.as_ref();
    candidates.sort_by_key(|c| aki.is_none() || c.inner.ext.subject_key_id.as_ref() != aki);
    for candidate in candidates.into_iter().take(MAX_CANDIDATES) {
        if !ctx.signed_by(last, candidate) {
            *bad_signature = true;
            continue;
        }
        chain.push(candidate);
        let found = search(
            ctx,
            chain,
            anchors,
            purpose,
            depth,
            first_failure,
            bad_signature,
        );
        chain.pop();
        if found.is_some() {
            return found;
        }
    }
    None
}

fn fail(reason: Reason, cert: &Cert, what: impl std::fmt::Display) -> (Reason, String) {
    (reason, format!("{}: {what}", cert.subject))
}

/// RFC 5280 §6.1 over `chain` (end entity first) ending at `anchor`, then §6.3 revocation.
fn validate(
    ctx: &Ctx<'_>,
    chain: &[&Certificate],
    anchor: &Certificate,
    purpose: Purpose<'_>,
    depth: usize,
) -> Result<Success, Failure> {
    // certs[0] is issued by the anchor; certs[n - 1] is the end entity.
    let certs: Vec<&Certificate> = chain.iter().rev().copied().collect();
    let mut path: Vec<Certificate> = chain.iter().map(|c| (*c).clone()).collect();
    path.push(anchor.clone());
    let failure = |(reason, detail): (Reason, String)| Failure {
        reason,
        detail,
        path: path.clone(),
        revocation: Revocation::NotChecked,
    };

    let keys = check_inherited_signatures(ctx, anchor, &certs).map_err(failure)?;
    check_structure(ctx.inputs.time, &certs, purpose).map_err(failure)?;

    // The administrator's distrust list applies to every certificate, anchor included.
    for c in certs.iter().copied().chain(std::iter::once(anchor)) {
        if ctx.inputs.untrusted.contains(&c.fingerprint) {
            return Err(failure(fail(
                Reason::Distrusted,
                &c.inner,
                "on the untrusted list",
            )));
        }
    }

    if !ctx.inputs.check_revocation {
        return Ok(Success {
            path,
            revocation: Revocation::Disabled,
        });
    }
    let mut missing = Vec::new();
    for (idx, cert) in certs.iter().enumerate() {
        let issuer = if idx == 0 { anchor } else { certs[idx - 1] };
        let issuer_key = keys.get(idx).unwrap_or(&issuer.inner.public_key);
        let mut signer_ok =
            |list: &crl::Crl| crl_signer_ok(ctx, list, issuer, issuer_key, anchor, depth);
        match crl::status(
            &cert.inner,
            ctx.inputs.crls,
            ctx.inputs.time,
            &mut signer_ok,
        ) {
            crl::Status::Good => {}
            crl::Status::Revoked { reason } => {
                let (reason, detail) = fail(
                    Reason::Revoked,
                    &cert.inner,
                    format!(
                        "revoked (reason code {})",
                        reason.map_or("none".into(), |r| r.to_string())
                    ),
                );
                return Err(Failure {
                    reason,
                    detail,
                    path,
                    revocation: Revocation::Checked,
                });
            }
            crl::Status::Undetermined { missing: m } => {
                for item in m {
                    if !missing.contains(&item) {
                        missing.push(item);
                    }
                }
            }
        }
    }
    if missing.is_empty() {
        Ok(Success {
            path,
            revocation: Revocation::Checked,
        })
    } else {
        let list: Vec<String> = missing.iter().map(ToString::to_string).collect();
        let detail = format!("no current CRL: {}", list.join(", "));
        Err(Failure {
            reason: Reason::RevocationUnknown,
            detail,
            path,
            revocation: Revocation::Unknown { missing },
        })
    }
}

/// Verifies the links [`Ctx::signed_by`] had to defer: those whose issuer key is a DSA key
/// that inherits its parameters from further up (§6.1.4 (f)). Returns the effective key of
/// the anchor and of each certificate, in path order, for checking CRL signatures.
fn check_inherited_signatures(
    ctx: &Ctx<'_>,
    anchor: &Certificate,
    certs: &[&Certificate],
) -> Result<Vec<PublicKey>, (Reason, String)> {
    let mut issuer_raw = &anchor.inner.public_key;
    let mut working = anchor.inner.public_key.clone();
    let mut keys = vec![working.clone()];
    for cert in certs {
        let c = &cert.inner;
        if issuer_raw.lacks_dsa_parameters()
            && !(ctx.spend()
                && signature::verify(c.tbs(), &c.signature_algorithm, &c.signature, &working)
                    .is_ok())
        {
            return Err(fail(Reason::BadSignature, c, "signature does not verify"));
        }
        working = c.public_key.inheriting_from(&working);
        keys.push(working.clone());
        issuer_raw = &c.public_key;
    }
    Ok(keys)
}

/// Everything of §6.1.3–§6.1.5 except signatures (checked while building) and revocation.
fn check_structure(
    now: i64,
    certs: &[&Certificate],
    purpose: Purpose<'_>,
) -> Result<(), (Reason, String)> {
    let n = certs.len();
    let mut policies = certificate_policies::State::new(n);
    let mut names = constraints::State::default();
    let mut max_path_length = n;
    for (idx, cert) in certs.iter().enumerate() {
        let c = &cert.inner;
        let i = idx + 1;
        if now < c.not_before {
            return Err(fail(Reason::NotYetValid, c, "not valid yet"));
        }
        if now > c.not_after {
            return Err(fail(Reason::Expired, c, "expired"));
        }
        // (b)/(c): self-issued intermediates are exempt from name constraints.
        if (!c.is_self_issued() || i == n) && !names.allows(c) {
            return Err(fail(
                Reason::NameConstraints,
                c,
                "a name is excluded or not permitted by an issuer's name constraints",
            ));
        }
        policies
            .process(c, i, n)
            .map_err(|e| fail(Reason::Policy, c, e))?;
        if c.ext.unknown_critical {
            return Err(fail(
                Reason::UnknownCriticalExtension,
                c,
                "unknown critical extension",
            ));
        }
        if i < n {
            policies
                .prepare_next(c, i)
                .map_err(|e| fail(Reason::Policy, c, e))?;
            if let Some(nc) = &c.ext.name_constraints
                && !names.add(nc)
            {
                return Err(fail(
                    Reason::NameConstraints,
                    c,
                    "too many name constraints",
                ));
            }
            // (k): only v3 certificates with cA = TRUE may issue.
            if c.version != 2 || !c.is_ca() {
                return Err(fail(Reason::NotACa, c, "not a CA certificate"));
            }
            if !c.is_self_issued() {
                if max_path_length == 0 {
                    return Err(fail(
                        Reason::PathTooLong,
                        c,
                        "path length constraint exceeded",
                    ));
                }
                max_path_length -= 1;
            }
            if let Some((_, Some(len))) = c.ext.basic_constraints {
                max_path_length = max_path_length.min(usize::try_from(len).unwrap_or(usize::MAX));
            }
            if !c.key_usage_allows(key_usage::KEY_CERT_SIGN) {
                return Err(fail(Reason::NotACa, c, "key usage lacks keyCertSign"));
            }
        } else {
            policies
                .wrap_up(c)
                .map_err(|e| fail(Reason::Policy, c, e))?;
            check_purpose(c, purpose)?;
        }
    }
    Ok(())
}

/// Whether the keyUsage extension, if present, allows `usage`: a signature (digitalSignature or
/// nonRepudiation), or receiving a content key (keyEncipherment or keyAgreement).
pub(crate) fn key_usage_fits(c: &Cert, usage: Usage) -> bool {
    match usage {
        Usage::Sign => {
            c.key_usage_allows(key_usage::DIGITAL_SIGNATURE)
                || c.key_usage_allows(key_usage::NON_REPUDIATION)
        }
        Usage::Encrypt => {
            c.key_usage_allows(key_usage::KEY_ENCIPHERMENT)
                || c.key_usage_allows(key_usage::KEY_AGREEMENT)
        }
        Usage::Any => true,
    }
}

/// RFC 8550 §4.4: key usage and extended key usage of the end entity, and its address.
pub(crate) fn check_purpose(c: &Cert, purpose: Purpose<'_>) -> Result<(), (Reason, String)> {
    match purpose {
        Purpose::CrlSigner => {
            if !c.key_usage_allows(key_usage::CRL_SIGN) {
                return Err(fail(Reason::WrongUsage, c, "key usage lacks cRLSign"));
            }
        }
        Purpose::EndEntity { usage, email } => {
            if !key_usage_fits(c, usage) {
                return Err(fail(
                    Reason::WrongUsage,
                    c,
                    "key usage does not allow this operation",
                ));
            }
            let eku_ok = c.ext.ext_key_usage.as_ref().is_none_or(|list| {
                list.iter().any(|o| {
                    oid::is(o, &oid::EMAIL_PROTECTION) || oid::is(o, &oid::ANY_EXTENDED_KEY_USAGE)
                })
            });
            if !eku_ok {
                return Err(fail(
                    Reason::WrongUsage,
                    c,
                    "extended key usage lacks emailProtection",
                ));
            }
            if let Some(address) = email {
                // Domain parts are case-insensitive; local parts are in practice too, and a
                // stricter comparison would only reject real senders.
                if !c
                    .email_addresses()
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(address))
                {
                    return Err(fail(
                        Reason::EmailMismatch,
                        c,
                        format!("not issued for {address}"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// §6.3.3 (f)–(g): is `list` signed by the certificate's issuer (with cRLSign), or by another
/// certificate whose own path validates to the same trust anchor?
fn crl_signer_ok(
    ctx: &Ctx<'_>,
    list: &crl::Crl,
    issuer: &Certificate,
    issuer_key: &PublicKey,
    anchor: &Certificate,
    depth: usize,
) -> bool {
    let i = &issuer.inner;
    if i.subject == list.issuer
        && i.key_usage_allows(key_usage::CRL_SIGN)
        && ctx.crl_signed_by(list, issuer_key)
    {
        return true;
    }
    if depth >= MAX_SIGNER_DEPTH {
        return false;
    }
    let candidates: Vec<&Certificate> = ctx
        .pool
        .iter()
        .copied()
        .filter(|c| c.fingerprint != issuer.fingerprint && c.inner.subject == list.issuer)
        .filter(|c| c.inner.key_usage_allows(key_usage::CRL_SIGN))
        .take(MAX_CANDIDATES)
        .collect();
    for candidate in candidates {
        if !ctx.crl_signed_by(list, &candidate.inner.public_key) {
            continue;
        }
        // A CRL issuer's own certificate may be covered by the CRL it signs (PKITS 4.14.30).
        // Its path is already being validated further up; accepting here breaks the cycle
        // without trusting anything that outer validation does not check.
        if ctx.signer_stack.borrow().contains(&candidate.fingerprint) {
            return true;
        }
        ctx.signer_stack.borrow_mut().push(candidate.fingerprint);
        let ok = build(ctx, candidate, &[anchor], Purpose::CrlSigner, depth + 1).is_ok();
        ctx.signer_stack.borrow_mut().pop();
        if ok {
            return true;
        }
    }
    false
}
