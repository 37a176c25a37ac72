//! The exit-code contract shared by every command, in one place.

/// How a command ended. Ordered by severity, so a batch reports the worst with `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: success, or clean.
    Success,
    /// 1: a torn tail was found (safe to recover).
    TornTail,
    /// 4: written, but durability not confirmed (e.g. the rename succeeded and the directory
    /// fsync failed).
    Unconfirmed,
    /// 5: stopped partway (an interrupted or failed streamed append): part of the input was
    /// appended, and the message says which records.
    Partial,
    /// 2: error or bad usage; nothing was changed.
    Error,
    /// 3: corruption before the tail (needs a human).
    Corruption,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::TornTail => 1,
            Exit::Error => 2,
            Exit::Corruption => 3,
            Exit::Unconfirmed => 4,
            Exit::Partial => 5,
        }
    }

    /// The more severe of two outcomes (for commands that handle several files).
    #[allow(dead_code)] // used by the batch commands (log verify, recover)
    pub fn worst(self, other: Exit) -> Exit {
        self.max(other)
    }
}

/// In JSON an outcome is its exit code (`"exit_code": 3`).
impl serde::Serialize for Exit {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.code())
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

/// The contract as printed in `--help` and the man page.
pub const EXIT_STATUS: &str = "\
Exit status (the same for every command):
  0  success, or clean
  1  torn tail found (safe to recover)
  2  error or bad usage; nothing was changed
  3  corruption before the tail (needs a human)
  4  written, but durability not confirmed (e.g. the rename succeeded and the
     directory fsync failed)
  5  stopped partway: a streamed `log append` was interrupted or failed after
     some records were committed; the message says which
When several files are handled, the exit status is the most severe, in the
order 3, 2, 5, 4, 1, 0.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_contract() {
        assert_eq!(Exit::Success.code(), 0);
        assert_eq!(Exit::TornTail.code(), 1);
        assert_eq!(Exit::Error.code(), 2);
        assert_eq!(Exit::Corruption.code(), 3);
        assert_eq!(Exit::Unconfirmed.code(), 4);
        assert_eq!(Exit::Partial.code(), 5);
    }

    #[test]
    fn worst_follows_the_documented_order() {
        let order = [
            Exit::Success,
            Exit::TornTail,
            Exit::Unconfirmed,
            Exit::Partial,
            Exit::Error,
            Exit::Corruption,
        ];
        for (i, a) in order.iter().enumerate() {
            for (j, b) in order.iter().enumerate() {
                assert_eq!(a.worst(*b), order[i.max(j)]);
            }
        }
        let codes: Vec<u8> = order.iter().rev().map(|e| e.code()).collect();
        assert_eq!(codes, [3, 2, 5, 4, 1, 0]);
        assert!(EXIT_STATUS.contains("order 3, 2, 5, 4, 1, 0"));
    }
}
