//! The one place exit codes are decided.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// In sync, applied, or valid.
    Success,
    /// An error: invalid plan, unreachable host, failed step.
    Failure,
    /// Changes pending (`plan --detailed-exitcode`) or drift (`drift`).
    Changes,
}

impl ExitStatus {
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Changes => 2,
        }
    }
}
