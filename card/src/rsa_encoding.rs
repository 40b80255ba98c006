//! The RSA encodings done on the host (RFC 8017): a PIV card does only the raw private-key
//! operation on a block as long as the modulus, so signing pads before it and decrypting
//! removes the padding after it.

use alloc::vec::Vec;

use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use subtle::{ConditionallySelectable, ConstantTimeEq, ConstantTimeLess};
use zeroize::Zeroizing;

/// The hash named in an encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        match self {
            Self::Sha1 => run::<Sha1>(parts),
            Self::Sha256 => run::<Sha256>(parts),
            Self::Sha384 => run::<Sha384>(parts),
            Self::Sha512 => run::<Sha512>(parts),
        }
    }

    /// The DER DigestInfo up to the digest bytes (RFC 8017 §9.2 note 1).
    fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Self::Sha1 => &[
                0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
                0x14,
            ],
            Self::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Self::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Self::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }
}

/// Why a block could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooShort;

/// EMSA-PKCS1-v1_5 (RFC 8017 §9.2) for a `modulus_len`-byte key.
pub fn pkcs1v15_signature_block(
    hash: Hash,
    digest: &[u8],
    modulus_len: usize,
) -> Result<Vec<u8>, TooShort> {
    let prefix = hash.digest_info_prefix();
    let t_len = prefix.len() + digest.len();
    if digest.len() != hash.output_len() || modulus_len < t_len + 11 {
        return Err(TooShort);
    }
    let mut block = Vec::with_capacity(modulus_len);
    block.extend_from_slice(&[0x00, 0x01]);
    block.resize(modulus_len - t_len - 1, 0xFF);
    block.push(0x00);
    block.extend_from_slice(prefix);
    block.extend_from_slice(digest);
    Ok(block)
}

/// MGF1 (RFC 8017 §B.2.1), XORed into `out`.
fn mgf1_xor(hash: Hash, seed: &[u8], out: &mut [u8]) {
    for (counter, chunk) in out.chunks_mut(hash.output_len()).enumerate() {
        let mask = hash.digest(&[seed, &(counter as u32).to_be_bytes()]);
        for (o, m) in chunk.iter_mut().zip(mask) {
            *o ^= m;
        }
    }
}

/// EMSA-PSS-ENCODE (RFC 8017 §9.1.1) with MGF1 over the same hash, for a key of
/// `modulus_bits`; the result is as long as the modulus (with a leading zero byte when
/// emBits = modBits − 1 fits in one byte less, i.e. modBits ≡ 1 mod 8).
pub fn pss_signature_block(
    hash: Hash,
    digest: &[u8],
    salt: &[u8],
    modulus_bits: usize,
) -> Result<Vec<u8>, TooShort> {
    let h_len = hash.output_len();
    let em_bits = modulus_bits.checked_sub(1).ok_or(TooShort)?;
    let em_len = em_bits.div_ceil(8);
    if digest.len() != h_len || em_len < h_len + salt.len() + 2 {
        return Err(TooShort);
    }
    let h = hash.digest(&[&[0u8; 8], digest, salt]);
    let mut db = alloc::vec![0u8; em_len - h_len - 1];
    let one_at = db.len() - salt.len() - 1;
    db[one_at] = 0x01;
    db[one_at + 1..].copy_from_slice(salt);
    mgf1_xor(hash, &h, &mut db);
    db[0] &= 0xFF >> (8 * em_len - em_bits);
    let mut block = Vec::with_capacity(modulus_bits.div_ceil(8));
    if modulus_bits.div_ceil(8) > em_len {
        block.push(0);
    }
    block.extend_from_slice(&db);
    block.extend_from_slice(&h);
    block.push(0xBC);
    Ok(block)
}

/// Remove EME-PKCS1-v1_5 padding (RFC 8017 §7.2.2) from a decrypted block. `None` on bad
/// padding. The scan takes the same time wherever the padding is wrong; the caller must not
/// tell a bad padding apart from a wrong key (RFC 3218 §2.3: the engine carries on with a
/// random key).
pub fn pkcs1v15_decryption_unpad(block: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if block.len() < 11 {
        return None;
    }
    let mut good = block[0].ct_eq(&0) & block[1].ct_eq(&2);
    let mut separator = 0u32;
    let mut found = subtle::Choice::from(0);
    for (i, b) in block.iter().enumerate().skip(2) {
        let is_zero = b.ct_eq(&0);
        let first = is_zero & !found;
        separator.conditional_assign(&(i as u32), first);
        found |= is_zero;
    }
    good &= found;
    // At least eight bytes of padding (§7.2.2 step 3).
    good &= !separator.ct_lt(&10);
    if bool::from(good) {
        Some(Zeroizing::new(block[separator as usize + 1..].to_vec()))
    } else {
        None
    }
}

/// Remove EME-OAEP padding (RFC 8017 §7.1.2) with MGF1 over `hash` and an empty label.
pub fn oaep_unpad(hash: Hash, block: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let h_len = hash.output_len();
    if block.len() < 2 * h_len + 2 {
        return None;
    }
    let mut seed = Zeroizing::new(block[1..1 + h_len].to_vec());
    let mut db = Zeroizing::new(block[1 + h_len..].to_vec());
    mgf1_xor(hash, &db, &mut seed);
    mgf1_xor(hash, &seed, &mut db);
    let label_hash = hash.digest(&[]);
    let mut good = block[0].ct_eq(&0) & db[..h_len].ct_eq(&label_hash);
    let mut separator = 0u32;
    let mut found = subtle::Choice::from(0);
    let mut bad_padding = subtle::Choice::from(0);
    for (i, b) in db.iter().enumerate().skip(h_len) {
        let is_one = b.ct_eq(&1);
        let is_zero = b.ct_eq(&0);
        separator.conditional_assign(&(i as u32), is_one & !found);
        bad_padding |= !found & !is_one & !is_zero;
        found |= is_one;
    }
    good &= found & !bad_padding;
    if bool::from(good) {
        Some(Zeroizing::new(db[separator as usize + 1..].to_vec()))
    } else {
        None
    }
}
