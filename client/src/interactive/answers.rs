//! The answers to the lines of one exchange at the prompt, sans-IO: fed the bytes the server
//! sends, it writes each answer line as its newline arrives (wherever the reads end, a split
//! character kept whole), says what came unasked, and how far the answers got for an error.
//! Answers are shown with their control characters made visible ([`visible`]): a server's
//! bytes must not drive the user's terminal.

use std::io::{self, Write};

use crate::terminal::visible;

/// The longest incomplete answer line kept whole; beyond it, it is shown in pieces, so a
/// server that never sends a newline cannot make the prompt's memory grow without bound.
const MAX_PARTIAL: usize = 64 * 1024;

/// At most this much of an incomplete answer is quoted in an error message.
const MAX_QUOTED: usize = 200;

/// The answers to a number of lines, collected as bytes arrive: an answer is complete at its
/// newline (uppercasing never adds or removes one), wherever the reads happen to end. Sans-IO:
/// it is fed bytes and writes complete lines to an output.
#[derive(Debug)]
pub struct Answers {
    /// Lines sent.
    lines: usize,
    /// Lines whose answer is complete.
    answered: usize,
    /// Whether any answer byte arrived.
    started: bool,
    /// The current answer line so far (bounded by [`MAX_PARTIAL`]).
    partial: Vec<u8>,
}

impl Answers {
    /// Answers to `lines` lines, none received yet.
    pub fn new(lines: usize) -> Answers {
        Answers {
            lines,
            answered: 0,
            started: false,
            partial: Vec::new(),
        }
    }

    /// Every line is answered.
    pub fn complete(&self) -> bool {
        self.answered == self.lines
    }

    /// Some answer byte arrived.
    pub fn started(&self) -> bool {
        self.started
    }

    /// Takes `data` from the server, writes each answer line completed by it to `out` (control
    /// characters and bytes that are not UTF-8 made visible), and returns what came after the last answer owed (sent unasked).
    pub fn feed<'d>(&mut self, mut data: &'d [u8], out: &mut dyn Write) -> io::Result<&'d [u8]> {
        while !data.is_empty() && !self.complete() {
            self.started = true;
            match data.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    self.partial.extend_from_slice(&data[..end]);
                    writeln!(out, "{}", visible(&self.partial))?;
                    self.partial.clear();
                    self.answered += 1;
                    data = &data[end + 1..];
                }
                None => {
                    self.partial.extend_from_slice(data);
                    data = &[];
                    if self.partial.len() > MAX_PARTIAL {
                        // Show what is whole of it now; keep a split character for later.
                        let cut = char_boundary(&self.partial);
                        write!(out, "{}", visible(&self.partial[..cut]))?;
                        self.partial.drain(..cut);
                    }
                }
            }
        }
        Ok(data)
    }

    /// For an error message: how far the answers got.
    pub fn so_far(&self) -> String {
        let mut note = String::new();
        if self.lines > 1 {
            note = format!(" ({} of {} lines answered)", self.answered, self.lines);
        }
        if !self.partial.is_empty() {
            let cut = char_boundary(&self.partial[..self.partial.len().min(MAX_QUOTED)]);
            let more = if cut < self.partial.len() { "…" } else { "" };
            note.push_str(&format!(
                " after a partial answer: {}{more}",
                visible(&self.partial[..cut])
            ));
        }
        note
    }
}

