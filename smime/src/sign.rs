//! Signing: SignedData (RFC 5652 §5) in the two S/MIME formats of RFC 8551 §3.5.
//!
//! Signing is two-phase so asynchronous keys (WebCrypto, smart cards) fit without an async trait:
//! [`prepare`] canonicalises the message, builds the signed attributes and returns a
//! [`PreparedSignature`] holding the bytes and the digest to sign; the caller signs with whatever
//! key it has and calls [`PreparedSignature::finish`]. [`sign`] does both phases with a
//! synchronous [`Signer`]. The `_with` forms take a [`Bulk`] that hashes the content (WebCrypto in
//! the browser); the others hash in software.

use core::time::Duration;

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use rand_core::CryptoRng;
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::{Attribute, Attributes};
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::time::Time;

use crate::algorithms::{
    ContentEncryption, DigestAlgorithm, SignatureAlgorithm, SignatureScheme, oid,
};
use crate::bulk::{Bulk, Software, run_ready};
use crate::cert::Certificate;
use crate::error::{Error, Result};
use crate::headers::{self, Protection};
use crate::keys::{AsyncSigner, PublicKey, Signer};
use crate::mime::{self, SmimeType};

pub use crate::mime::SignedFormat;

/// How the signer is identified in SignerInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignerIdKind {
    #[default]
    IssuerAndSerial,
    /// The certificate's subjectKeyIdentifier (falls back to issuer+serial when it has none).
    SubjectKeyIdentifier,
}

/// Options for signing.
#[derive(Debug, Clone, Default)]
pub struct SignOptions {
    pub format: SignedFormat,
    /// Defaults to SHA-256. SHA-1 is refused.
    pub digest: Option<DigestAlgorithm>,
    /// Defaults to PKCS#1 v1.5 for RSA keys and ECDSA for EC keys.
    pub scheme: Option<SignatureScheme>,
    pub signer_id: SignerIdKind,
    /// Time since the Unix epoch; no signingTime attribute when absent. Passed in because the
    /// library has no clock (and `SystemTime::now()` panics in the browser).
    pub signing_time: Option<Duration>,
    /// Certificates carried besides the signer's: intermediates (and the root if wanted), in the
    /// order given. The signer's own certificate is always included.
    pub extra_certificates: Vec<Certificate>,
    /// Advertise these content encryption algorithms (SMIMECapabilities, RFC 8551 §2.5.2).
    pub capabilities: Vec<ContentEncryption>,
    /// The certificate others should encrypt to (SMIMEEncryptionKeyPreference, §2.5.3).
    pub encryption_key_preference: Option<Certificate>,
    /// Copy the header fields into the signed entity (RFC 9788, `hp="clear"`); see
    /// [`crate::headers`].
    pub protect_headers: bool,
}

/// A signature waiting for its signature value.
#[derive(Debug, Clone)]
pub struct PreparedSignature {
    outer_fields: Vec<u8>,
    entity: Vec<u8>,
    format: SignedFormat,
    algorithm: SignatureAlgorithm,
    signer: Certificate,
    signer_id: SignerIdentifier,
    extra_certificates: Vec<Certificate>,
    signed_attributes: Attributes,
    signed_attributes_der: Vec<u8>,
    digest: Vec<u8>,
}

impl PreparedSignature {
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    /// The DER signed attributes: the message for an API that hashes itself (WebCrypto `sign`).
    /// For RSA-PSS, ask for a salt as long as the digest (WebCrypto `saltLength`), which is
    /// what [`Self::finish`] checks and what the announced parameters say.
    pub fn data_to_sign(&self) -> &[u8] {
        &self.signed_attributes_der
    }

    /// The digest of [`Self::data_to_sign`]: the input for a card or any pre-hash signer.
    pub fn digest_to_sign(&self) -> &[u8] {
        &self.digest
    }

    /// The canonical entity being signed (what ends up between the boundaries, or in eContent).
    pub fn signed_entity(&self) -> &[u8] {
        &self.entity
    }

