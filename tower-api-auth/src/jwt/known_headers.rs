//! The JOSE headers of tokens that verified, remembered by their exact base64url bytes.
//!
//! An issuer writes the same header on every token it signs with one key (`alg`, `typ`, `kid`),
//! so a token whose header segment is one of these bytes for bytes needs no base64 decoding and
//! no JSON parsing of it: a full verification of an HS256 token costs some 1,600 instructions
//! less (of ~29,000 over the bare router; `benches/compare`). The answer is the same as
//! parsing: equal bytes parse to the same header, and the required `typ` is the verifier's own.
//!
//! Only headers of tokens whose signature a trusted key verified are remembered, so a client
//! cannot fill the list with headers of its own making. The list is short ([`CAPACITY`]); a
//! new header takes the place of one of the oldest when it is full (after key rotations, the
//! header of a retired `kid` is no longer presented). An issuer that writes a new header on
//! every token (a nonce in it) gains nothing and pays a copy of the list's pointers per
//! verification, a few hundred instructions next to the ~1,700 of the parse it still does.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arc_swap::ArcSwap;

use crate::jwt::header::Header;

/// How many headers an issuer's verifier remembers: one per signing key in use, with room for a
/// rotation or two.
const CAPACITY: usize = 8;

/// A header segment and what it parsed to.
struct Known {
    segment: Box<[u8]>,
    header: Header,
}

/// See the [module](self).
pub(crate) struct KnownHeaders {
    /// Read on every verification, written once per new header: a load is wait-free and takes
    /// no lock all threads would contend for. A new list shares the entries of the old one.
    known: ArcSwap<Vec<Arc<Known>>>,
    /// Where the next header goes once the list is full: one of the oldest (concurrent and
    /// repeated remembers move it on too).
    next_replaced: AtomicUsize,
}

impl KnownHeaders {
    pub(crate) fn new() -> Self {
        Self {
            known: ArcSwap::from_pointee(Vec::new()),
            next_replaced: AtomicUsize::new(0),
        }
    }

    /// The header `segment` parsed to, if it is one of a token that verified.
    pub(crate) fn get(&self, segment: &[u8]) -> Option<Header> {
        let known = self.known.load();
        known
            .iter()
            .find(|known| *known.segment == *segment)
            .map(|known| known.header.clone())
    }

    /// Remembers `header`, parsed from `segment`, of a token whose signature verified.
    pub(crate) fn remember(&self, segment: &[u8], header: &Header) {
        if self.get(segment).is_some() {
            return;
        }
        let slot = self.next_replaced.fetch_add(1, Ordering::Relaxed) % CAPACITY;
        let new = Arc::new(Known {
            segment: Box::from(segment),
            header: header.clone(),
        });
        self.known.rcu(|known| {
            let mut updated: Vec<Arc<Known>> = known
                .iter()
                .filter(|other| *other.segment != *segment)
                .cloned()
                .collect();
            let new = Arc::clone(&new);
            if updated.len() < CAPACITY {
                updated.push(new);
            } else {
                updated[slot] = new;
            }
            updated
        });
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.known.load().len()
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::Algorithm;

    use super::*;

    fn header(kid: &str) -> Header {
        Header {
            alg: Algorithm::HS256,
            kid: Some(Arc::from(kid)),
            typ_ok: true,
        }
    }

    #[test]
    fn a_remembered_segment_answers_its_header_and_no_other_segment_does() {
        let headers = KnownHeaders::new();
        assert!(headers.get(b"eyJhbGciOiJIUzI1NiJ9").is_none());
        headers.remember(b"eyJhbGciOiJIUzI1NiJ9", &header("a"));
        let found = headers.get(b"eyJhbGciOiJIUzI1NiJ9").expect("remembered");
        assert_eq!(found.kid.as_deref(), Some("a"));
        // A prefix, an extension or one changed byte is another header.
        for other in [
            &b"eyJhbGciOiJIUzI1NiJ"[..],
            b"eyJhbGciOiJIUzI1NiJ9x",
            b"eyJhbGciOiJIUzI1NiJ8",
        ] {
            assert!(headers.get(other).is_none());
        }
        // Remembered twice, held once.
        headers.remember(b"eyJhbGciOiJIUzI1NiJ9", &header("a"));
        assert_eq!(headers.len(), 1);
    }

    #[test]
    fn the_list_stays_bounded_and_a_new_header_takes_the_oldest_place() {
        let headers = KnownHeaders::new();
        for i in 0..CAPACITY {
            headers.remember(format!("segment-{i}").as_bytes(), &header(&i.to_string()));
        }
        assert_eq!(headers.len(), CAPACITY);
        headers.remember(b"segment-new", &header("new"));
        assert_eq!(headers.len(), CAPACITY);
        assert_eq!(
            headers.get(b"segment-new").and_then(|h| h.kid).as_deref(),
            Some("new")
        );
        assert!(headers.get(b"segment-0").is_none(), "the oldest went");
        for i in 1..CAPACITY {
            assert!(headers.get(format!("segment-{i}").as_bytes()).is_some());
        }
        // Many more: never more than CAPACITY, and the newest is always there.
        for i in 0..100 {
            let segment = format!("more-{i}");
            headers.remember(segment.as_bytes(), &header("more"));
            assert!(headers.get(segment.as_bytes()).is_some());
            assert_eq!(headers.len(), CAPACITY);
        }
    }
}
