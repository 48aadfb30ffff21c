//! What the first bytes a bench connection receives show, sans-IO: the server's busy line (a
//! refusal) or answer bytes (the server accepted the connection). A read may end anywhere in
//! the busy line, even after its first byte, which could also begin an answer (`E` is a hex
//! digit); such a beginning is held back from the answer checker until the next bytes tell.
//! Nothing is copied to hold it: held bytes are the busy line's own first bytes, so a
//! [`Greeting`] is a small plain value, never more than the busy line's length.

use shout_common::BUSY_PREFIX;

/// What the current connection has shown of the server's answer to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Greeting {
    /// Nothing that tells yet: the first `held` bytes received (the busy line's first `held`
    /// bytes, which could also begin an answer) are held back from the checker.
    Unseen {
        /// Bytes held back: at most the busy line's length.
        held: usize,
    },
    /// Answer bytes came (or the connection ended without a refusal): the server accepted it.
    Shown,
    /// Shown, and counted as opened (once per connection).
    Counted,
}

impl Default for Greeting {
    fn default() -> Greeting {
        Greeting::Unseen { held: 0 }
    }
}

/// What to do with bytes that were screened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screened {
    /// Hold them: they may be the busy line's beginning (nothing goes to the checker yet).
    Hold,
    /// Check them as answer bytes, after these bytes held back before them.
    Check(&'static [u8]),
    /// The busy line (or a beginning of it no answer has): the server refused the connection.
    Busy,
}

/// Whether `prefix` could also be the beginning of an answer: an answer begins with the
/// number of the connection that sent its message, in hexadecimal, then `:`.
fn could_begin_an_answer(prefix: &[u8]) -> bool {
    prefix.iter().all(u8::is_ascii_hexdigit)
}

impl Greeting {
    /// Looks at `data`, the next bytes received: on a connection that has shown nothing yet,
    /// the busy line (or a beginning of it that no answer has) is a refusal; a beginning that
    /// could be either is held; anything else shows the server accepted it. Once shown,
    /// everything is answer bytes.
    pub fn screen(&mut self, data: &[u8]) -> Screened {
        let Greeting::Unseen { held } = *self else {
            return Screened::Check(&[]);
        };
        let busy = BUSY_PREFIX.as_bytes();
        let rest = &busy[held..];
        let common = rest.len().min(data.len());
        if rest[..common] == data[..common] {
            let seen = held + common;
            if common == rest.len() || !could_begin_an_answer(&busy[..seen]) {
                return Screened::Busy;
            }
            *self = Greeting::Unseen { held: seen };
            return Screened::Hold;
        }
        *self = Greeting::Shown;
        Screened::Check(&busy[..held])
    }

    /// At the end of the connection: the bytes held back, now answer bytes (a lone `E` and
    /// then the end is the beginning of a wrong or short answer, not a refusal).
    pub fn release(&mut self) -> &'static [u8] {
        match *self {
            Greeting::Unseen { held } if held > 0 => {
                *self = Greeting::Shown;
                &BUSY_PREFIX.as_bytes()[..held]
            }
            _ => &[],
        }
    }

    /// Whether the server has shown it accepted the connection.
    pub fn shown(self) -> bool {
        !matches!(self, Greeting::Unseen { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` to a fresh greeting; returns the answer bytes checked, in order, or
    /// `Busy`.
    fn feed(chunks: &[&[u8]]) -> Result<Vec<u8>, Screened> {
        let mut greeting = Greeting::default();
        let mut checked = Vec::new();
        for chunk in chunks {
            match greeting.screen(chunk) {
                Screened::Check(held) => {
                    checked.extend_from_slice(held);
                    checked.extend_from_slice(chunk);
                }
                Screened::Hold => {}
                Screened::Busy => return Err(Screened::Busy),
            }
            if let Greeting::Unseen { held } = greeting {
                assert!(held <= BUSY_PREFIX.len(), "{held} held");
            }
        }
        checked.extend_from_slice(greeting.release());
        Ok(checked)
    }

    /// The busy line is a refusal however the reads cut it, even after its first byte alone
    /// (`E`, which could begin an answer: it was taken for one, and the rest for a mismatch).
    #[test]
    fn a_busy_line_cut_anywhere_is_a_refusal() {
        let line = shout_common::busy_line(2);
        let line = line.as_bytes();
        for cut in 1..line.len() {
            let (first, rest) = line.split_at(cut);
            assert_eq!(feed(&[first, rest]), Err(Screened::Busy), "{cut}");
        }
        let bytes: Vec<&[u8]> = line.chunks(1).collect();
        assert_eq!(feed(&bytes), Err(Screened::Busy), "byte by byte");
        for start in [&b"ERR server"[..], b"ER"] {
            assert_eq!(feed(&[start]), Err(Screened::Busy), "{start:?}");
        }
    }

    /// Answers pass whole and in order, however cut, an `E` held back included; once shown,
    /// nothing more is screened.
    #[test]
    fn answers_pass_in_order() {
        let answer = b"E1:0:ABC\n";
        for cut in 1..answer.len() {
            let (first, rest) = answer.split_at(cut);
            assert_eq!(feed(&[first, rest]).as_deref(), Ok(&answer[..]), "{cut}");
        }
        let busy = shout_common::busy_line(2);
        let after = [&b"1F:0:AB"[..], busy.as_bytes()];
        assert_eq!(feed(&after), Ok(after.concat()), "shown already");
        assert_eq!(feed(&[b"EX"]).as_deref(), Ok(&b"EX"[..]));
        // A lone `E`, then the end: checked as answer bytes.
        assert_eq!(feed(&[b"E"]).as_deref(), Ok(&b"E"[..]));
    }
}
