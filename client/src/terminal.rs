//! Text from elsewhere (a server's answers, labels read from report files) shown on a terminal
//! is data, not commands: [`visible`] turns every control character into printable text, as
//! `less` shows it, so no answer can retitle the window, clear the screen, write the clipboard
//! (OSC 52) or overwrite what was shown with a bare carriage return. Pipe mode never uses it:
//! its output is the server's bytes, exactly.

use std::fmt::Write;

/// `bytes` as text safe to print on a terminal:
///
/// - newline and tab are kept;
/// - the other C0 controls and DEL are shown in caret notation: `^[` for ESC, `^M` for a
///   carriage return, `^G` for BEL, `^?` for DEL;
/// - C1 controls (U+0080 to U+009F, such as U+009B, which some terminals take as CSI) are shown
///   as `<U+009B>`;
/// - bytes that are not UTF-8 are shown as `<C3>` (their value in hexadecimal), where they
///   were replaced with U+FFFD before.
///
/// Everything else, any printable Unicode, is kept as it is.
pub fn visible(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_visible(&mut out, c);
        }
        for b in chunk.invalid() {
            // Writing to a String cannot fail.
            let _ = write!(out, "<{b:02X}>");
        }
    }
    out
}

/// Appends `c` to `out`, made visible if it is a control character.
fn push_visible(out: &mut String, c: char) {
    match c {
        '\n' | '\t' => out.push(c),
        '\0'..='\x1f' => {
            out.push('^');
            // ^@ for NUL … ^_ for 0x1f: the letter 64 places further.
            out.push(char::from(c as u8 + 0x40));
        }
        '\x7f' => out.push_str("^?"),
        '\u{80}'..='\u{9f}' => {
            let _ = write!(out, "<U+{:04X}>", u32::from(c));
        }
        _ => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Printable text, newlines and tabs go through unchanged.
    #[test]
    fn printable_text_is_kept() {
        let text = "HELLO STRASSE ß € 😀\tTAB\nNEXT ^ <>";
        assert_eq!(visible(text.as_bytes()), text);
    }

    /// The escape sequences a hostile server would send come out as plain characters.
    #[test]
    fn escape_sequences_are_shown() {
        assert_eq!(visible(b"\x1b]0;owned\x07"), "^[]0;owned^G");
        assert_eq!(visible(b"\x1b[2J\x1b[H"), "^[[2J^[[H");
        assert_eq!(visible(b"\x1b]52;c;aGk=\x1b\\"), "^[]52;c;aGk=^[\\");
        assert_eq!(visible(b"ok\rEVIL"), "ok^MEVIL");
        assert_eq!(visible(b"\0\x08\x7f\x1f"), "^@^H^?^_");
    }

    /// C1 controls (as characters) and bytes that are not UTF-8 (a raw 0x9b is a CSI on some
    /// terminals) are shown, never passed on.
    #[test]
    fn c1_controls_and_invalid_bytes_are_shown() {
        assert_eq!(visible("a\u{9b}2Jb".as_bytes()), "a<U+009B>2Jb");
        assert_eq!(
            visible("\u{85}\u{80}\u{9f}".as_bytes()),
            "<U+0085><U+0080><U+009F>"
        );
        assert_eq!(visible(b"a\x9b2J"), "a<9B>2J");
        assert_eq!(visible(b"\xc3(\xff"), "<C3>(<FF>");
        // U+00A0 is the first character after the C1 block: printable.
        assert_eq!(visible("\u{a0}".as_bytes()), "\u{a0}");
    }

    /// Nothing that comes out is a control character other than newline and tab, whatever
    /// goes in.
    #[test]
    fn no_control_character_survives() {
        let every_byte: Vec<u8> = (0..=255u8).collect();
        let mut input = every_byte.clone();
        for c in ['\u{80}', '\u{9b}', '\u{9f}'] {
            input.extend_from_slice(c.to_string().as_bytes());
        }
        let shown = visible(&input);
        assert!(
            shown
                .chars()
                .all(|c| !c.is_control() || c == '\n' || c == '\t'),
            "{shown:?}"
        );
    }
}
