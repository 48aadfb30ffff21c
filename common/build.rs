//! Generates the uppercase tables of `src/transform/` from the standard library's own
//! `char::to_uppercase`, walking every scalar value, so the transform's fast path can never
//! disagree with it (a test also compares the two for every scalar value).
//!
//! The output, `$OUT_DIR/upper_tables.rs`, defines (see `src/transform/tables.rs` for how they are
//! read):
//! - `LIMIT`: every scalar value at or above it is its own uppercase;
//! - `BLOCK_OF`: for each block of 64 scalar values below `LIMIT` (`cp >> 6`), the block's
//!   number in `ENTRIES`, 0 if no character of the block changes;
//! - `ENTRIES`: 64 entries of 4 bytes per block, block 0 all zeros, the entry of `cp` being
//!   `ENTRIES[64 * BLOCK_OF[cp >> 6] + cp % 64]`: `[0, 0, 0, 0]` for a character of a block
//!   where nothing changes (and for values that are not characters); its uppercase's UTF-8
//!   bytes when that is one character of the same encoded length, itself included (first
//!   byte >= 0xC0); otherwise `[len, offset (u16 LE), 0]`, the uppercase being
//!   `SPECIAL[offset..offset + len]` (first byte 1..=0xBF: it can never be a lead byte);
//! - `SPECIAL`: the uppercase bytes of those other characters (ß -> SS, ﬁ -> FI, ı -> I, ...);
//! - `TWO_BYTES`: for two-byte sequences, indexed by their 11 value bits, the bytes to write:
//!   the uppercase when it is one two-byte character, the sequence itself when it does not
//!   change (or is an overlong form, lead C0 or C1), `[0, 0]` otherwise (see `ENTRIES`);
//! - `LEADS`: bit `b - 0xC0` set when some character whose UTF-8 starts with byte `b` changes.
//!
//! Characters below U+0080 (ASCII) are not in the tables: the transform handles them with
//! `u8::to_ascii_uppercase`, which the exhaustive test checks as well.

use std::fmt::Write as _;
use std::path::PathBuf;

/// Scalar values per block: a block is the last UTF-8 byte's 6 bits.
const BLOCK: u32 = 64;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");

    let mut entries = vec![[0u8; 4]; 0x11_0000];
    let mut special: Vec<u8> = Vec::new();
    let mut limit = 0u32;
    let mut leads = 0u64;
    for c in (0x80..=0x10_FFFFu32).filter_map(char::from_u32) {
        let upper: String = c.to_uppercase().collect();
        let mut own = [0u8; 4];
        let own = c.encode_utf8(&mut own);
        if upper == *own {
            continue;
        }
        let cp = c as u32;
        limit = cp + 1;
        leads |= 1 << (own.as_bytes()[0] - 0xC0);
        let mut chars = upper.chars();
        let entry = &mut entries[cp as usize];
        match (chars.next(), chars.next()) {
            (Some(u), None) if u.len_utf8() == c.len_utf8() => {
                u.encode_utf8(entry);
            }
            _ => {
                let offset = match special
                    .windows(upper.len())
                    .position(|w| w == upper.as_bytes())
                {
                    Some(at) => at,
                    None => {
                        special.extend_from_slice(upper.as_bytes());
                        special.len() - upper.len()
                    }
                };
                let len = u8::try_from(upper.len()).expect("an uppercase is short");
                assert!((1..0xC0).contains(&len));
                let offset = u16::try_from(offset).expect("SPECIAL fits u16 offsets");
                let [lo, hi] = offset.to_le_bytes();
                *entry = [len, lo, hi, 0];
            }
        }
    }
    let limit = limit.div_ceil(BLOCK) * BLOCK;

    let mut block_of = Vec::new();
    // Block 0 is all zeros: the entries of every block where nothing changes.
    let unchanged = [[0u8; 4]; BLOCK as usize];
    let mut blocks: Vec<Vec<[u8; 4]>> = vec![unchanged.to_vec()];
    for (first, block) in (0..)
        .step_by(BLOCK as usize)
        .zip(entries[..limit as usize].chunks(BLOCK as usize))
    {
        if block.iter().all(|e| *e == [0; 4]) {
            block_of.push(0);
            continue;
        }
        block_of.push(u8::try_from(blocks.len()).expect("at most 255 blocks change"));
        // In a block where something changes, a character that does not change maps to
        // itself, so that the transform writes every entry it finds without a branch.
        let mut block = block.to_vec();
        for (cp, e) in (first..).zip(&mut block) {
            if let Some(c) = char::from_u32(cp).filter(|_| *e == [0; 4]) {
                c.encode_utf8(e);
            }
        }
        blocks.push(block);
    }

    // Two-byte characters also have a direct table, indexed by the 11 bits of the two bytes
    // (values below 0x80 are overlong forms, leads C0 and C1): the bytes to write, the
    // character's own when it does not change, or [0, 0] when its uppercase has another
    // length or is more than one character.
    let two_bytes: Vec<[u8; 2]> = (0..0x800u32)
        .map(|cp| {
            let own = [0xC0 | (cp >> 6) as u8, 0x80 | (cp & 0x3F) as u8];
            match entries[cp as usize] {
                [0, ..] => own,
                [b0 @ 0xC0..=0xFF, b1, ..] => [b0, b1],
                _ => [0, 0],
            }
        })
        .collect();

    let mut src = String::new();
    let (major, minor, update) = char::UNICODE_VERSION;
    writeln!(src, "// Generated by build.rs from `char::to_uppercase` (Unicode {major}.{minor}.{update}): do not edit.").unwrap();
    writeln!(
        src,
        "/// Every scalar value at or above this is its own uppercase."
    )
    .unwrap();
    writeln!(src, "pub(super) const LIMIT: u32 = {limit:#x};").unwrap();
    writeln!(
        src,
        "/// Bit `b - 0xC0` is set when some character starting with byte `b` changes."
    )
    .unwrap();
    writeln!(src, "pub(super) const LEADS: u64 = {leads:#018x};").unwrap();
    writeln!(src, "/// Per block of 64 scalar values below `LIMIT`: its number in `ENTRIES` (0: nothing changes).").unwrap();
    writeln!(
        src,
        "pub(super) static BLOCK_OF: [u8; {}] = {:?};",
        block_of.len(),
        block_of
    )
    .unwrap();
    writeln!(src, "/// 64 entries per block: block 0 (all zeros), then each block where something changes (see build.rs).").unwrap();
    writeln!(
        src,
        "pub(super) static ENTRIES: [[u8; 4]; {}] = [",
        blocks.len() * BLOCK as usize
    )
    .unwrap();
    for block in &blocks {
        let entries: Vec<String> = block.iter().map(|e| format!("{e:?}")).collect();
        writeln!(src, "    {},", entries.join(", ")).unwrap();
    }
    writeln!(src, "];").unwrap();
    writeln!(
        src,
        "/// Per two-byte sequence (5 + 6 bits), the bytes to write; [0, 0]: see `ENTRIES`."
    )
    .unwrap();
    writeln!(
        src,
        "pub(super) static TWO_BYTES: [[u8; 2]; 0x800] = {two_bytes:?};"
    )
    .unwrap();
    writeln!(
        src,
        "/// The uppercase of characters whose uppercase is not one character of their length."
    )
    .unwrap();
    writeln!(
        src,
        "pub(super) static SPECIAL: [u8; {}] = {:?};",
        special.len(),
        special
    )
    .unwrap();

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("upper_tables.rs"), src).expect("cannot write the tables");
}