/// The length of `bytes` without a UTF-8 character cut short at its end.
fn char_boundary(bytes: &[u8]) -> usize {
    // A character is at most 4 bytes: look back at most 3 for the lead byte of the last one.
    for back in 1..=bytes.len().min(4) {
        let at = bytes.len() - back;
        let b = bytes[at];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte
        }
        let width = match b {
            0xF0..=0xF7 => 4,
            0xE0..=0xEF => 3,
            0xC0..=0xDF => 2,
            _ => 1,
        };
        return if back < width { at } else { bytes.len() };
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` to answers for `lines` lines; returns the output and the unasked bytes.
    fn feed_all(lines: usize, chunks: &[&[u8]]) -> (Answers, String, Vec<u8>) {
        let mut answers = Answers::new(lines);
        let mut out = Vec::new();
        let mut unasked = Vec::new();
        for chunk in chunks {
            unasked.extend_from_slice(answers.feed(chunk, &mut out).unwrap());
        }
        (answers, String::from_utf8(out).unwrap(), unasked)
    }

    /// An answer is complete at its newline, not when a read ends in one: three answers in
    /// reads that split them anywhere come out as three lines.
    #[test]
    fn answers_complete_by_newline_count() {
        let (answers, out, unasked) = feed_all(3, &[b"ON", b"E\nTW", b"O\n", b"THREE\n"]);
        assert!(answers.complete());
        assert_eq!(out, "ONE\nTWO\nTHREE\n");
        assert!(unasked.is_empty());

        // A read that ends in a newline mid-way is not the end.
        let (answers, out, _) = feed_all(3, &[b"ONE\n", b"TWO\n"]);
        assert!(!answers.complete());
        assert_eq!(out, "ONE\nTWO\n");
        assert_eq!(answers.so_far(), " (2 of 3 lines answered)");
    }

    /// Every way of cutting 1,000 answers into reads gives the same lines.
    #[test]
    fn any_chunking_gives_the_same_answers() {
        let text: String = (0..1000).map(|i| format!("LINE {i} STRASSE ß\n")).collect();
        let bytes = text.as_bytes();
        for size in [1, 2, 3, 7, 4096, bytes.len()] {
            let chunks: Vec<&[u8]> = bytes.chunks(size).collect();
            let (answers, out, unasked) = feed_all(1000, &chunks);
            assert!(answers.complete(), "chunks of {size}");
            assert_eq!(out, text, "chunks of {size}");
            assert!(unasked.is_empty());
        }
    }

    /// Bytes after the last answer owed are handed back, not taken as an answer.
    #[test]
    fn bytes_beyond_the_answers_are_unasked() {
        let (answers, out, unasked) = feed_all(1, &[b"ONE\nbusy\n"]);
        assert!(answers.complete());
        assert_eq!(out, "ONE\n");
        assert_eq!(unasked, b"busy\n");
    }

    /// An endless answer line is shown in pieces, never held whole, and never split inside a
    /// character.
    #[test]
    fn endless_line_is_bounded() {
        let mut answers = Answers::new(1);
        let mut out = Vec::new();
        let chunk = "ß".repeat(1001); // 2002 bytes: pieces end mid-character
        for _ in 0..100 {
            answers.feed(chunk.as_bytes(), &mut out).unwrap();
            assert!(answers.partial.len() <= MAX_PARTIAL + chunk.len());
        }
        answers.feed(b"\n", &mut out).unwrap();
        assert!(answers.complete());
        assert_eq!(String::from_utf8(out).unwrap(), chunk.repeat(100) + "\n");
    }

    /// A partial answer is quoted in the error, shortened.
    #[test]
    fn partial_answer_is_quoted() {
        let (answers, _, _) = feed_all(1, &[b"HEL"]);
        assert_eq!(answers.so_far(), " after a partial answer: HEL");
        let long = vec![b'X'; 1000];
        let (answers, _, _) = feed_all(1, &[&long]);
        assert_eq!(
            answers.so_far(),
            format!(" after a partial answer: {}…", "X".repeat(MAX_QUOTED))
        );
    }

    /// An answer that would drive the terminal (retitle it, clear it, overwrite the line) is
    /// shown as text; so is a partial one quoted in an error, and so is a long one shown in
    /// pieces.
    #[test]
    fn control_characters_in_answers_are_shown() {
        let (_, out, _) = feed_all(2, &[b"\x1b]0;owned\x07\n", b"ok\rEVIL\x1b[2J\n"]);
        assert_eq!(out, "^[]0;owned^G\nok^MEVIL^[[2J\n");
        let (answers, _, _) = feed_all(1, &[b"\x1b]52;c;aGk=\x07"]);
        assert_eq!(answers.so_far(), " after a partial answer: ^[]52;c;aGk=^G");
        let mut answers = Answers::new(1);
        let mut out = Vec::new();
        answers.feed(&[0x1b; MAX_PARTIAL + 1], &mut out).unwrap();
        assert!(!out.contains(&0x1b), "an escape went through in a piece");
    }

    /// Cuts fall before a character that is not whole.
    #[test]
    fn char_boundaries() {
        assert_eq!(char_boundary(b"abc"), 3);
        assert_eq!(char_boundary("aß".as_bytes()), 3);
        assert_eq!(char_boundary(&"aß".as_bytes()[..2]), 1);
        assert_eq!(char_boundary(&"a€".as_bytes()[..3]), 1);
        assert_eq!(char_boundary(&"a😀".as_bytes()[..4]), 1);
        assert_eq!(char_boundary("a😀".as_bytes()), 5);
        assert_eq!(char_boundary(b""), 0);
        assert_eq!(char_boundary(&[0x80, 0x80]), 2);
    }
}
