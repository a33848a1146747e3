//! When each key signs and until when it is published, worked out from the whole set: a key
//! signs from its `signs_from` until the next key's, and stays published until its last token
//! has expired (`keep` after it stopped signing). Pure functions, so the rules are tested alone.

/// Index of the key that signs at `now` among keys sorted by `signs_from`: the latest that has
/// started; the earliest if none has (a clock set back).
pub(crate) fn signer(signs_from: &[u64], now: u64) -> usize {
    signs_from
        .iter()
        .rposition(|&from| from <= now)
        .unwrap_or(0)
}

/// Until when key `index` (of keys sorted by `signs_from`) is published: `keep` after its
/// successor starts signing. `None` for the last key: it signs until a successor exists.
pub(crate) fn published_until(signs_from: &[u64], index: usize, keep: u64) -> Option<u64> {
    signs_from
        .get(index + 1)
        .map(|&next| next.saturating_add(keep))
}

/// What to insert, if anything: `Some((signs_from, signs_until))` of the successor of the key
/// signing at `now`, when no successor exists yet and its start is near.
///
/// The successor is due `publish_ahead + lead` before the signer's scheduled end, and signs
/// from exactly that end, so that instances refreshing at different moments of that window
/// make the same key (its kid is derived from its start) and one insert wins. Late (the store
/// was down, the instance asleep), it signs `publish_ahead` from now: still published first.
pub(crate) fn successor(
    signs_from: &[u64],
    signs_until_of_signer: u64,
    now: u64,
    publish_ahead: u64,
    lead: u64,
    rotate_every: u64,
) -> Option<(u64, u64)> {
    let signer = signer(signs_from, now);
    if signs_from.len() > signer + 1 {
        return None;
    }
    let due = signs_until_of_signer.saturating_sub(publish_ahead.saturating_add(lead));
    if now < due {
        return None;
    }
    let from = signs_until_of_signer.max(now.saturating_add(publish_ahead));
    Some((from, from.saturating_add(rotate_every)))
}

/// The first key of an empty store: it signs at once, from the start of the current
/// `rotate_every` slot, so that instances starting together on an empty store make the same one.
pub(crate) fn first(now: u64, rotate_every: u64) -> (u64, u64) {
    let from = now - now % rotate_every.max(1);
    (from, from.saturating_add(rotate_every))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_started_key_signs() {
        assert_eq!(signer(&[100, 200, 300], 250), 1);
        assert_eq!(signer(&[100, 200, 300], 300), 2);
        assert_eq!(signer(&[100, 200], 50), 0);
    }

    #[test]
    fn a_key_is_published_until_keep_after_its_successor_starts() {
        assert_eq!(published_until(&[100, 200], 0, 15), Some(215));
        assert_eq!(published_until(&[100, 200], 1, 15), None);
    }

    #[test]
    fn the_successor_starts_at_the_scheduled_end_unless_late() {
        // Signer [100, 1000), publish ahead 100, lead 20: due from 880.
        assert_eq!(successor(&[100], 1000, 879, 100, 20, 900), None);
        assert_eq!(
            successor(&[100], 1000, 880, 100, 20, 900),
            Some((1000, 1900))
        );
        assert_eq!(
            successor(&[100], 1000, 899, 100, 20, 900),
            Some((1000, 1900))
        );
        // Late: still published 100 s before it signs.
        assert_eq!(
            successor(&[100], 1000, 950, 100, 20, 900),
            Some((1050, 1950))
        );
        // A successor exists: nothing to do.
        assert_eq!(successor(&[100, 1000], 1000, 950, 100, 20, 900), None);
        assert_eq!(first(1234, 1000), (1000, 2000));
    }
}
