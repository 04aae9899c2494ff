//! End-to-end encryption that could not go on, as Nushell errors.

use nu_protocol::LabeledError;

use super::Blame;
use crate::error::{E2eeError, E2eeKind};

/// End-to-end encryption that could not go on: its store, its lock, the crypto.
pub(super) fn refused(err: &E2eeError, blame: &Blame) -> LabeledError {
    let (title, label, code) = match err.kind {
        E2eeKind::Store => ("The crypto store cannot be used", "its store", "store"),
        E2eeKind::Busy => (
            "The crypto store is busy",
            "another process holds it",
            "busy",
        ),
        E2eeKind::NotSaved => (
            "End-to-end encryption needs a saved session",
            "this session is not saved",
            "not_saved",
        ),
        E2eeKind::DeviceLost => (
            "This device's encryption keys are lost",
            "this session's device",
            "device_lost",
        ),
        E2eeKind::Trust => (
            "The device's trust cannot be set up so",
            "this session's user",
            "trust",
        ),
        _ => (
            "End-to-end encryption failed",
            "while encrypting or decrypting",
            "crypto",
        ),
    };
    let help = match &err.path {
        Some(path) => format!("{}: {}; {}", path.display(), err.problem, err.hint),
        None => format!("{}; {}", err.problem, err.hint),
    };
    LabeledError::new(title)
        .with_label(label, blame.user)
        .with_help(help)
        .with_code(format!("matrix::e2ee::{code}"))
}
