//! Key and value encodings shared by the node and hub trees.
//!
//! Sequences are big-endian `u64` so that sled's byte order is numeric order.
//! Values are JSON: self-describing, so a newer binary can read an older store.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Encodes a sequence as an order-preserving key.
pub(crate) fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// Decodes a sequence key.
pub(crate) fn seq_from_key(tree: &'static str, k: &[u8]) -> Result<u64> {
    let bytes: [u8; 8] =
        k.try_into().map_err(|_| Error::corrupt(tree, "sequence key is not 8 bytes"))?;
    Ok(u64::from_be_bytes(bytes))
}

/// Encodes a value.
pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("store values are plain data that always serialize")
}

/// Encodes a value into a buffer of `capacity` bytes, so that a value of about that size is
/// written without the buffer being regrown (and copied) several times on the way.
pub(crate) fn encode_sized<T: Serialize>(v: &T, capacity: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut buf, v).expect("store values are plain data that always serialize");
    buf
}

/// Decodes a value, reporting the tree on failure.
pub(crate) fn decode<T: DeserializeOwned>(tree: &'static str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::corrupt(tree, e))
}

/// Decodes a value that borrows from `bytes` (to read one field of a large value cheaply).
pub(crate) fn decode_borrowed<'a, T: Deserialize<'a>>(
    tree: &'static str,
    bytes: &'a [u8],
) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::corrupt(tree, e))
}
