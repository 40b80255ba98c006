//! Admin S/MIME policy: the `[smime]` section, named after the OWA settings admins know
//! (AlwaysSign, AlwaysEncrypt, ClearSign, TripleWrap, SmartCardOnly, EncryptionAlgorithms,
//! DefaultSigningAlgorithm, SecurityFlags, UseKeyIdentifier). The revocation and lookup settings
//! of the same family (DisableCRLCheck, CheckCRL, the retrieval timeouts, the recipient limit,
//! DLExpansionTimeout) live in `[pki]`, next to the validator that uses them.
//!
//! The browser follows the policy (it gets [`ClientPolicy`] with the compose page) and the server
//! enforces it again on submission ([`check_submission`]): a modified browser must not get around
//! it. [`Live`] holds the policy in force; the server re-reads its configuration file every few
//! seconds (`AppState::reload_config`) and swaps in a new policy only if the whole file is valid.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use smime::algorithms::{ContentEncryption, DigestAlgorithm, Oid, content_encryption_name};
use smime::decrypt::Envelope;
use smime::mime::SmimeContent;

/// How many days before a digital ID's certificate runs out its owner is told, in the pages, and
/// `sealmail cert expiring` lists it for the admin (by default).
pub const RENEWAL_NOTICE_DAYS: u32 = 30;

/// SecurityFlags bits (OWA's values). 0x004 (temporary buffer encryption) has no meaning here.
pub mod flags {
    /// Include the certificate chain without the root.
    pub const CHAIN_WITHOUT_ROOT: u32 = 0x001;
    /// Include the certificate chain with the root.
    pub const CHAIN_WITH_ROOT: u32 = 0x002;
    /// Only the signing certificate (no separate encryption certificate).
    pub const SIGNING_CERTIFICATE_ONLY: u32 = 0x008;
    /// One message for all Bcc recipients (instead of one each).
    pub const ONE_MESSAGE_FOR_ALL_BCC: u32 = 0x040;
    /// One message for everyone, Bcc included.
    pub const ONE_MESSAGE_FOR_EVERYONE: u32 = 0x080;
    /// Advertise SMIMECapabilities in signatures.
    pub const INCLUDE_CAPABILITIES: u32 = 0x100;
    /// Copy From/To/Cc/Subject inside the signature.
    pub const PROTECT_HEADERS: u32 = 0x200;
    /// Every bit Sealmail knows.
    pub const KNOWN: u32 = CHAIN_WITHOUT_ROOT
        | CHAIN_WITH_ROOT
        | SIGNING_CERTIFICATE_ONLY
        | ONE_MESSAGE_FOR_ALL_BCC
        | ONE_MESSAGE_FOR_EVERYONE
        | INCLUDE_CAPABILITIES
        | PROTECT_HEADERS;
}

/// A content-encryption algorithm an admin may allow for sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum EncryptionAlgorithm {
    #[serde(rename = "aes256-gcm")]
    Aes256Gcm,
    #[serde(rename = "aes128-gcm")]
    Aes128Gcm,
    #[serde(rename = "aes256-cbc")]
    Aes256Cbc,
    #[serde(rename = "aes128-cbc")]
    Aes128Cbc,
}

impl EncryptionAlgorithm {
    pub fn engine(self) -> ContentEncryption {
        match self {
            Self::Aes256Gcm => ContentEncryption::Aes256Gcm,
            Self::Aes128Gcm => ContentEncryption::Aes128Gcm,
            Self::Aes256Cbc => ContentEncryption::Aes256Cbc,
            Self::Aes128Cbc => ContentEncryption::Aes128Cbc,
        }
    }

    /// The algorithm an SMIMECapabilities entry names, if it is one of these.
    pub fn from_oid(oid: &Oid) -> Option<Self> {
        [
            Self::Aes256Gcm,
            Self::Aes128Gcm,
            Self::Aes256Cbc,
            Self::Aes128Cbc,
        ]
        .into_iter()
        .find(|a| a.engine().oid() == *oid)
    }

    /// The name the browser module and the config file use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Aes256Gcm => "aes256-gcm",
            Self::Aes128Gcm => "aes128-gcm",
            Self::Aes256Cbc => "aes256-cbc",
            Self::Aes128Cbc => "aes128-cbc",
        }
    }
}

