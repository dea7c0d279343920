//! Passes the user's stdout and stderr through line by line, unchanged, until the log cap.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The log budget shared by both streams.
#[derive(Debug)]
pub(crate) struct Budget {
    remaining: AtomicU64,
    dropped: AtomicU64,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Arc<Self> {
        Arc::new(Budget {
            remaining: AtomicU64::new(limit),
            dropped: AtomicU64::new(0),
        })
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Takes `bytes` from the budget, all or nothing: lines are kept whole.
    /// Once a line does not fit, the budget is spent: later lines are dropped too.
    fn take(&self, bytes: u64) -> bool {
        self.remaining
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                Some(left.saturating_sub(bytes))
            })
            .is_ok_and(|before| before >= bytes)
    }
}

/// Longest piece forwarded at once, so a line without newlines cannot grow memory.
const MAX_PIECE: usize = 64 * 1024;

/// Copies `from` to `to` until end of file (every writer of the pipe has exited).
/// Returns whether what was written ends in the middle of a line.
pub(crate) fn pass_through(from: impl Read, mut to: impl Write, budget: &Budget) -> bool {
    let mut open_line = false;
    let mut reader = BufReader::with_capacity(MAX_PIECE, from);
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        let read = match (&mut reader)
            .take(MAX_PIECE as u64)
            .read_until(b'\n', &mut line)
        {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if budget.take(read as u64) {
            // A closed stdout must not stop the draining, or the child would block.
            open_line = line.last() != Some(&b'\n');
            if to.write_all(&line).is_ok() && !open_line {
                let _ = to.flush();
            }
        } else {
            budget.dropped.fetch_add(read as u64, Ordering::Relaxed);
        }
    }
    let _ = to.flush();
    open_line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_lines_unchanged_until_the_cap_then_counts_the_rest() {
        let budget = Budget::new(12);
        let mut out = Vec::new();
        pass_through(&b"first\nsecond\nthird\n"[..], &mut out, &budget);
        assert_eq!(out, b"first\n");
        assert_eq!(budget.dropped(), 13);
    }

    #[test]
    fn keeps_a_last_line_without_newline_and_long_lines() {
        let budget = Budget::new(u64::MAX);
        let long = vec![b'x'; MAX_PIECE * 3 + 5];
        let mut input = b"a\n".to_vec();
        input.extend_from_slice(&long);
        let mut out = Vec::new();
        pass_through(input.as_slice(), &mut out, &budget);
        assert_eq!(out, input);
        assert_eq!(budget.dropped(), 0);
    }
}
