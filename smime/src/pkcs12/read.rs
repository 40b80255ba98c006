//! Reading a PKCS#12 file: the PFX and its MAC (or PBMAC1), the authenticated safe and its
//! encrypted parts (PBES2 and the legacy PKCS#12 PBEs), the bags, and from them the key, its
//! certificate and the chain. What reading and writing share (the password's encodings, the
//! key derivations, the hashes) is in `mod.rs`.

use super::*;

/// Read a PKCS#12 file (DER or BER) with its password.
pub fn parse(file: &[u8], password: &str) -> Result<Pkcs12> {
    let der = ber::normalize(file).map_err(|_| Pkcs12Error::Corrupt("not DER/BER"))?;
    let pfx = Pfx::parse(&der)?;
    let secrets = Secrets::new(password);
    let mac_ok = match &pfx.mac {
        None => None,
        Some(mac) => Some(mac.verify(pfx.auth_safe, &secrets)?),
    };
    match mac_ok {
        Some(true) => assemble(read_auth_safe(pfx.auth_safe, &secrets)?),
        // No MAC to tell us: a decryption that fails or yields garbage almost always means the
        // password (damage after the structure was read cannot be told apart).
        None => read_auth_safe(pfx.auth_safe, &secrets)
            .and_then(assemble)
            .map_err(|e| match e {
                Pkcs12Error::Corrupt(_) => Pkcs12Error::WrongPassword,
                other => other,
            }),
        Some(false) => {
            // Tell a wrong password from a damaged file: does any encrypted part open?
            if password_opens_something(pfx.auth_safe, &secrets) {
                Err(Pkcs12Error::Corrupt(
                    "the integrity check failed although the password is right",
                ))
            } else {
                Err(Pkcs12Error::WrongPassword)
            }
        }
    }
}

/// PFX ::= SEQUENCE { version INTEGER {v3(3)}, authSafe ContentInfo, macData MacData OPTIONAL }
pub(super) struct Pfx<'a> {
    /// The contents of authSafe's OCTET STRING: what the MAC covers.
    auth_safe: &'a [u8],
    mac: Option<MacData<'a>>,
}

impl<'a> Pfx<'a> {
    fn parse(der: &'a [u8]) -> Result<Self> {
        let top = ber::parse_one(der).map_err(|_| corrupt("not DER"))?;
        let fields = sequence(&top, "PFX")?;
        let (version, auth_safe, mac) = match fields.as_slice() {
            [v, a] => (v, a, None),
            [v, a, m] => (v, a, Some(m)),
            _ => return Err(corrupt("PFX")),
        };
        if integer(version)? != 3 {
            return Err(Pkcs12Error::Unsupported(
                "a PFX version other than 3".into(),
            ));
        }
        let (content_type, content) = content_info(auth_safe)?;
        if content_type != oids::DATA {
            return Err(Pkcs12Error::Unsupported(
                "public-key integrity mode (signed PFX)".into(),
            ));
        }
        let auth_safe = octet_string(&content)?;
        let mac = mac.map(MacData::parse).transpose()?;
        Ok(Self { auth_safe, mac })
    }
}

/// MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING, iterations INTEGER DEFAULT 1 }
pub(super) struct MacData<'a> {
    /// A digest (the PKCS#12 KDF and HMAC) or PBMAC1.
    algorithm: Element<'a>,
    digest: &'a [u8],
    salt: &'a [u8],
    iterations: u64,
}

impl<'a> MacData<'a> {
    fn parse(element: &Element<'a>) -> Result<Self> {
        let fields = sequence(element, "MacData")?;
        let (digest_info, salt, iterations) = match fields.as_slice() {
            [d, s] => (d, s, 1),
            [d, s, i] => (d, s, integer(i)?),
            _ => return Err(corrupt("MacData")),
        };
        let digest_info = sequence(digest_info, "DigestInfo")?;
        let [algorithm, digest] = digest_info.as_slice() else {
            return Err(corrupt("DigestInfo"));
        };
        Ok(Self {
            algorithm: *algorithm,
            digest: octet_string(digest)?,
            salt: octet_string(salt)?,
            iterations,
        })
    }