/// A digest an admin may choose for signing. SHA-1 and MD5 are not among them: SHA-1 is read
/// only (old mail), MD5 not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum SigningAlgorithm {
    #[serde(rename = "sha256")]
    Sha256,
    #[serde(rename = "sha384")]
    Sha384,
    #[serde(rename = "sha512")]
    Sha512,
}

impl SigningAlgorithm {
    pub fn engine(self) -> DigestAlgorithm {
        match self {
            Self::Sha256 => DigestAlgorithm::Sha256,
            Self::Sha384 => DigestAlgorithm::Sha384,
            Self::Sha512 => DigestAlgorithm::Sha512,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }
}

/// The `[smime]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmimePolicy {
    /// AlwaysSign: every message from the web client is signed; the user cannot turn it off.
    pub always_sign: bool,
    /// AlwaysEncrypt: every message is encrypted; a recipient without a certificate blocks it.
    pub always_encrypt: bool,
    /// ClearSign: true — signed mail is multipart/signed (readable anywhere); false — opaque.
    pub clear_sign: bool,
    /// TripleWrap: signed and encrypted mail is signed again outside (sign, encrypt, sign), so
    /// the server and gateways can check the signature without decrypting.
    pub triple_wrap: bool,
    /// SmartCardOnly: keys held in the browser cannot sign or decrypt.
    pub smart_card_only: bool,
    /// Kiosks: pulling the smart card out signs the user out. Otherwise it only locks the
    /// card's keys (they are forgotten either way).
    pub card_removal_signs_out: bool,
    /// EncryptionAlgorithms, most preferred first.
    pub encryption_algorithms: Vec<EncryptionAlgorithm>,
    /// DefaultSigningAlgorithm.
    pub default_signing_algorithm: SigningAlgorithm,
    /// SecurityFlags (see [`flags`]).
    pub security_flags: u32,
    /// UseKeyIdentifier: recipients are named by subjectKeyIdentifier, not issuer and serial.
    pub use_key_identifier: bool,
    /// AllowUserChoiceOfSigningCertificate: with several digital IDs that may sign, the user
    /// picks one per message. Otherwise the page picks (a card first, then the newest).
    pub allow_user_choice_of_signing_certificate: bool,
    /// Dual keys: a digital ID requested in the browser is two key pairs, one that signs and
    /// one that receives encrypted mail (so the second can be archived without the first).
    pub dual_keys: bool,
    /// Key archival: every encryption key a user imports or makes gets a copy encrypted to the
    /// recovery agents, and the server refuses to publish an encryption certificate without it.
    pub require_key_archival: bool,
    /// The recovery agents' certificates (PEM, DER or PKCS#7 file).
    pub recovery_agents: Option<std::path::PathBuf>,
}

impl Default for SmimePolicy {
    fn default() -> Self {
        Self {
            always_sign: false,
            always_encrypt: false,
            clear_sign: true,
            triple_wrap: true,
            smart_card_only: false,
            card_removal_signs_out: false,
            encryption_algorithms: vec![
                EncryptionAlgorithm::Aes256Gcm,
                EncryptionAlgorithm::Aes128Gcm,
                EncryptionAlgorithm::Aes256Cbc,
                EncryptionAlgorithm::Aes128Cbc,
            ],
            default_signing_algorithm: SigningAlgorithm::Sha256,
            // OWA's default is 0 and relied on recipients fetching intermediates through AIA.
            // Here the chain (without the root) goes along, because readers such as openssl
            // and gpgsm do not fetch, and capabilities are announced so others can pick a strong
            // algorithm for mail back.
            security_flags: flags::CHAIN_WITHOUT_ROOT | flags::INCLUDE_CAPABILITIES,
            use_key_identifier: false,
            allow_user_choice_of_signing_certificate: false,
            dual_keys: false,
            require_key_archival: false,
            recovery_agents: None,
        }
    }
}

/// A policy setting with a value outside what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct PolicyError {
    pub setting: &'static str,
    pub problem: String,
}

