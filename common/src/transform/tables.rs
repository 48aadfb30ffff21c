//! The uppercase tables, generated at build time by `build.rs` from `char::to_uppercase` (see
//! there for their layout), and their lookups: the direct table of two-byte characters, the
//! two-level table of every scalar value, and the uppercases whose length differs.

use super::utf8::decode_at;

// `LIMIT`, `LEADS`, `BLOCK_OF`, `ENTRIES`, `TWO_BYTES` and `SPECIAL`.
include!(concat!(env!("OUT_DIR"), "/upper_tables.rs"));

/// The memory the uppercase tables take (read-only, shared by every transform), in bytes.
pub const fn table_bytes() -> usize {
    std::mem::size_of_val(&BLOCK_OF)
        + std::mem::size_of_val(&ENTRIES)
        + std::mem::size_of_val(&SPECIAL)
        + std::mem::size_of_val(&TWO_BYTES)
}

/// What to write for the two-byte sequence `b0 b1` (a valid character, or an overlong form):
/// `[0, 0]` when its uppercase has another length or is more than one character.
pub(super) fn two_bytes(b0: u8, b1: u8) -> [u8; 2] {
    *two_bytes_entry(b0, b1)
}

/// [`two_bytes`], as a reference into the table.
fn two_bytes_entry(b0: u8, b1: u8) -> &'static [u8; 2] {
    &TWO_BYTES[usize::from(b0 & 0x1F) << 6 | usize::from(b1 & 0x3F)]
}

/// The uppercase of `ch`, a valid multi-byte character, when it differs from `ch`.
pub(super) fn upper_char(ch: &[u8]) -> Option<&'static [u8]> {
    let lead = *ch.first()?;
    if LEADS >> (lead.wrapping_sub(0xC0) & 63) & 1 == 0 {
        return None;
    }
    if let [b0, b1] = *ch {
        let e = two_bytes_entry(b0, b1);
        if e[0] != 0 {
            return Some(e);
        }
    }
    decode_at(ch).and_then(|(cp, len)| replacement(cp, len))
}

/// The uppercase of the valid `len`-byte character `cp`: `None` if it is the character
/// itself (in a block where nothing changes; elsewhere it may be `Some` of the character's own
/// bytes).
pub(super) fn replacement(cp: u32, len: usize) -> Option<&'static [u8]> {
    let e = entry(cp);
    match e[0] {
        0 => None,
        0xC0..=0xFF => e.get(..len),
        _ => Some(special(e)),
    }
}

/// The table entry of scalar value `cp` (see build.rs): `[0, ..]` if nothing in its block of
/// 64 changes; its uppercase's bytes if that is one character of the same length, itself
/// included (first byte >= 0xC0); else where its uppercase is in `SPECIAL` (see
/// [`special`]).
pub(super) fn entry(cp: u32) -> &'static [u8; 4] {
    const UNCHANGED: &[u8; 4] = &[0; 4];
    if cp >= LIMIT {
        return UNCHANGED;
    }
    let block = usize::from(BLOCK_OF.get((cp >> 6) as usize).copied().unwrap_or(0));
    ENTRIES
        .get(block << 6 | (cp & 63) as usize)
        .unwrap_or(UNCHANGED)
}

/// The uppercase of a character whose [`entry`] is `e`, a special entry (first byte below
/// 0xC0, the length; then the offset in `SPECIAL`).
fn special(e: &'static [u8; 4]) -> &'static [u8] {
    let offset = usize::from(u16::from_le_bytes([e[1], e[2]]));
    SPECIAL
        .get(offset..offset + usize::from(e[0]))
        .unwrap_or_default()
}
