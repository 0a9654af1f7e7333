//! The node secret: the HMAC key that turns local ids into pseudonyms.
//!
//! NB: whoever holds a node's secret can link pseudonyms back to local ids by trying them, so the
//! secret stays on its node; it is never printed, logged or sent, which is why [`NodeSecret`]'s
//! `Debug` shows no bytes and there is no `Display`.

use std::fmt;

use crate::{Error, Result};

/// A node's 32-byte pseudonymisation key.
#[derive(Clone)]
pub struct NodeSecret([u8; 32]);

impl NodeSecret {
    /// Wraps raw key bytes, e.g. freshly generated ones.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        NodeSecret(bytes)
    }

    /// Parses 64 hex digits (either case); surrounding whitespace such as a file's trailing
    /// newline is ignored.
    pub fn from_hex(s: &str) -> Result<Self> {
        let t = s.trim();
        let invalid = |reason: String| Error::InvalidInput { what: "node secret", reason };
        if t.len() != 64 {
            return Err(invalid(format!("expected 64 hex digits, got {} characters", t.len())));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(t, &mut bytes)
            .map_err(|_| invalid("expected only hex digits 0-9 and a-f".to_owned()))?;
        Ok(NodeSecret(bytes))
    }

    /// The key as 64 lowercase hex digits, for writing the secret file.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The raw key bytes, for keying the HMAC.
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for NodeSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NodeSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_ignores_a_trailing_newline() {
        let s = NodeSecret::from_bytes([0xab; 32]);
        let hex = s.to_hex();
        assert_eq!(hex, "ab".repeat(32));
        assert_eq!(NodeSecret::from_hex(&format!("{hex}\n")).unwrap().as_bytes(), &[0xab; 32]);
        assert_eq!(NodeSecret::from_hex(&hex.to_uppercase()).unwrap().to_hex(), hex);
    }

    #[test]
    fn from_hex_rejects_wrong_length_and_non_hex_without_echoing_input() {
        let err = NodeSecret::from_hex("abcd").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid node secret: expected 64 hex digits, got 4 characters"
        );
        let bad = format!("{}zz", "0".repeat(62));
        let err = NodeSecret::from_hex(&bad).unwrap_err().to_string();
        assert!(!err.contains(&bad), "{err}");
        assert!(err.contains("hex digits"), "{err}");
    }

    #[test]
    fn debug_does_not_print_the_key() {
        let s = NodeSecret::from_bytes([0x5a; 32]);
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("5a") && !dbg.contains("90"), "{dbg}");
        assert_eq!(dbg, "NodeSecret(<redacted>)");
    }
}