impl SmimePolicy {
    /// Checks what the types cannot: a non-empty algorithm list without repeats, and flags that
    /// exist and do not contradict each other.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let invalid = |setting, problem: &str| PolicyError {
            setting,
            problem: problem.to_string(),
        };
        if self.encryption_algorithms.is_empty() {
            return Err(invalid(
                "smime.encryption_algorithms",
                "list at least one of \"aes256-gcm\", \"aes128-gcm\", \"aes256-cbc\", \"aes128-cbc\"",
            ));
        }
        for (i, a) in self.encryption_algorithms.iter().enumerate() {
            if self.encryption_algorithms[..i].contains(a) {
                return Err(invalid(
                    "smime.encryption_algorithms",
                    &format!("\"{}\" is listed twice", a.name()),
                ));
            }
        }
        if self.require_key_archival && self.recovery_agents.is_none() {
            return Err(invalid(
                "smime.recovery_agents",
                "name the file with the recovery agents' certificates: require_key_archival is on",
            ));
        }
        let f = self.security_flags;
        if f & !flags::KNOWN != 0 {
            return Err(invalid(
                "smime.security_flags",
                &format!(
                    "0x{:03x} has bits Sealmail does not know; allowed: a sum of 0x001, 0x002, 0x008, 0x040, 0x080, 0x100, 0x200",
                    f & !flags::KNOWN
                ),
            ));
        }
        let chain_bits = [flags::CHAIN_WITHOUT_ROOT, flags::CHAIN_WITH_ROOT]
            .iter()
            .filter(|b| f & **b != 0)
            .count();
        if chain_bits > 1 {
            return Err(invalid(
                "smime.security_flags",
                "0x001 (chain without root) and 0x002 (chain with root) exclude each other",
            ));
        }
        if f & flags::ONE_MESSAGE_FOR_ALL_BCC != 0 && f & flags::ONE_MESSAGE_FOR_EVERYONE != 0 {
            return Err(invalid(
                "smime.security_flags",
                "0x040 (one message for all Bcc) and 0x080 (one message for everyone) exclude each other",
            ));
        }
        Ok(())
    }

    /// Is this content encryption one the admin allows?
    pub fn allows_encryption(&self, algorithm: &Oid) -> bool {
        self.encryption_algorithms
            .iter()
            .any(|a| a.engine().oid() == *algorithm)
    }

    /// How Bcc recipients of encrypted mail get their copy (SecurityFlags 0x040, 0x080).
    pub fn bcc_mode(&self) -> BccMode {
        if self.security_flags & flags::ONE_MESSAGE_FOR_EVERYONE != 0 {
            BccMode::WithEveryone
        } else if self.security_flags & flags::ONE_MESSAGE_FOR_ALL_BCC != 0 {
            BccMode::Together
        } else {
            BccMode::Separate
        }
    }

    /// What the compose page needs to follow the policy.
    pub fn for_client(&self) -> ClientPolicy {
        let f = self.security_flags;
        ClientPolicy {
            always_sign: self.always_sign,
            always_encrypt: self.always_encrypt,
            clear_sign: self.clear_sign,
            triple_wrap: self.triple_wrap,
            smart_card_only: self.smart_card_only,
            encryption_algorithms: self
                .encryption_algorithms
                .iter()
                .map(|a| a.name())
                .collect(),
            digest: self.default_signing_algorithm.name(),
            chain: if f & flags::CHAIN_WITH_ROOT != 0 {
                "with-root"
            } else if f & flags::CHAIN_WITHOUT_ROOT != 0 {
                "without-root"
            } else {
                "none"
            },
            capabilities: f & flags::INCLUDE_CAPABILITIES != 0,
            key_identifier: self.use_key_identifier,
            bcc: self.bcc_mode(),
            protect_headers: f & flags::PROTECT_HEADERS != 0,
            choose_signer: self.allow_user_choice_of_signing_certificate,
            dual_keys: self.dual_keys,
            key_archival: self.require_key_archival,
        }
    }
}

