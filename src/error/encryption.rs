//! The errors of end-to-end encryption.

use std::fmt;

use super::Error;

/// Why end-to-end encryption could not go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct E2eeError {
    /// What went wrong.
    pub kind: E2eeKind,
    /// What went wrong, in a sentence fragment (no key, no plaintext).
    pub problem: String,
    /// What to do about it.
    pub hint: String,
    /// The crypto store concerned, when there is one.
    pub path: Option<std::path::PathBuf>,
}

/// What kind of end-to-end encryption failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum E2eeKind {
    /// The crypto store could not be opened or read (a damaged file, no permission).
    Store,
    /// Another process held the crypto store's lock for longer than the wait.
    Busy,
    /// The session has no saved home for a crypto store (it is not saved).
    NotSaved,
    /// The crypto machine refused (a room key could not be made or shared).
    Crypto,
    /// The device's store is gone or empty while the server holds the device's keys: the
    /// device cannot go on (a new account would fork it); a new login can.
    DeviceLost,
    /// The user's cross-signing or secret storage is not as the command needs (keys already
    /// there, a wrong recovery key).
    Trust,
}

impl fmt::Display for E2eeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{}: ", path.display())?;
        }
        write!(f, "{} ({})", self.problem, self.hint)
    }
}

impl std::error::Error for E2eeError {}

impl From<E2eeError> for Error {
    fn from(err: E2eeError) -> Self {
        Self::E2ee(err)
    }
}
