//! Field-level protection primitives: data keys that seal fields with XChaCha20-Poly1305
//! under a row-binding AAD, and index keys that derive blind indexes for equality lookups.
//!
//! Sealed format (version 1): `0x01 || nonce (24 random bytes) || ciphertext || tag (16)`.
//! A 192-bit random nonce makes nonce reuse under one key negligible without any counter
//! state, which is why XChaCha20 rather than ChaCha20 (96-bit nonce) is used.

use crate::secret::{Secret32, KEY_LEN};
use crate::VaultError;
use chacha20poly1305::aead::generic_array::GenericArray;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// First byte of every sealed value produced by this version of the format.
pub const SEALED_VERSION: u8 = 0x01;
/// XChaCha20 nonce length.
pub const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;
/// Bytes a sealed value adds to its plaintext (version + nonce + tag).
pub const SEALED_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

/// Prefix of the AAD encoding; bump it if the encoding ever changes.
const AAD_PREFIX: &[u8] = b"careslot/v1";

/// Seals `plaintext` under a raw 32-byte key with raw associated data.
///
/// # Panics
/// Only for a plaintext longer than XChaCha20's keystream (256 GiB), which cannot occur for
/// database fields or anything that passed keyd's 1 MiB body limit.
pub(crate) fn seal_raw(key: &[u8; KEY_LEN], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    seal_with_nonce(key, &nonce, plaintext, aad)
}

/// [`seal_raw`] with a caller-chosen nonce: only for known-answer tests. A nonce must never
/// repeat under one key, which only the random nonce of [`seal_raw`] guarantees.
fn seal_with_nonce(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
    aad: &[u8],
) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(GenericArray::from_slice(key));
    let payload = Payload {
        msg: plaintext,
        aad,
    };
    let ciphertext = match cipher.encrypt(XNonce::from_slice(nonce), payload) {
        Ok(ct) => ct,
        Err(_) => panic!("plaintext exceeds the XChaCha20-Poly1305 length limit"),
    };
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    out.push(SEALED_VERSION);
    out.extend_from_slice(nonce);
    out.extend_from_slice(&ciphertext);
    out
}

/// Opens a value produced by [`seal_raw`]. Every failure is the same opaque
/// [`VaultError::Decrypt`]: unknown version byte, truncation, tampering, wrong key or AAD.
pub(crate) fn open_raw(
    key: &[u8; KEY_LEN],
    sealed: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, VaultError> {
    if sealed.len() < SEALED_OVERHEAD || sealed[0] != SEALED_VERSION {
        return Err(VaultError::Decrypt);
    }
    let (nonce, ciphertext) = sealed[1..].split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new(GenericArray::from_slice(key));
    let payload = Payload {
        msg: ciphertext,
        aad,
    };
    cipher
        .decrypt(XNonce::from_slice(nonce), payload)
        .map_err(|_| VaultError::Decrypt)
}

/// Appends `bytes` with a 64-bit big-endian length prefix, so that a concatenation of
/// prefixed fields can be split back in exactly one way.
pub(crate) fn push_length_prefixed(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    buf.extend_from_slice(bytes);
}

/// HMAC-SHA256 over the concatenation of `parts`, for a key of any length.
///
/// The key is pre-processed exactly as RFC 2104 says (hashed when longer than the 64-byte
/// block, then zero-padded to the block), which makes construction infallible.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        let mut digest = Sha256::digest(key);
        block[..digest.len()].copy_from_slice(&digest);
        digest.zeroize();
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new(GenericArray::from_slice(&block));
    block.zeroize();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Where a sealed value lives. Binding it into the AEAD means a ciphertext copied to another
/// row, column or table does not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Aad<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row: &'a str,
}

impl<'a> Aad<'a> {
    pub fn new(table: &'a str, column: &'a str, row: &'a str) -> Self {
        Aad { table, column, row }
    }