/// The policy as the compose page's script reads it (`data-policy`, JSON).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientPolicy {
    pub always_sign: bool,
    pub always_encrypt: bool,
    pub clear_sign: bool,
    pub triple_wrap: bool,
    pub smart_card_only: bool,
    pub encryption_algorithms: Vec<&'static str>,
    pub digest: &'static str,
    /// Certificates carried besides the signer's: "none", "without-root", "with-root".
    pub chain: &'static str,
    pub capabilities: bool,
    pub key_identifier: bool,
    pub bcc: BccMode,
    /// Copy From/To/Cc/Subject inside the signature (0x200).
    pub protect_headers: bool,
    /// AllowUserChoiceOfSigningCertificate.
    pub choose_signer: bool,
    /// New digital IDs are requested as two key pairs.
    pub dual_keys: bool,
    /// Encryption keys get a copy for the recovery agents (`/api/recovery-agents`).
    pub key_archival: bool,
}

/// How an encrypted message reaches its Bcc recipients: one of the send rules the module
/// follows and the server checks (`send_rules::bcc`).
pub use send_rules::bcc::BccMode;

/// Check that the page split an encrypted send as the policy says: `forks` are the recipient
/// lists of the extra messages it posted, `bcc` the Bcc recipients.
pub fn check_split(
    mode: BccMode,
    encrypted: bool,
    bcc: &[String],
    forks: &[Vec<String>],
) -> Result<(), Violation> {
    if send_rules::bcc::check_split(mode, encrypted, bcc, forks) {
        Ok(())
    } else {
        Err(Violation::BccSplit)
    }
}

/// Does this message name any of `certificates` in its RecipientInfos (so their owner can open
/// it, and everyone who can read the RecipientInfos sees them named)?
pub fn reveals(shape: &Shape, certificates: &[smime::Certificate]) -> bool {
    shape
        .recipient_ids
        .iter()
        .any(|id| certificates.iter().any(|cert| id.matches(cert)))
}

/// The policy in force, replaced whole when the configuration file changes.
#[derive(Debug)]
pub struct Live {
    current: RwLock<Arc<SmimePolicy>>,
}

impl Live {
    pub fn new(policy: SmimePolicy) -> Self {
        Self {
            current: RwLock::new(Arc::new(policy)),
        }
    }

    pub fn current(&self) -> Arc<SmimePolicy> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn replace(&self, policy: SmimePolicy) {
        let policy = Arc::new(policy);
        match self.current.write() {
            Ok(mut guard) => *guard = policy,
            Err(poisoned) => *poisoned.into_inner() = policy,
        }
    }
}

/// How often the server looks at its configuration file: edits take effect within this time.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(10);

/// Why a finished message breaks the policy, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("your organization requires a digital signature on every message")]
    NotSigned,
    #[error("your organization requires every message to be encrypted")]
    NotEncrypted,
    #[error("the message's signature does not verify")]
    BadSignature,
    #[error("the message is signed with a certificate that is not yours ({0})")]
    NotYourCertificate(String),
    #[error("the message is encrypted with {0}, which your organization does not allow")]
    EncryptionAlgorithm(String),
    #[error("the message is signed with {0}, which your organization does not allow")]
    SigningAlgorithm(String),
    #[error("the message is not a well-formed S/MIME message")]
    Malformed,
    #[error("the message says inside its signature that it is from {0}, not from you")]
    NotYourAddress(String),
    #[error(
        "your organization requires Bcc recipients to get their own encrypted message, and this one was not split that way"
    )]
    BccSplit,
    #[error(
        "the encrypted message names a Bcc recipient ({0}) where the other recipients can see it"
    )]
    BccRevealed(String),
    #[error("the message is not encrypted to a certificate of {0}, who could not read it")]
    NotForRecipient(String),
}

impl Violation {
    /// A fixed word for the reason, for metrics and logs: never an address.
    pub fn label(&self) -> &'static str {
        match self {
            Self::NotSigned => "not_signed",
            Self::NotEncrypted => "not_encrypted",
            Self::BadSignature => "bad_signature",
            Self::NotYourCertificate(_) => "not_your_certificate",
            Self::EncryptionAlgorithm(_) => "encryption_algorithm",
            Self::SigningAlgorithm(_) => "signing_algorithm",
            Self::Malformed => "malformed",
            Self::NotYourAddress(_) => "not_your_address",
            Self::BccSplit => "bcc_split",
            Self::BccRevealed(_) => "bcc_revealed",
            Self::NotForRecipient(_) => "not_for_recipient",
        }
    }
}