    /// Does the MAC match under this password? Errors only for what cannot be checked.
    fn verify(&self, data: &[u8], secrets: &Secrets) -> Result<bool> {
        let (algorithm, params) = algorithm_identifier(&self.algorithm)?;
        if algorithm == oids::PBMAC1 {
            return self.verify_pbmac1(params, data, secrets);
        }
        let hash = Hash::from_digest_oid(&algorithm)
            .ok_or_else(|| Pkcs12Error::Unsupported(format!("MAC digest {algorithm}")))?;
        check_iterations(self.iterations)?;
        secrets.spend(self.iterations)?;
        let key = pkcs12_kdf(
            hash,
            KdfPurpose::Mac,
            &secrets.bmp,
            self.salt,
            self.iterations,
            hash.output_len(),
        );
        Ok(hash.hmac_matches(&key, data, self.digest))
    }

    /// RFC 9579: PBMAC1-params ::= SEQUENCE { keyDerivationFunc AlgorithmIdentifier (PBKDF2),
    /// messageAuthScheme AlgorithmIdentifier (HMAC) }. The key comes from PBKDF2 over the UTF-8
    /// password; macSalt and iterations of MacData are unused.
    fn verify_pbmac1(
        &self,
        params: Option<Element<'_>>,
        data: &[u8],
        secrets: &Secrets,
    ) -> Result<bool> {
        let params = params.ok_or_else(|| corrupt("PBMAC1 parameters"))?;
        let fields = sequence(&params, "PBMAC1-params")?;
        let [kdf, mac] = fields.as_slice() else {
            return Err(corrupt("PBMAC1-params"));
        };
        let kdf = Pbkdf2::parse(kdf)?;
        let (mac_oid, _) = algorithm_identifier(mac)?;
        let hash = Hash::from_hmac_oid(&mac_oid)
            .ok_or_else(|| Pkcs12Error::Unsupported(format!("PBMAC1 MAC {mac_oid}")))?;
        // RFC 9579 requires keyLength; an HMAC key beyond one hash block gains nothing.
        let key_len = match kdf.key_len {
            Some(len @ 1..=128) => len as usize,
            _ => return Err(corrupt("PBMAC1 key length")),
        };
        secrets.spend(u64::from(kdf.iterations))?;
        let mut key = Zeroizing::new(vec![0u8; key_len]);
        kdf.prf
            .pbkdf2(&secrets.utf8, kdf.salt, kdf.iterations, &mut key);
        Ok(hash.hmac_matches(&key, data, self.digest))
    }
}

pub(super) fn check_iterations(iterations: u64) -> Result<()> {
    if iterations == 0 {
        return Err(corrupt("zero iterations"));
    }
    if iterations > MAX_ITERATIONS {
        return Err(Pkcs12Error::TooManyIterations(iterations));
    }
    Ok(())
}

/// A bag that was read.
pub(super) enum Bag {
    /// A PKCS#8 PrivateKeyInfo (decrypted), with its localKeyId.
    Key {
        pkcs8: Zeroizing<Vec<u8>>,
        local_key_id: Option<Vec<u8>>,
        /// Came out of a pkcs8ShroudedKeyBag (so decrypting it proved the password).
        shrouded: bool,
    },
    Certificate {
        der: Vec<u8>,
        local_key_id: Option<Vec<u8>>,
    },
}

/// AuthenticatedSafe ::= SEQUENCE OF ContentInfo (data or encryptedData).
pub(super) fn read_auth_safe(auth_safe: &[u8], secrets: &Secrets) -> Result<Vec<Bag>> {
    let mut bags = Vec::new();
    for content in auth_safe_contents(auth_safe)? {
        let safe_contents = open_content_info(&content, secrets)?;
        read_safe_contents(&safe_contents, secrets, 0, &mut bags)?;
    }
    Ok(bags)
}