    /// Complete the message with the signature value. The signature is checked against the
    /// signer's certificate first, so a wrong key or a broken card cannot produce bad mail.
    pub fn finish(self, signature: &[u8]) -> Result<Vec<u8>> {
        let public_key = PublicKey::from_spki_der(&self.signer.public_key_info_der()?)?;
        let salt_len = self.algorithm.digest.output_len();
        let signature = public_key
            .signature_readings(signature)
            .into_iter()
            .find(|reading| {
                public_key
                    .verify_digest(self.algorithm, &self.digest, reading, salt_len)
                    .is_ok()
            })
            .ok_or(Error::SignatureMismatch)?;
        let signed_data = self.signed_data(signature)?;
        let cms = ContentInfo {
            content_type: oid::SIGNED_DATA,
            content: Any::encode_from(&signed_data)?,
        }
        .to_der()?;
        Ok(match self.format {
            SignedFormat::Clear => mime::build_multipart_signed(
                &self.outer_fields,
                &self.entity,
                &cms,
                self.algorithm.digest.micalg(),
            ),
            SignedFormat::Opaque => {
                mime::build_pkcs7_mime(&self.outer_fields, &cms, SmimeType::SignedData)
            }
        })
    }

    fn signed_data(&self, signature: Vec<u8>) -> Result<SignedData> {
        let digest_alg = AlgorithmIdentifierOwned {
            oid: self.algorithm.digest.oid(),
            parameters: None,
        };
        let version = match self.signer_id {
            SignerIdentifier::IssuerAndSerialNumber(_) => CmsVersion::V1,
            SignerIdentifier::SubjectKeyIdentifier(_) => CmsVersion::V3,
        };
        let signer_info = SignerInfo {
            version,
            sid: self.signer_id.clone(),
            digest_alg: digest_alg.clone(),
            signed_attrs: Some(self.signed_attributes.clone()),
            signature_algorithm: signature_algorithm_identifier(self.algorithm)?,
            signature: OctetString::new(signature)?,
            unsigned_attrs: None,
        };
        let mut certificates = Vec::with_capacity(1 + self.extra_certificates.len());
        for cert in core::iter::once(&self.signer).chain(&self.extra_certificates) {
            let choice = CertificateChoices::Certificate(cert.x509().clone());
            if !certificates.contains(&choice) {
                certificates.push(choice);
            }
        }
        let econtent = match self.format {
            SignedFormat::Clear => None,
            SignedFormat::Opaque => {
                Some(Any::encode_from(&OctetString::new(self.entity.clone())?)?)
            }
        };
        Ok(SignedData {
            version,
            digest_algorithms: SetOfVec::try_from(vec![digest_alg])?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: oid::DATA,
                econtent,
            },
            certificates: Some(CertificateSet::try_from(certificates)?),
            crls: None,
            signer_infos: SignerInfos::try_from(vec![signer_info])?,
        })
    }
}

/// Phase one: canonicalise `message` (a full message or a bare MIME entity) and compute what the
/// key must sign. Transport fields (From, To, Subject, …) stay outside; Content-* fields and the
/// body form the signed entity, made 7-bit safe so relays cannot alter it.
pub fn prepare(
    message: &[u8],
    signer: &Certificate,
    options: &SignOptions,
) -> Result<PreparedSignature> {
    run_ready(prepare_with(&Software, message, signer, options))
}

/// [`prepare`] with the content hashed by `bulk`.
pub async fn prepare_with<B: Bulk + ?Sized>(
    bulk: &B,
    message: &[u8],
    signer: &Certificate,
    options: &SignOptions,
) -> Result<PreparedSignature> {
    let split = if options.protect_headers {
        headers::split_protected(message, Protection::Clear)?
    } else {
        mime::split_message(message)?
    };
    let entity = mime::make_7bit_safe(split.entity)?;
    prepare_entity_with(bulk, split.outer_fields, entity, signer, options).await
}