/// What the server can see of a finished message without decrypting it.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// The outermost layer is signed and verifies; the signers' certificates.
    pub outer_signers: Vec<smime::Certificate>,
    /// Some outer signature did not verify.
    pub bad_signature: bool,
    /// The digests of the outer signatures.
    pub digests: Vec<DigestAlgorithm>,
    /// The From addresses inside the outer signature (header protection), if it has any.
    pub signed_from: Option<Vec<String>>,
    /// The message is encrypted (under an outer signature or not), with this algorithm.
    pub encryption: Option<Oid>,
    /// Who the encryption is for (its RecipientInfos).
    pub recipient_ids: Vec<smime::decrypt::RecipientId>,
}

/// Look at a sealed entity the way the server can: verify every signature down to the first
/// encryption layer (however many a modified page stacks), and read that layer's algorithm and
/// recipients. What lies inside the encryption the server cannot see.
pub fn inspect(entity: &[u8]) -> Result<Shape, Violation> {
    let mut shape = Shape::default();
    let mut current = entity.to_vec();
    for _ in 0..smime::wrap::MAX_LAYERS {
        match smime::mime::parse_smime(&current).map_err(|_| Violation::Malformed)? {
            SmimeContent::NotSmime => return Ok(shape),
            SmimeContent::Opaque { cms } => match Envelope::from_cms(&cms) {
                Ok(envelope) => {
                    record_envelope(&envelope, &mut shape);
                    return Ok(shape);
                }
                // Not an envelope: opaque signed data (anything else fails verification).
                Err(_) => current = signed(&current, &mut shape)?,
            },
            SmimeContent::ClearSigned { .. } => current = signed(&current, &mut shape)?,
        }
    }
    Err(Violation::Malformed)
}

fn record_envelope(envelope: &Envelope, shape: &mut Shape) {
    shape.encryption = Some(envelope.algorithm());
    shape.recipient_ids = envelope.recipients().iter().map(|r| r.id.clone()).collect();
}

fn signed(entity: &[u8], shape: &mut Shape) -> Result<Vec<u8>, Violation> {
    let verification = smime::verify(entity).map_err(|_| Violation::Malformed)?;
    shape.bad_signature |= !verification.all_valid();
    if let Some(from) = from_field(&verification.content) {
        shape.signed_from.get_or_insert_with(Vec::new).extend(from);
    }
    for signer in &verification.signers {
        if let Some(digest) = signer.digest_algorithm {
            shape.digests.push(digest);
        }
        if let Some(cert) = &signer.certificate {
            shape.outer_signers.push(cert.clone());
        }
    }
    Ok(verification.content)
}

