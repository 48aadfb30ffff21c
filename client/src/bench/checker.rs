//! The answer checker of one bench connection, sans-IO: it is told each message sent and the
//! answer it must get, is fed the bytes that arrive, and reports each message whose answer is
//! complete (on time, or late after its timeout) or the first wrong byte. The event loop in
//! `engine` drives one per connection; the tests below feed it directly.
//!
//! Lateness and correctness are separate: a message past `--timeout` is counted as a timeout
//! once, stays awaited, and its answer is still checked byte for byte when it comes. Only a
//! wrong byte, or bytes when nothing is awaited, is a mismatch.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A message whose answer is awaited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Msg {
    /// The connection that first sent it (part of its bytes).
    pub origin: u64,
    /// Its sequence number on that connection (part of its bytes).
    pub seq: u64,
    /// Latency counts from here: the scheduled time (open loop) or the first send (closed).
    pub base: Instant,
    /// When it was last written; its timeout counts from here.
    pub sent_at: Instant,
}

/// How a message's answer completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Within its timeout.
    OnTime,
    /// After its timeout (it was counted as a timeout then); every byte was right.
    Late,
}

/// The bytes received cannot be the answers awaited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// A byte of the oldest awaited answer differs, at this offset into that answer.
    WrongByte {
        /// Bytes of that answer that were right.
        offset: usize,
        /// Whether that message had already timed out.
        late: bool,
    },
    /// Bytes came when no answer was awaited.
    Unasked,
}

/// The awaited answers of one connection, in the order the messages were sent.
#[derive(Debug, Default)]
pub struct Checker {
    /// Awaited messages and the lengths of their answers.
    pending: VecDeque<(Msg, usize)>,
    /// The expected answer bytes of the pending messages, in order; the oldest answer's first
    /// `matched` bytes have already been checked and removed.
    expected: VecDeque<u8>,
    matched: usize,
    /// The oldest `late` pending messages have timed out (and were counted so). Messages are
    /// sent in order, so those past their timeout are always the oldest ones.
    late: usize,
}

impl Checker {
    /// An empty checker.
    pub fn new() -> Checker {
        Checker::default()
    }

    /// Awaits `answer` for `msg`, after every answer awaited so far.
    pub fn push(&mut self, msg: Msg, answer: &[u8]) {
        self.pending.push_back((msg, answer.len()));
        self.expected.extend(answer.iter().copied());
    }

    /// Messages awaited (timed-out ones included: they hold their place in the stream).
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Nothing is awaited.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Awaited messages that have timed out.
    pub fn late(&self) -> usize {
        self.late
    }

    /// Checks `data`, the next bytes received, against the awaited answers; calls `done` for
    /// each message whose answer it completes. Stops at the first wrong byte, or at bytes that
    /// no message awaits.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        mut done: impl FnMut(&Msg, Completion),
    ) -> Result<(), Mismatch> {
        while !data.is_empty() {
            let Some(&(msg, answer_len)) = self.pending.front() else {
                return Err(Mismatch::Unasked);
            };
            let take = (answer_len - self.matched).min(data.len());
            if let Some(at) = first_difference(&self.expected, &data[..take]) {
                return Err(Mismatch::WrongByte {
                    offset: self.matched + at,
                    late: self.late > 0,
                });
            }
            self.expected.drain(..take);
            self.matched += take;
            data = &data[take..];
            if self.matched == answer_len {
                self.pending.pop_front();
                self.matched = 0;
                let completion = if self.late > 0 {
                    self.late -= 1;
                    Completion::Late
                } else {
                    Completion::OnTime
                };
                done(&msg, completion);
            }
        }
        Ok(())
    }

    /// Marks the messages sent `timeout` or longer before `now` as timed out; returns how many
    /// were not marked before (each message times out once).
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> usize {
        let before = self.late;
        while let Some((msg, _)) = self.pending.get(self.late) {
            if now.saturating_duration_since(msg.sent_at) < timeout {
                break;
            }
            self.late += 1;
        }
        self.late - before
    }

    /// Marks every awaited message as timed out (the run is ending); returns how many were not
    /// marked before.
    pub fn expire_all(&mut self) -> usize {
        let newly = self.pending.len() - self.late;
        self.late = self.pending.len();
        newly
    }

    /// The stream ended: empties the checker and returns the messages awaited that had not
    /// timed out (those that had were counted already), oldest first.
    pub fn take_unanswered(&mut self) -> VecDeque<Msg> {
        let late = std::mem::take(&mut self.late);
        self.expected.clear();
        self.matched = 0;
        std::mem::take(&mut self.pending)
            .into_iter()
            .skip(late)
            .map(|(msg, _)| msg)
            .collect()
    }
}