/// Phase one for an entity that is already canonical and 7-bit safe (used when wrapping, e.g.
/// signing an encrypted message for triple wrap). `outer_fields` are emitted verbatim.
pub fn prepare_entity(
    outer_fields: Vec<u8>,
    entity: Vec<u8>,
    signer: &Certificate,
    options: &SignOptions,
) -> Result<PreparedSignature> {
    run_ready(prepare_entity_with(
        &Software,
        outer_fields,
        entity,
        signer,
        options,
    ))
}

/// [`prepare_entity`] with the content hashed by `bulk`.
pub async fn prepare_entity_with<B: Bulk + ?Sized>(
    bulk: &B,
    outer_fields: Vec<u8>,
    entity: Vec<u8>,
    signer: &Certificate,
    options: &SignOptions,
) -> Result<PreparedSignature> {
    let public_key = PublicKey::from_spki_der(&signer.public_key_info_der()?)?;
    let digest = options.digest.unwrap_or(DigestAlgorithm::Sha256);
    // SHA-1 is read to verify old mail, never written (collision attacks make it forgeable).
    if digest.is_weak() {
        return Err(Error::UnsupportedAlgorithm(
            "SHA-1 is accepted for verification only".into(),
        ));
    }
    let scheme = options
        .scheme
        .unwrap_or_else(|| public_key.default_scheme());
    let algorithm = SignatureAlgorithm { scheme, digest };
    let signer_id = signer_identifier(signer, options.signer_id);
    let content_digest = bulk.digest(digest, &entity).await?;
    if content_digest.len() != digest.output_len() {
        return Err(Error::UnsupportedAlgorithm(
            "the content digest has the wrong length".into(),
        ));
    }
    let signed_attributes = signed_attributes(&content_digest, options)?;
    let signed_attributes_der = signed_attributes.to_der()?;
    let digest_value = digest.digest(&signed_attributes_der);
    Ok(PreparedSignature {
        outer_fields,
        entity,
        format: options.format,
        algorithm,
        signer: signer.clone(),
        signer_id,
        extra_certificates: options.extra_certificates.clone(),
        signed_attributes,
        signed_attributes_der,
        digest: digest_value,
    })
}

/// Sign in one call with a synchronous key.
pub fn sign(
    message: &[u8],
    signer_cert: &Certificate,
    key: &dyn Signer,
    options: &SignOptions,
    rng: &mut dyn CryptoRng,
) -> Result<Vec<u8>> {
    run_ready(sign_with(
        &Software,
        message,
        signer_cert,
        key,
        options,
        rng,
    ))
}

/// [`sign`] with the content hashed by `bulk`.
pub async fn sign_with<B: Bulk + ?Sized, K: AsyncSigner + ?Sized>(
    bulk: &B,
    message: &[u8],
    signer_cert: &Certificate,
    key: &K,
    options: &SignOptions,
    rng: &mut dyn CryptoRng,
) -> Result<Vec<u8>> {
    let prepared = prepare_with(bulk, message, signer_cert, options).await?;
    let signature = key
        .sign_digest(prepared.algorithm(), prepared.digest_to_sign(), rng)
        .await?;
    prepared.finish(&signature)
}

