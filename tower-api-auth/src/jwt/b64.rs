//! base64url (no padding) decoding into caller-provided buffers.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Decodes `segment` into `buf`, returning the decoded length, or `None` if it is not base64url
/// or does not fit.
pub(crate) fn decode_into(segment: &[u8], buf: &mut [u8]) -> Option<usize> {
    if base64::decoded_len_estimate(segment.len()) > buf.len() {
        return None;
    }
    URL_SAFE_NO_PAD.decode_slice(segment, buf).ok()
}

/// Decodes `segment` into a new vector.
pub(crate) fn decode_vec(segment: &[u8]) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(segment).ok()
}
