//! The digest of a policy version's restrictions that the audit log records, kept up to date
//! per change.
//!
//! What the audit log needs of it: each `policy.issued` entry commits to the restrictions of
//! that version, so that rows of `policy_restrictions` altered, added or removed afterwards no
//! longer match the logged digest (a version's document is a function of its number, its issue
//! time, both in the entry, and its set of restrictions: serialised, sorted by their unique
//! ids). So the digest must be
//! - a function of the *set* of restriction bodies, whatever the order of the adds, lifts and
//!   expiries that led to it (one live row per id: the set is never a multiset in practice);
//! - collision resistant: nobody can find a second set with the same digest, even one who can
//!   write to the database and choose the restrictions (an analyst, a stolen desk account);
//! - updatable from the previous digest and the change alone, so that issuing a version costs
//!   its change and not a read of the whole policy.
//!
//! It is the elliptic-curve multiset hash (ECMH; Maitin-Shepard, Tibouchi, Aranha, "Elliptic
//! Curve Multiset Hash", 2016) on Ristretto255: each body is hashed to a group element
//! (SHA-512, then the RFC 9496 hash-to-group map) and the digest is their sum; adding or
//! removing a restriction adds or subtracts its element. Sums are commutative, so the first
//! property holds; finding two sets with the same sum means finding a linear relation between
//! random group elements, as hard as a discrete logarithm in a prime-order group of ~2^252
//! (~126-bit security), which gives the second. The simpler sums the brief mentions do not:
//! XOR of SHA-256 values falls to Gaussian elimination over GF(2) (any 257 candidate entries
//! contain a subset with any chosen XOR), and the sum mod 2^256 to Wagner's generalised
//! birthday attack (~2^31 work with 2^15 crafted entries), both within reach of someone who
//! can insert restrictions.

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::traits::Identity;
use sha2::{Digest, Sha512};

/// Separates these hashes from any other use of SHA-512 on the same bytes.
const DOMAIN: &[u8] = b"rempart policy restriction v1\0";

/// The digest of a set of restriction bodies (each the JSON of one restriction, as stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetDigest(RistrettoPoint);

impl Default for SetDigest {
    fn default() -> Self {
        SetDigest::empty()
    }
}

impl SetDigest {
    /// The digest of the empty set.
    pub fn empty() -> SetDigest {
        SetDigest(RistrettoPoint::identity())
    }

    /// The digest of `bodies`, computed from scratch.
    pub fn of<'a>(bodies: impl IntoIterator<Item = &'a str>) -> SetDigest {
        let mut d = SetDigest::empty();
        for b in bodies {
            d.insert(b);
        }
        d
    }

    fn element(body: &str) -> RistrettoPoint {
        let h: [u8; 64] = Sha512::new()
            .chain_update(DOMAIN)
            .chain_update(body.as_bytes())
            .finalize()
            .into();
        RistrettoPoint::from_uniform_bytes(&h)
    }

    /// Adds a restriction to the set.
    pub fn insert(&mut self, body: &str) {
        self.0 += SetDigest::element(body);
    }

    /// Removes a restriction from the set (one that is in it).
    pub fn remove(&mut self, body: &str) {
        self.0 -= SetDigest::element(body);
    }

    /// Adds every element of another set's digest (the digest of the union of disjoint sets).
    pub fn insert_all(&mut self, other: &SetDigest) {
        self.0 += other.0;
    }

    /// Removes every element of another set's digest (one included in this set).
    pub fn remove_all(&mut self, other: &SetDigest) {
        self.0 -= other.0;
    }

    /// The digest as stored and logged: 64 hex digits (the compressed group element).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.compress().as_bytes())
    }

    /// Reads back [`SetDigest::to_hex`]; `None` if it is not a valid encoding.
    pub fn from_hex(s: &str) -> Option<SetDigest> {
        let bytes = hex::decode(s).ok()?;
        CompressedRistretto::from_slice(&bytes)
            .ok()?
            .decompress()
            .map(SetDigest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_of_the_set_whatever_the_order_of_changes() {
        let a = SetDigest::of(["x", "y", "z"]);
        let mut b = SetDigest::of(["z", "w"]);
        b.insert("x");
        b.remove("w");
        b.insert("y");
        assert_eq!(a, b);
        assert_eq!(SetDigest::from_hex(&a.to_hex()), Some(a));
        assert_ne!(a, SetDigest::of(["x", "y"]));
        assert_ne!(a, SetDigest::of(["x", "y", "z", "z"]));
        let mut e = a;
        for s in ["y", "x", "z"] {
            e.remove(s);
        }
        assert_eq!(e, SetDigest::empty());
        assert_eq!(SetDigest::from_hex("zz"), None);
    }
}