fn signer_identifier(cert: &Certificate, kind: SignerIdKind) -> SignerIdentifier {
    let ski = match kind {
        SignerIdKind::IssuerAndSerial => None,
        SignerIdKind::SubjectKeyIdentifier => cert.subject_key_identifier(),
    };
    match ski.and_then(|bytes| OctetString::new(bytes).ok()) {
        Some(octets) => SignerIdentifier::SubjectKeyIdentifier(SubjectKeyIdentifier(octets)),
        None => SignerIdentifier::IssuerAndSerialNumber(cert.issuer_and_serial()),
    }
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

/// The signed attributes (RFC 5652 §11, RFC 8551 §2.5), DER-sorted by SetOfVec.
fn signed_attributes(content_digest: &[u8], options: &SignOptions) -> Result<Attributes> {
    let mut attrs = vec![
        attribute(oid::CONTENT_TYPE, Any::encode_from(&oid::DATA)?)?,
        attribute(
            oid::MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(content_digest)?)?,
        )?,
    ];
    if let Some(since_epoch) = options.signing_time {
        let time: Time = der::DateTime::from_unix_duration(since_epoch)
            .map_err(|_| Error::BadSigningTime)?
            .into();
        attrs.push(attribute(oid::SIGNING_TIME, Any::encode_from(&time)?)?);
    }
    if !options.capabilities.is_empty() {
        let capabilities: Vec<AlgorithmIdentifierOwned> = options
            .capabilities
            .iter()
            .map(|c| AlgorithmIdentifierOwned {
                oid: c.oid(),
                parameters: None,
            })
            .collect();
        attrs.push(attribute(
            oid::SMIME_CAPABILITIES,
            Any::encode_from(&capabilities)?,
        )?);
    }
    if let Some(cert) = &options.encryption_key_preference {
        attrs.push(attribute(
            oid::ENCRYPTION_KEY_PREFERENCE,
            encryption_key_preference(cert)?,
        )?);
    }
    Ok(SetOfVec::try_from(attrs)?)
}

/// SMIMEEncryptionKeyPreference ::= CHOICE { issuerAndSerialNumber [0] IMPLICIT … }.
fn encryption_key_preference(cert: &Certificate) -> Result<Any> {
    let ias: IssuerAndSerialNumber = cert.issuer_and_serial();
    let mut der = ias.to_der()?;
    // IMPLICIT [0] replaces the SEQUENCE tag and keeps the constructed bit.
    if let Some(first) = der.first_mut() {
        *first = 0xa0;
    }
    Ok(Any::from_der(&der)?)
}

/// The signatureAlgorithm of a SignerInfo.
fn signature_algorithm_identifier(
    algorithm: SignatureAlgorithm,
) -> Result<AlgorithmIdentifierOwned> {
    Ok(match algorithm.scheme {
        // rsaEncryption rather than shaNNNWithRSAEncryption: RFC 8551 §2.2 allows both and older
        // clients read only this one.
        SignatureScheme::RsaPkcs1v15 => AlgorithmIdentifierOwned {
            oid: oid::RSA_ENCRYPTION,
            parameters: Some(Any::from(der::asn1::Null)),
        },
        SignatureScheme::RsaPss => AlgorithmIdentifierOwned {
            oid: oid::RSASSA_PSS,
            parameters: Some(Any::from_der(&pss_parameters(algorithm.digest)?)?),
        },
        SignatureScheme::Ecdsa => AlgorithmIdentifierOwned {
            oid: algorithm
                .combined_oid()
                .ok_or_else(|| Error::UnsupportedAlgorithm(algorithm.name()))?,
            parameters: None,
        },
    })
}

/// RSASSA-PSS-params (RFC 4055 §3.1) with MGF1 over the same digest and a digest-sized salt.
fn pss_parameters(digest: DigestAlgorithm) -> Result<Vec<u8>> {
    use crate::ber::{Tag, push_element};
    let hash = AlgorithmIdentifierOwned {
        oid: digest.oid(),
        parameters: None,
    }
    .to_der()?;
    let mgf = AlgorithmIdentifierOwned {
        oid: oid::MGF1,
        parameters: Some(Any::from_der(&hash)?),
    }
    .to_der()?;
    let salt = (digest.output_len() as u32).to_der()?;
    let context = |n| Tag {
        class: 2,
        constructed: true,
        number: n,
    };
    let mut fields = Vec::new();
    push_element(context(0), true, &hash, &mut fields);
    push_element(context(1), true, &mgf, &mut fields);
    push_element(context(2), true, &salt, &mut fields);
    let mut out = Vec::new();
    push_element(
        Tag {
            class: 0,
            constructed: true,
            number: 16,
        },
        true,
        &fields,
        &mut out,
    );
    Ok(out)
}