    /// `"careslot/v1" || len(table) || table || len(column) || column || len(row) || row`,
    /// lengths as 64-bit big-endian. Unambiguous: `("ab", "c")` and `("a", "bc")` differ.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(
            AAD_PREFIX.len() + 24 + self.table.len() + self.column.len() + self.row.len(),
        );
        buf.extend_from_slice(AAD_PREFIX);
        push_length_prefixed(&mut buf, self.table.as_bytes());
        push_length_prefixed(&mut buf, self.column.as_bytes());
        push_length_prefixed(&mut buf, self.row.as_bytes());
        buf
    }
}

/// A data-encryption key (DEK): 32 random bytes that seal fields. It is stored only wrapped
/// by keyd (see [`crate::KeyCustody::datakey`]); this in-memory form is wiped on drop.
#[derive(Clone)]
pub struct DataKey(Secret32);

impl DataKey {
    /// A fresh key from the operating system's RNG.
    pub fn generate() -> Self {
        DataKey(Secret32::random())
    }

    /// Exactly 32 bytes, or [`VaultError::Invalid`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VaultError> {
        Secret32::from_slice(bytes)
            .map(DataKey)
            .ok_or_else(|| VaultError::Invalid(format!("a data key is {KEY_LEN} bytes")))
    }

    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        self.0.bytes()
    }

    /// Seals `plaintext` bound to `aad`: `0x01 || nonce || ciphertext+tag`.
    ///
    /// # Panics
    /// Only for plaintexts over 256 GiB (the XChaCha20 keystream limit).
    pub fn seal(&self, plaintext: &[u8], aad: &Aad) -> Vec<u8> {
        seal_raw(self.0.bytes(), plaintext, &aad.encode())
    }

    /// Opens a value sealed by [`DataKey::seal`] with the same key and AAD; anything else is
    /// [`VaultError::Decrypt`].
    pub fn open(&self, sealed: &[u8], aad: &Aad) -> Result<Vec<u8>, VaultError> {
        open_raw(self.0.bytes(), sealed, &aad.encode())
    }

    /// [`DataKey::seal`] for text.
    pub fn seal_str(&self, plaintext: &str, aad: &Aad) -> Vec<u8> {
        self.seal(plaintext.as_bytes(), aad)
    }

    /// [`DataKey::open`] for text; non-UTF-8 plaintext is [`VaultError::Decrypt`].
    pub fn open_string(&self, sealed: &[u8], aad: &Aad) -> Result<String, VaultError> {
        let bytes = self.open(sealed, aad)?;
        String::from_utf8(bytes).map_err(|e| {
            let mut bytes = e.into_bytes();
            bytes.zeroize();
            VaultError::Decrypt
        })
    }
}

impl ZeroizeOnDrop for DataKey {}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(**redacted**)")
    }
}

/// A key for blind indexes and keyed hashes (CipherSweet's design). Keep it apart from data
/// keys: it lives with the application (or is unwrapped from keyd at start), one per indexed
/// column family.
///
/// # Why truncated indexes
/// A full-width keyed hash of a field is a deterministic pseudonym: anyone who can read the
/// table learns which rows share a value (equal birth dates, equal names), which links rows
/// and leaks frequencies. CipherSweet therefore *truncates* the index to a few bits so that
/// many different values share each index value: a lookup returns a handful of candidate
/// rows, the application decrypts them and filters out the false positives. The
/// coincidences are the point: two rows with the same index value are not known to be equal.
///
/// # Choosing `bits`
/// With `N` expected rows and one index of `b` bits, each index value is shared by about
/// `N / 2^b` rows. Keep that at 2 or more (CipherSweet's "safe" bound), i.e.
/// `b ≈ log2(N) − margin` with a margin of at least 1: ~16 bits for 100 000 rows. Several
/// indexes over the same column add up (`N / 2^(b1 + b2 + …)` must stay ≥ 2), since
/// combining them narrows the candidates. Too few bits only costs extra decryptions.
#[derive(Clone)]
pub struct IndexKey(Secret32);

/// Marks keyed-hash input. A blind-index input starts with the context's 64-bit length,
/// which can never be `u64::MAX`, so the two input spaces never overlap: a full keyed hash
/// never reveals the truncated index of the same value (or the other way round).
const KEYED_HASH_MARKER: [u8; 8] = [0xff; 8];