/// After a MAC mismatch: does any encrypted part of the file open with this password? Only
/// well-formed results count: a wrong key passes the CBC padding check about once in 256.
pub(super) fn password_opens_something(auth_safe: &[u8], secrets: &Secrets) -> bool {
    let Ok(contents) = auth_safe_contents(auth_safe) else {
        return false;
    };
    for content in contents {
        let Ok(safe) = open_content_info(&content, secrets) else {
            continue;
        };
        let encrypted = content_info(&content).is_ok_and(|(t, _)| t == oids::ENCRYPTED_DATA);
        let mut bags = Vec::new();
        if read_safe_contents(&safe, secrets, 0, &mut bags).is_err() {
            continue;
        }
        // An encryptedData that decrypts to well-formed bags, or a shrouded key that decrypts to
        // a usable private key, proves the password.
        let proof = bags.iter().any(|bag| match bag {
            Bag::Key {
                pkcs8, shrouded, ..
            } => *shrouded && SoftKey::from_pkcs8_der(pkcs8).is_ok(),
            Bag::Certificate { der, .. } => encrypted && Certificate::from_der(der).is_ok(),
        });
        if proof {
            return true;
        }
    }
    false
}

pub(super) fn auth_safe_contents(auth_safe: &[u8]) -> Result<Vec<Element<'_>>> {
    let top = ber::parse_one(auth_safe).map_err(|_| corrupt("AuthenticatedSafe"))?;
    sequence(&top, "AuthenticatedSafe")
}

/// The SafeContents bytes inside one ContentInfo of the AuthenticatedSafe.
pub(super) fn open_content_info(
    element: &Element<'_>,
    secrets: &Secrets,
) -> Result<Zeroizing<Vec<u8>>> {
    let (content_type, content) = content_info(element)?;
    if content_type == oids::DATA {
        return Ok(Zeroizing::new(octet_string(&content)?.to_vec()));
    }
    if content_type != oids::ENCRYPTED_DATA {
        return Err(Pkcs12Error::Unsupported(format!(
            "content type {content_type} (public-key privacy mode)"
        )));
    }
    // EncryptedData ::= SEQUENCE { version, EncryptedContentInfo, [1] unprotectedAttrs OPTIONAL }
    let fields = sequence(&content, "EncryptedData")?;
    let eci = fields.get(1).ok_or_else(|| corrupt("EncryptedData"))?;
    // EncryptedContentInfo ::= SEQUENCE { contentType, algorithm, [0] IMPLICIT OCTET STRING }
    let eci = sequence(eci, "EncryptedContentInfo")?;
    let [_, algorithm, encrypted] = eci.as_slice() else {
        return Err(corrupt("EncryptedContentInfo"));
    };
    if !encrypted.tag.is_context(0) {
        return Err(corrupt("EncryptedContentInfo"));
    }
    let ciphertext =
        ber::flatten_implicit_string(encrypted).map_err(|_| corrupt("encrypted content"))?;
    pbe_decrypt(algorithm, &ciphertext, secrets)
}