/// Where `bytes` first differs from the start of `deque` (which holds at least as many).
fn first_difference(deque: &VecDeque<u8>, bytes: &[u8]) -> Option<usize> {
    let (a, b) = deque.as_slices();
    let in_a = a.len().min(bytes.len());
    let differs = |x: &[u8], y: &[u8]| x.iter().zip(y).position(|(p, q)| p != q);
    differs(&a[..in_a], &bytes[..in_a]).or_else(|| differs(b, &bytes[in_a..]).map(|at| at + in_a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::payload::{expected_answer, write_message};
    use shout_common::Mode;

    /// `count` 64-byte messages on connection 7, all sent at `at`: the checker awaiting them,
    /// the messages, and the bytes a correct server answers.
    fn sent(count: u64, at: Instant) -> (Checker, Vec<Msg>, Vec<u8>) {
        let mut checker = Checker::new();
        let mut answers = Vec::new();
        for seq in 0..count {
            answers.extend(push_at(&mut checker, seq, at));
        }
        let msgs = checker.pending.iter().map(|&(m, _)| m).collect();
        (checker, msgs, answers)
    }

    /// Awaits message `seq` of connection 7, sent at `at`; returns its correct answer.
    fn push_at(checker: &mut Checker, seq: u64, at: Instant) -> Vec<u8> {
        let mut message = Vec::new();
        write_message(&mut message, 1, 7, seq, 64);
        let mut answer = Vec::new();
        expected_answer(Mode::Upper, &message, &mut answer);
        let msg = Msg {
            origin: 7,
            seq,
            base: at,
            sent_at: at,
        };
        checker.push(msg, &answer);
        answer
    }

    /// Feeds `data` in pieces of `size`; returns the completions in order.
    fn feed_in(
        checker: &mut Checker,
        data: &[u8],
        size: usize,
    ) -> Result<Vec<(u64, Completion)>, Mismatch> {
        let mut done = Vec::new();
        for piece in data.chunks(size) {
            checker.feed(piece, |msg, how| done.push((msg.seq, how)))?;
        }
        Ok(done)
    }

    /// Correct answers complete every message on time, in order, however the bytes are cut.
    #[test]
    fn any_chunking_completes_every_message() {
        let now = Instant::now();
        for size in [1, 3, 63, 64, 65, 1000, 100_000] {
            let (mut checker, msgs, answers) = sent(50, now);
            let done = feed_in(&mut checker, &answers, size).expect("all correct");
            let want: Vec<_> = msgs.iter().map(|m| (m.seq, Completion::OnTime)).collect();
            assert_eq!(done, want, "pieces of {size}");
            assert!(checker.is_empty());
        }
    }

    /// A wrong byte is reported at its offset in the oldest awaited answer; the messages
    /// before it completed.
    #[test]
    fn wrong_byte_is_a_mismatch() {
        let now = Instant::now();
        let (mut checker, _, mut answers) = sent(3, now);
        answers[64 + 10] ^= 0x20; // the second answer's 11th byte
        let mut done = Vec::new();
        let result = checker.feed(&answers, |msg, _| done.push(msg.seq));
        assert_eq!(
            result,
            Err(Mismatch::WrongByte {
                offset: 10,
                late: false
            })
        );
        assert_eq!(done, vec![0]);
    }

    /// Bytes with nothing awaited are a mismatch; so are bytes beyond the last answer.
    #[test]
    fn unasked_bytes_are_a_mismatch() {
        let mut checker = Checker::new();
        assert_eq!(checker.feed(b"X", |_, _| {}), Err(Mismatch::Unasked));
        let (mut checker, _, mut answers) = sent(1, Instant::now());
        answers.extend_from_slice(b"MORE\n");
        let mut done = 0;
        assert_eq!(
            checker.feed(&answers, |_, _| done += 1),
            Err(Mismatch::Unasked)
        );
        assert_eq!(done, 1);
    }

    /// A message past its timeout is counted once; its correct answer, arriving later, is a
    /// late completion and not a mismatch, and the answers after it are on time.
    #[test]
    fn late_answer_is_checked_not_mismatched() {
        let t0 = Instant::now();
        let timeout = Duration::from_secs(5);
        let (mut checker, _, answers) = sent(2, t0);
        let third = push_at(&mut checker, 2, t0 + Duration::from_secs(4));

        assert_eq!(checker.expire(t0 + Duration::from_secs(4), timeout), 0);
        assert_eq!(checker.expire(t0 + timeout, timeout), 2, "the first two");
        assert_eq!(checker.expire(t0 + timeout, timeout), 0, "counted once");
        assert_eq!(checker.late(), 2);

        let mut all = answers;
        all.extend_from_slice(&third);
        let done = feed_in(&mut checker, &all, 100).expect("late answers are right");
        assert_eq!(
            done,
            vec![
                (0, Completion::Late),
                (1, Completion::Late),
                (2, Completion::OnTime)
            ]
        );
        assert_eq!(checker.late(), 0);
    }

    /// A late answer that is wrong is still a mismatch, and says it was late.
    #[test]
    fn late_wrong_answer_is_a_mismatch() {
        let t0 = Instant::now();
        let (mut checker, _, mut answers) = sent(1, t0);
        assert_eq!(checker.expire_all(), 1);
        answers[0] ^= 1;
        assert_eq!(
            checker.feed(&answers, |_, _| {}),
            Err(Mismatch::WrongByte {
                offset: 0,
                late: true
            })
        );
    }

    /// When the stream ends, the unanswered messages that had not timed out are handed back
    /// (to count or send again); the timed-out ones are not counted twice.
    #[test]
    fn unanswered_excludes_timed_out() {
        let t0 = Instant::now();
        let mut checker = Checker::new();
        let first = push_at(&mut checker, 0, t0);
        let second = push_at(&mut checker, 1, t0);
        push_at(&mut checker, 2, t0 + Duration::from_secs(10));
        let mut data = first;
        data.extend_from_slice(&second[..5]);
        let mut done = Vec::new();
        checker.feed(&data, |m, _| done.push(m.seq)).expect("right");
        assert_eq!(done, vec![0]);
        // The half-answered second message times out; the third does not.
        let second_timeout = Duration::from_secs(1);
        assert_eq!(checker.expire(t0 + second_timeout, second_timeout), 1);
        let left: Vec<u64> = checker.take_unanswered().iter().map(|m| m.seq).collect();
        assert_eq!(left, vec![2]);
        assert!(checker.is_empty());
        assert_eq!(checker.late(), 0);
    }

    /// Prefix comparison across the ring buffer's two halves.
    #[test]
    fn difference_across_the_ring() {
        let mut d: VecDeque<u8> = VecDeque::with_capacity(4);
        d.extend([1, 2, 3]);
        d.pop_front();
        d.extend([4, 5]); // wraps around
        assert_eq!(first_difference(&d, &[2, 3, 4]), None);
        assert_eq!(first_difference(&d, &[2, 3, 4, 5]), None);
        assert_eq!(first_difference(&d, &[2, 3, 5]), Some(2));
        assert_eq!(first_difference(&d, &[9]), Some(0));
        assert_eq!(first_difference(&d, &[]), None);
    }
}