impl IndexKey {
    pub fn generate() -> Self {
        IndexKey(Secret32::random())
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VaultError> {
        Secret32::from_slice(bytes)
            .map(IndexKey)
            .ok_or_else(|| VaultError::Invalid(format!("an index key is {KEY_LEN} bytes")))
    }

    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        self.0.bytes()
    }

    /// The first `bits` bits (clamped to 1..=32) of
    /// `HMAC-SHA256(key, len(context) || context || value)`, as a non-negative integer
    /// (`0 ..= 2^bits − 1`). `context` names the column and normalisation (for example
    /// `"patients.last_name/lower-nfkc"`) so equal values in different columns get
    /// unrelated indexes. Normalise `value` before calling.
    pub fn blind_index(&self, context: &str, value: &[u8], bits: u8) -> i64 {
        let bits = u32::from(bits.clamp(1, 32));
        let len = (context.len() as u64).to_be_bytes();
        let mac = hmac_sha256(self.0.bytes(), &[&len, context.as_bytes(), value]);
        let head = u32::from_be_bytes([mac[0], mac[1], mac[2], mac[3]]);
        i64::from(head >> (32 - bits))
    }

    /// The full 256-bit keyed hash, for uniqueness constraints (an e-mail address that must
    /// be unique). It reveals equality by design: use it only where the constraint itself
    /// already does. Domain-separated from [`IndexKey::blind_index`].
    pub fn keyed_hash(&self, context: &str, value: &[u8]) -> [u8; 32] {
        let len = (context.len() as u64).to_be_bytes();
        hmac_sha256(
            self.0.bytes(),
            &[&KEYED_HASH_MARKER, &len, context.as_bytes(), value],
        )
    }
}

impl ZeroizeOnDrop for IndexKey {}