/// SafeContents ::= SEQUENCE OF SafeBag
/// SafeBag ::= SEQUENCE { bagId OID, bagValue [0] EXPLICIT ANY, bagAttributes SET OPTIONAL }
pub(super) fn read_safe_contents(
    der: &[u8],
    secrets: &Secrets,
    depth: usize,
    bags: &mut Vec<Bag>,
) -> Result<()> {
    if depth > MAX_NESTING {
        return Err(corrupt("safe contents nested too deeply"));
    }
    let top = ber::parse_one(der).map_err(|_| corrupt("SafeContents"))?;
    for bag in sequence(&top, "SafeContents")? {
        if bags.len() >= MAX_BAGS {
            return Err(corrupt("too many bags"));
        }
        let fields = sequence(&bag, "SafeBag")?;
        let (id, value, attributes) = match fields.as_slice() {
            [id, value] => (id, value, None),
            [id, value, attributes] => (id, value, Some(attributes)),
            _ => return Err(corrupt("SafeBag")),
        };
        let bag_id = oid(id)?;
        let value = explicit(value, 0)?;
        let local_key_id = attributes.and_then(local_key_id);
        if bag_id == oids::KEY_BAG {
            bags.push(Bag::Key {
                pkcs8: Zeroizing::new(value.raw.to_vec()),
                local_key_id,
                shrouded: false,
            });
        } else if bag_id == oids::SHROUDED_KEY_BAG {
            // EncryptedPrivateKeyInfo ::= SEQUENCE { algorithm, encryptedData OCTET STRING }
            let fields = sequence(&value, "EncryptedPrivateKeyInfo")?;
            let [algorithm, data] = fields.as_slice() else {
                return Err(corrupt("EncryptedPrivateKeyInfo"));
            };
            let pkcs8 = pbe_decrypt(algorithm, octet_string(data)?, secrets)?;
            bags.push(Bag::Key {
                pkcs8,
                local_key_id,
                shrouded: true,
            });
        } else if bag_id == oids::CERT_BAG {
            // CertBag ::= SEQUENCE { certId OID, certValue [0] EXPLICIT OCTET STRING }
            let fields = sequence(&value, "CertBag")?;
            let [cert_type, cert_value] = fields.as_slice() else {
                return Err(corrupt("CertBag"));
            };
            // SDSI certificates exist on paper only; skip anything but X.509.
            if oid(cert_type)? == oids::X509_CERTIFICATE {
                let der = octet_string(&explicit(cert_value, 0)?)?.to_vec();
                bags.push(Bag::Certificate { der, local_key_id });
            }
        } else if bag_id == oids::SAFE_CONTENTS_BAG {
            read_safe_contents(value.raw, secrets, depth + 1, bags)?;
        }
        // CRL and secret bags carry nothing a mail client needs.
    }
    Ok(())
}

/// The localKeyId attribute value: the link between a key and its certificate.
pub(super) fn local_key_id(attributes: &Element<'_>) -> Option<Vec<u8>> {
    // SET OF Attribute; Attribute ::= SEQUENCE { attrId OID, attrValues SET OF ANY }
    for attribute in attributes.children().ok()? {
        let fields = attribute.children().ok()?;
        let [id, values] = fields.as_slice() else {
            continue;
        };
        if Oid::from_der(id.raw).ok()? == oids::LOCAL_KEY_ID {
            let first = values.children().ok()?.into_iter().next()?;
            return Some(
                OctetString::from_der(first.raw)
                    .ok()?
                    .into_bytes()
                    .into_vec(),
            );
        }
    }
    None
}

/// Decrypt with a password-based scheme named by an AlgorithmIdentifier.
pub(super) fn pbe_decrypt(
    algorithm: &Element<'_>,
    ciphertext: &[u8],
    secrets: &Secrets,
) -> Result<Zeroizing<Vec<u8>>> {
    let (scheme, params) = algorithm_identifier(algorithm)?;
    let params = params.ok_or_else(|| corrupt("PBE parameters missing"))?;
    if scheme == oids::PBES2 {
        return pbes2_decrypt(&params, ciphertext, secrets);
    }
    // pkcs-12PbeParams ::= SEQUENCE { salt OCTET STRING, iterations INTEGER }
    let fields = sequence(&params, "pkcs-12PbeParams")?;
    let [salt, iterations] = fields.as_slice() else {
        return Err(corrupt("pkcs-12PbeParams"));
    };
    let salt = octet_string(salt)?;
    let iterations = integer(iterations)?;
    check_iterations(iterations)?;
    // Two derivations: the key and the IV.
    secrets.spend(iterations.saturating_mul(2))?;
    let derive =
        |purpose, len| pkcs12_kdf(Hash::Sha1, purpose, &secrets.bmp, salt, iterations, len);
    let cipher = if scheme == oids::PBE_SHA1_3DES {
        LegacyCipher::TripleDes
    } else if scheme == oids::PBE_SHA1_RC2_40 {
        LegacyCipher::Rc2 { key_len: 5 }
    } else if scheme == oids::PBE_SHA1_RC2_128 {
        LegacyCipher::Rc2 { key_len: 16 }
    } else {
        return Err(Pkcs12Error::Unsupported(format!("encryption {scheme}")));
    };
    let key = derive(KdfPurpose::Key, cipher.key_len());
    let iv = derive(KdfPurpose::Iv, 8);
    cipher.decrypt(&key, &iv, ciphertext)
}