/// The addresses of a From field in a signed entity, read as a mail program reads them; `None`
/// when there is no From field. A field naming no address yields an empty string, which matches
/// no sender.
fn from_field(entity: &[u8]) -> Option<Vec<String>> {
    let message = mail_parser::MessageParser::default().parse_headers(entity)?;
    message.header("From")?;
    let addresses: Vec<String> = message
        .from()
        .map(|list| {
            list.iter()
                .map(|a| a.address().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    Some(if addresses.is_empty() {
        vec![String::new()]
    } else {
        addresses
    })
}

/// A message that is neither signed nor encrypted (the ordinary form post): allowed unless the
/// policy forces either.
pub fn check_plain(policy: &SmimePolicy) -> Result<(), Violation> {
    if policy.always_sign {
        return Err(Violation::NotSigned);
    }
    if policy.always_encrypt {
        return Err(Violation::NotEncrypted);
    }
    Ok(())
}

/// Who a message is sent as: the From address the user chose, and every address that is
/// theirs (their identities), any of which their digital ID may name.
#[derive(Debug, Clone, Copy)]
pub struct Sender<'a> {
    pub from: &'a str,
    pub own: &'a [String],
}

impl Sender<'_> {
    /// The first of the user's addresses `cert` names: the From address if it does.
    pub fn address_in(&self, cert: &smime::Certificate) -> Option<String> {
        let addresses = cert.email_addresses();
        let named = |a: &str| addresses.iter().any(|c| c.eq_ignore_ascii_case(a));
        std::iter::once(self.from)
            .chain(self.own.iter().map(String::as_str))
            .find(|a| named(a))
            .map(str::to_string)
    }
}

/// Check a finished message from `sender` against `policy`. What the server cannot see (a
/// signature inside the encryption when TripleWrap is off) it cannot enforce; that is why
/// TripleWrap is on by default.
pub fn check_submission(
    policy: &SmimePolicy,
    sender: Sender<'_>,
    entity: &[u8],
) -> Result<Shape, Violation> {
    let shape = inspect(entity)?;
    let signed = !shape.outer_signers.is_empty() || shape.bad_signature;
    if shape.bad_signature {
        return Err(Violation::BadSignature);
    }
    // The digital ID of an identity without one of its own may be the user's main one: any
    // address that is the user's will do, not only the From.
    for cert in &shape.outer_signers {
        if sender.address_in(cert).is_none() {
            return Err(Violation::NotYourCertificate(
                cert.email_addresses().join(", "),
            ));
        }
    }
    // The server writes From outside; a From inside the signature (header protection) is what
    // a careful reader shows, so it must be the sender too.
    if let Some(from) = &shape.signed_from
        && let Some(other) = from.iter().find(|a| !a.eq_ignore_ascii_case(sender.from))
    {
        let shown = if other.is_empty() {
            "no address"
        } else {
            other
        };
        return Err(Violation::NotYourAddress(shown.to_string()));
    }
    let allowed_digest = policy.default_signing_algorithm.engine();
    if let Some(d) = shape.digests.iter().find(|d| **d != allowed_digest) {
        return Err(Violation::SigningAlgorithm(d.name().to_string()));
    }
    if let Some(algorithm) = &shape.encryption
        && !policy.allows_encryption(algorithm)
    {
        return Err(Violation::EncryptionAlgorithm(content_encryption_name(
            algorithm,
        )));
    }
    if policy.always_encrypt && shape.encryption.is_none() {
        return Err(Violation::NotEncrypted);
    }
    // An encrypted message without an outer signature may carry its signature inside, where
    // the server cannot look; with TripleWrap on, the browser always puts one outside.
    let inner_signature_possible = shape.encryption.is_some() && !policy.triple_wrap;
    if policy.always_sign && !signed && !inner_signature_possible {
        return Err(Violation::NotSigned);
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcc_splits_follow_the_mode() {
        let bcc = vec!["c@x.test".to_string(), "d@x.test".to_string()];
        let each = vec![vec!["C@x.test".to_string()], vec!["d@x.test".to_string()]];
        let together = vec![bcc.clone()];
        use BccMode::*;
        assert!(check_split(Separate, true, &bcc, &each).is_ok());
        assert!(check_split(Separate, true, &bcc, &together).is_err());
        assert!(check_split(Separate, true, &bcc, &[]).is_err());
        assert!(check_split(Separate, true, &bcc, &each[..1]).is_err());
        assert!(check_split(Together, true, &bcc, &together).is_ok());
        assert!(check_split(Together, true, &bcc, &each).is_err());
        assert!(check_split(WithEveryone, true, &bcc, &[]).is_ok());
        assert!(check_split(WithEveryone, true, &bcc, &together).is_err());
        // Signed only: nothing to hide, nothing to split.
        assert!(check_split(Separate, false, &bcc, &[]).is_ok());
        assert!(check_split(Separate, false, &bcc, &each).is_err());
        assert!(check_split(Separate, true, &[], &[]).is_ok());
    }

    #[test]
    fn the_client_gets_the_policy_in_its_own_words() {
        let defaults = SmimePolicy::default().for_client();
        assert_eq!(defaults.chain, "without-root");
        assert!(defaults.capabilities);
        let policy = SmimePolicy {
            security_flags: flags::SIGNING_CERTIFICATE_ONLY,
            ..SmimePolicy::default()
        };
        let client = policy.for_client();
        assert_eq!(client.chain, "none");
        assert!(!client.capabilities);
        assert_eq!(client.encryption_algorithms[0], "aes256-gcm");
        assert!(client.triple_wrap && client.clear_sign);
        assert_eq!(client.bcc, BccMode::Separate);
    }
}