impl fmt::Debug for IndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IndexKey(**redacted**)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn key32(bytes: &[u8]) -> [u8; KEY_LEN] {
        bytes.try_into().unwrap()
    }

    /// AEAD_XChaCha20_Poly1305 test vector, draft-irtf-cfrg-xchacha-03, Appendix A.3.1.
    #[test]
    fn xchacha20_poly1305_known_answer() {
        let key = key32(&unhex(
            "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
        ));
        let nonce: [u8; NONCE_LEN] = unhex("404142434445464748494a4b4c4d4e4f5051525354555657")
            .try_into()
            .unwrap();
        let aad = unhex("50515253c0c1c2c3c4c5c6c7");
        let plaintext: &[u8] = b"Ladies and Gentlemen of the class of '99: If I could offer you \
            only one tip for the future, sunscreen would be it.";
        let ciphertext = unhex(
            "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb\
             731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452\
             2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9\
             21f9664c97637da9768812f615c68b13b52e",
        );
        let tag = unhex("c0875924c1c7987947deafd8780acf49");

        let mut expected = vec![SEALED_VERSION];
        expected.extend_from_slice(&nonce);
        expected.extend_from_slice(&ciphertext);
        expected.extend_from_slice(&tag);

        let sealed = seal_with_nonce(&key, &nonce, plaintext, &aad);
        assert_eq!(hex::encode(&sealed), hex::encode(&expected));
        assert_eq!(open_raw(&key, &expected, &aad).unwrap(), plaintext);

        let mut bad_tag = expected.clone();
        *bad_tag.last_mut().unwrap() ^= 1;
        assert_eq!(open_raw(&key, &bad_tag, &aad), Err(VaultError::Decrypt));
    }

    /// RFC 4231 test case 2 (short key), plus case 6 (key longer than the block, hashed
    /// first) since the key pre-processing is done here.
    #[test]
    fn hmac_sha256_known_answers() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Parts are concatenated.
        let split = hmac_sha256(b"Jefe", &[b"what do ya ", b"", b"want for nothing?"]);
        assert_eq!(split, mac);

        let mac6 = hmac_sha256(
            &[0xaa; 131],
            &[b"Test Using Larger Than Block-Size Key - Hash Key First"],
        );
        assert_eq!(
            hex::encode(mac6),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    fn aad() -> Aad<'static> {
        Aad::new(
            "patients",
            "last_name",
            "018f6b2e-0000-7000-8000-000000000001",
        )
    }

    #[test]
    fn seal_open_round_trip() {
        let key = DataKey::generate();
        for pt in [&b""[..], b"x", b"Dupont", &[0u8; 4096][..]] {
            let sealed = key.seal(pt, &aad());
            assert_eq!(sealed.len(), pt.len() + SEALED_OVERHEAD);
            assert_eq!(sealed[0], SEALED_VERSION);
            assert_eq!(key.open(&sealed, &aad()).unwrap(), pt);
        }
        let sealed = key.seal_str("Élodie Dupont", &aad());
        assert_eq!(key.open_string(&sealed, &aad()).unwrap(), "Élodie Dupont");
        // Random nonces: sealing twice gives different ciphertexts.
        assert_ne!(key.seal(b"same", &aad()), key.seal(b"same", &aad()));
    }

    #[test]
    fn every_flipped_bit_is_rejected() {
        let key = DataKey::generate();
        let sealed = key.seal(b"allergy: penicillin", &aad());
        for i in 0..sealed.len() {
            for bit in [0x01u8, 0x80] {
                let mut t = sealed.clone();
                t[i] ^= bit;
                assert_eq!(key.open(&t, &aad()), Err(VaultError::Decrypt), "byte {i}");
            }
        }
    }

    #[test]
    fn truncation_extension_and_unknown_version_are_rejected() {
        let key = DataKey::generate();
        let sealed = key.seal(b"diagnosis", &aad());
        for len in 0..sealed.len() {
            assert_eq!(key.open(&sealed[..len], &aad()), Err(VaultError::Decrypt));
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert_eq!(key.open(&longer, &aad()), Err(VaultError::Decrypt));
        for version in [0x00u8, 0x02, 0xff] {
            let mut t = sealed.clone();
            t[0] = version;
            assert_eq!(key.open(&t, &aad()), Err(VaultError::Decrypt));
        }
    }

    #[test]
    fn a_ciphertext_moved_elsewhere_does_not_open() {
        let key = DataKey::generate();
        let sealed = key.seal(b"1970-01-01", &Aad::new("patients", "birth_date", "row-1"));
        assert!(key
            .open(&sealed, &Aad::new("patients", "birth_date", "row-1"))
            .is_ok());
        for other in [
            Aad::new("patients", "birth_date", "row-2"),
            Aad::new("patients", "last_name", "row-1"),
            Aad::new("practitioners", "birth_date", "row-1"),
            // Same concatenation, different split: the length prefixes tell them apart.
            Aad::new("patientsbirth_date", "", "row-1"),
            Aad::new("patients", "birth_daterow-1", ""),
        ] {
            assert_eq!(key.open(&sealed, &other), Err(VaultError::Decrypt));
        }
        let other_key = DataKey::generate();
        let right = Aad::new("patients", "birth_date", "row-1");
        assert_eq!(other_key.open(&sealed, &right), Err(VaultError::Decrypt));
    }

    #[test]
    fn aad_encoding_is_unambiguous() {
        let a = Aad::new("ab", "c", "d").encode();
        let b = Aad::new("a", "bc", "d").encode();
        let c = Aad::new("a", "b", "cd").encode();
        assert_ne!(a, b);
        assert_ne!(b, c);
        assert!(a.starts_with(b"careslot/v1"));
        assert_eq!(a.len(), b"careslot/v1".len() + 24 + 4);
    }

    #[test]
    fn invalid_utf8_is_a_decrypt_error() {
        let key = DataKey::generate();
        let sealed = key.seal(&[0xff, 0xfe], &aad());
        assert_eq!(key.open_string(&sealed, &aad()), Err(VaultError::Decrypt));
    }

    #[test]
    fn keys_are_redacted_and_sized() {
        let dk = DataKey::generate();
        assert_eq!(format!("{dk:?}"), "DataKey(**redacted**)");
        let ik = IndexKey::generate();
        assert_eq!(format!("{ik:?}"), "IndexKey(**redacted**)");
        assert!(DataKey::from_bytes(&[0u8; 31]).is_err());
        assert!(DataKey::from_bytes(&[0u8; 33]).is_err());
        let copy = DataKey::from_bytes(dk.as_bytes()).unwrap();
        assert_eq!(copy.as_bytes(), dk.as_bytes());
        assert_eq!(dk.clone().as_bytes(), dk.as_bytes());
        assert!(IndexKey::from_bytes(&[7u8; 16]).is_err());
    }

    #[test]
    fn blind_index_is_a_truncated_keyed_hash() {
        let key = IndexKey::from_bytes(&[0x42; 32]).unwrap();
        let ctx = "patients.last_name";
        // Definition: the first `bits` bits of HMAC(key, len(ctx) || ctx || value).
        let mac = hmac_sha256(
            &[0x42; 32],
            &[&(ctx.len() as u64).to_be_bytes(), ctx.as_bytes(), b"dupont"],
        );
        let head = u32::from_be_bytes([mac[0], mac[1], mac[2], mac[3]]);
        assert_eq!(key.blind_index(ctx, b"dupont", 32), i64::from(head));
        assert_eq!(key.blind_index(ctx, b"dupont", 12), i64::from(head >> 20));
        assert_eq!(key.blind_index(ctx, b"dupont", 1), i64::from(head >> 31));
        // Clamped to 1..=32.
        assert_eq!(
            key.blind_index(ctx, b"dupont", 0),
            key.blind_index(ctx, b"dupont", 1)
        );
        assert_eq!(
            key.blind_index(ctx, b"dupont", 200),
            key.blind_index(ctx, b"dupont", 32)
        );
        for bits in 1..=32u8 {
            let v = key.blind_index(ctx, b"dupont", bits);
            assert!(v >= 0 && v < (1i64 << bits), "bits {bits}: {v}");
        }
        // Deterministic; depends on key and context.
        assert_eq!(
            key.blind_index(ctx, b"dupont", 32),
            key.blind_index(ctx, b"dupont", 32)
        );
        let other = IndexKey::from_bytes(&[0x43; 32]).unwrap();
        assert_ne!(
            other.blind_index(ctx, b"dupont", 32),
            key.blind_index(ctx, b"dupont", 32)
        );
        assert_ne!(
            key.blind_index("patients.first_name", b"dupont", 32),
            key.blind_index(ctx, b"dupont", 32)
        );
        // The context is length-prefixed: ("ab", "c") is not ("a", "bc").
        assert_ne!(
            key.blind_index("ab", b"c", 32),
            key.blind_index("a", b"bc", 32)
        );
    }

    #[test]
    fn truncated_index_produces_deliberate_collisions() {
        let key = IndexKey::generate();
        let mut buckets = [0u32; 16];
        for i in 0..1000 {
            let v = key.blind_index("t.c", format!("value-{i}").as_bytes(), 4);
            buckets[usize::try_from(v).unwrap()] += 1;
        }
        // 1000 distinct values in 16 buckets: every bucket is shared by many values.
        assert!(buckets.iter().all(|&n| n > 20), "{buckets:?}");
    }

    #[test]
    fn keyed_hash_is_full_width_and_domain_separated() {
        let key = IndexKey::from_bytes(&[0x42; 32]).unwrap();
        let h = key.keyed_hash("accounts.email", b"a@example.org");
        assert_eq!(h, key.keyed_hash("accounts.email", b"a@example.org"));
        assert_ne!(h, key.keyed_hash("accounts.email", b"b@example.org"));
        assert_ne!(h, key.keyed_hash("accounts.phone", b"a@example.org"));
        let blind_input = hmac_sha256(
            &[0x42; 32],
            &[&14u64.to_be_bytes(), b"accounts.email", b"a@example.org"],
        );
        assert_ne!(h, blind_input);
    }
}