#[derive(Debug, Clone, Copy)]
pub(super) enum LegacyCipher {
    TripleDes,
    Rc2 { key_len: usize },
}

impl LegacyCipher {
    fn key_len(self) -> usize {
        match self {
            Self::TripleDes => 24,
            Self::Rc2 { key_len } => key_len,
        }
    }

    fn decrypt(self, key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        use cbc::cipher::InnerIvInit;
        match self {
            Self::TripleDes => cbc_decrypt::<des::TdesEde3>(key, iv, ciphertext),
            Self::Rc2 { key_len } => {
                // PKCS#12's RC2 uses the key length as the effective key length.
                let cipher = rc2::Rc2::new_with_eff_key_len(key, key_len * 8);
                let decryptor = cbc::Decryptor::<rc2::Rc2>::inner_iv_slice_init(cipher, iv)
                    .map_err(|_| corrupt("RC2 IV"))?;
                unpad(decryptor, ciphertext)
            }
        }
    }
}

pub(super) fn cbc_decrypt<C>(key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>>
where
    C: cbc::cipher::BlockCipherDecrypt + cbc::cipher::KeyInit,
{
    use cbc::cipher::KeyIvInit;
    let decryptor =
        cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(|_| corrupt("key or IV size"))?;
    unpad(decryptor, ciphertext)
}

pub(super) fn unpad<C>(
    decryptor: cbc::Decryptor<C>,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>>
where
    C: cbc::cipher::BlockCipherDecrypt,
{
    use cbc::cipher::BlockModeDecrypt;
    use cbc::cipher::block_padding::Pkcs7;
    decryptor
        .decrypt_padded_vec::<Pkcs7>(ciphertext)
        .map(Zeroizing::new)
        // Bad padding: the usual sign of a wrong key. `parse` decides what to call it.
        .map_err(|_| corrupt("decryption failed"))
}

/// PBES2-params ::= SEQUENCE { keyDerivationFunc AlgorithmIdentifier, encryptionScheme
/// AlgorithmIdentifier } with PBKDF2 (RFC 8018 §6.2, appendix A.2).
pub(super) fn pbes2_decrypt(
    params: &Element<'_>,
    ciphertext: &[u8],
    secrets: &Secrets,
) -> Result<Zeroizing<Vec<u8>>> {
    let fields = sequence(params, "PBES2-params")?;
    let [kdf, scheme] = fields.as_slice() else {
        return Err(corrupt("PBES2-params"));
    };
    let Pbkdf2 {
        salt,
        iterations,
        key_len,
        prf,
    } = Pbkdf2::parse(kdf)?;

    let (cipher, iv) = algorithm_identifier(scheme)?;
    let iv = octet_string(&iv.ok_or_else(|| corrupt("PBES2 IV"))?)?.to_vec();
    let cipher_key_len = match cipher {
        c if c == oids::AES128_CBC => 16,
        c if c == oids::AES192_CBC => 24,
        c if c == oids::AES256_CBC => 32,
        c if c == oids::DES_EDE3_CBC => 24,
        other => return Err(Pkcs12Error::Unsupported(format!("PBES2 cipher {other}"))),
    };
    if key_len.is_some_and(|l| l != cipher_key_len as u64) {
        return Err(corrupt("PBKDF2 key length does not fit the cipher"));
    }
    let mut key = Zeroizing::new(vec![0u8; cipher_key_len]);
    secrets.spend(u64::from(iterations))?;
    prf.pbkdf2(&secrets.utf8, salt, iterations, &mut key);
    match cipher_key_len {
        16 => cbc_decrypt::<aes::Aes128>(&key, &iv, ciphertext),
        32 => cbc_decrypt::<aes::Aes256>(&key, &iv, ciphertext),
        _ if cipher == oids::DES_EDE3_CBC => cbc_decrypt::<des::TdesEde3>(&key, &iv, ciphertext),
        _ => cbc_decrypt::<aes::Aes192>(&key, &iv, ciphertext),
    }
}

/// PBKDF2 as named by an AlgorithmIdentifier (RFC 8018 appendix A.2):
/// PBKDF2-params ::= SEQUENCE { salt OCTET STRING, iterationCount INTEGER,
///   keyLength INTEGER OPTIONAL, prf AlgorithmIdentifier DEFAULT hmacWithSHA1 }
pub(super) struct Pbkdf2<'a> {
    salt: &'a [u8],
    iterations: u32,
    key_len: Option<u64>,
    prf: Hash,
}

impl<'a> Pbkdf2<'a> {
    fn parse(algorithm: &Element<'a>) -> Result<Self> {
        let (kdf_oid, params) = algorithm_identifier(algorithm)?;
        if kdf_oid == oids::SCRYPT {
            return Err(Pkcs12Error::Unsupported("scrypt".into()));
        }
        if kdf_oid != oids::PBKDF2 {
            return Err(Pkcs12Error::Unsupported(format!(
                "key derivation {kdf_oid}"
            )));
        }
        let params = params.ok_or_else(|| corrupt("PBKDF2 parameters"))?;
        let fields = sequence(&params, "PBKDF2-params")?;
        let mut fields = fields.iter();
        let salt = octet_string(fields.next().ok_or_else(|| corrupt("PBKDF2 salt"))?)?;
        let iterations = integer(fields.next().ok_or_else(|| corrupt("PBKDF2 iterations"))?)?;
        check_iterations(iterations)?;
        let iterations = u32::try_from(iterations).map_err(|_| corrupt("PBKDF2 iterations"))?;
        let mut prf = Hash::Sha1;
        let mut key_len = None;
        for field in fields {
            if field.tag.is_universal(2) {
                key_len = Some(integer(field)?);
            } else {
                let (prf_oid, _) = algorithm_identifier(field)?;
                prf = Hash::from_hmac_oid(&prf_oid)
                    .ok_or_else(|| Pkcs12Error::Unsupported(format!("PBKDF2 PRF {prf_oid}")))?;
            }
        }
        Ok(Self {
            salt,
            iterations,
            key_len,
            prf,
        })
    }
}

/// Pair the key with its certificate (by localKeyId, else by public key) and order the rest.
pub(super) fn assemble(bags: Vec<Bag>) -> Result<Pkcs12> {
    let mut keys = Vec::new();
    let mut certs = Vec::new();
    for bag in bags {
        match bag {
            Bag::Key {
                pkcs8,
                local_key_id,
                ..
            } => keys.push((pkcs8, local_key_id)),
            Bag::Certificate { der, local_key_id } => {
                let cert =
                    Certificate::from_der(&der).map_err(|_| corrupt("unreadable certificate"))?;
                certs.push((cert, local_key_id));
            }
        }
    }
    if keys.is_empty() {
        return Err(Pkcs12Error::NoKey);
    }
    for (pkcs8, key_id) in &keys {
        let key = SoftKey::from_pkcs8_der(pkcs8).map_err(|_| {
            // A well-formed PrivateKeyInfo we cannot use is an unsupported key type; anything
            // else is garbage (for a file without MAC: the decryption with a wrong password).
            match pkcs8_algorithm(pkcs8) {
                Some(algorithm) => {
                    Pkcs12Error::Unsupported(format!("private key type {algorithm}"))
                }
                None => corrupt("unreadable private key"),
            }
        })?;
        // The public key decides; localKeyId is only a hint some exporters get wrong.
        let position = certs
            .iter()
            .position(|(cert, id)| key_id.is_some() && id == key_id && key_matches(&key, cert))
            .or_else(|| certs.iter().position(|(cert, _)| key_matches(&key, cert)));
        if let Some(position) = position {
            let (certificate, _) = certs.remove(position);
            let chain = order_chain(&certificate, certs.into_iter().map(|(c, _)| c).collect());
            return Ok(Pkcs12 {
                key,
                certificate,
                chain,
            });
        }
    }
    Err(Pkcs12Error::NoCertificateForKey)
}

/// The algorithm of a structurally valid PKCS#8 PrivateKeyInfo:
/// SEQUENCE { version INTEGER, privateKeyAlgorithm AlgorithmIdentifier, privateKey OCTET STRING, … }
pub(super) fn pkcs8_algorithm(der: &[u8]) -> Option<Oid> {
    let top = ber::parse_one(der).ok()?;
    let fields = sequence(&top, "PrivateKeyInfo").ok()?;
    match fields.as_slice() {
        [version, algorithm, key, ..] if version.tag.is_universal(2) => {
            octet_string(key).ok()?;
            Some(algorithm_identifier(algorithm).ok()?.0)
        }
        _ => None,
    }
}

/// The leaf's issuers first, each followed by its own issuer, then whatever does not chain.
pub(super) fn order_chain(leaf: &Certificate, mut rest: Vec<Certificate>) -> Vec<Certificate> {
    use der::Encode;
    let name = |n: &x509_cert::name::Name| n.to_der().ok();
    let mut ordered = Vec::with_capacity(rest.len());
    let mut issuer = name(leaf.x509().tbs_certificate().issuer());
    let mut subject = name(leaf.x509().tbs_certificate().subject());
    // A self-signed leaf has no issuer to look for.
    while issuer.is_some() && issuer != subject {
        let Some(position) = rest
            .iter()
            .position(|c| name(c.x509().tbs_certificate().subject()) == issuer)
        else {
            break;
        };
        let next = rest.remove(position);
        subject = issuer;
        issuer = name(next.x509().tbs_certificate().issuer());
        ordered.push(next);
    }
    ordered.extend(rest);
    ordered
}

// --- DER helpers over the crate's walker -----------------------------------------------------

pub(super) fn corrupt(what: &'static str) -> Pkcs12Error {
    Pkcs12Error::Corrupt(what)
}

pub(super) fn sequence<'a>(element: &Element<'a>, what: &'static str) -> Result<Vec<Element<'a>>> {
    if !element.tag.is_universal(16) || !element.tag.constructed {
        return Err(corrupt(what));
    }
    element.children().map_err(|_| corrupt(what))
}

pub(super) fn integer(element: &Element<'_>) -> Result<u64> {
    if !element.tag.is_universal(2) {
        return Err(corrupt("INTEGER expected"));
    }
    match u64::from_der(element.raw) {
        Ok(n) => Ok(n),
        // A positive number too long for u64 is an absurd count, not damage.
        Err(_)
            if element.contents.len() > 8
                && element.contents.first().is_some_and(|&b| b < 0x80) =>
        {
            Err(Pkcs12Error::TooManyIterations(u64::MAX))
        }
        Err(_) => Err(corrupt("INTEGER")),
    }
}

pub(super) fn oid(element: &Element<'_>) -> Result<Oid> {
    Oid::from_der(element.raw).map_err(|_| corrupt("OBJECT IDENTIFIER expected"))
}

pub(super) fn octet_string<'a>(element: &Element<'a>) -> Result<&'a [u8]> {
    if !element.tag.is_universal(4) || element.tag.constructed {
        return Err(corrupt("OCTET STRING expected"));
    }
    Ok(element.contents)
}

/// The single element inside an `[n] EXPLICIT` tag.
pub(super) fn explicit<'a>(element: &Element<'a>, number: u32) -> Result<Element<'a>> {
    if !element.tag.is_context(number) || !element.tag.constructed {
        return Err(corrupt("explicit tag expected"));
    }
    ber::parse_one(element.contents).map_err(|_| corrupt("explicit tag contents"))
}

/// AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }
pub(super) fn algorithm_identifier<'a>(
    element: &Element<'a>,
) -> Result<(Oid, Option<Element<'a>>)> {
    let fields = sequence(element, "AlgorithmIdentifier")?;
    match fields.as_slice() {
        [id] => Ok((oid(id)?, None)),
        [id, params] => Ok((oid(id)?, Some(*params))),
        _ => Err(corrupt("AlgorithmIdentifier")),
    }
}

/// ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY }
pub(super) fn content_info<'a>(element: &Element<'a>) -> Result<(Oid, Element<'a>)> {
    let fields = sequence(element, "ContentInfo")?;
    let [content_type, content] = fields.as_slice() else {
        return Err(corrupt("ContentInfo"));
    };
    Ok((oid(content_type)?, explicit(content, 0)?))
}
