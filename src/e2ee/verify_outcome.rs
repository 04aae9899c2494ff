//! What a verification says: where it stands ([`Progress`]), the emoji to compare, how it
//! ended, a request heard elsewhere, and the spec's cancel codes in words.

use matrix_sdk_crypto::CancelInfo;
use ruma::events::key::verification::cancel::CancelCode;
use serde_json::Value as JsonValue;

use crate::error::{E2eeError, E2eeKind, Error, InputError};

/// Where a verification stands, after a [`Verifying::step`](super::Verifying::step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Waiting for the other person: what for.
    Waiting(Waiting),
    /// The short authentication string, to compare with what the other person sees.
    Compare(ShortAuth),
    /// Verified: the other user's master key signed by this user.
    Done(VerifiedUser),
    /// Cancelled, by either side.
    Cancelled(Cancelled),
}

/// What a verification waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// The other person to accept the request.
    Accept,
    /// The emoji comparison to begin (the keys to be exchanged).
    Keys,
    /// The other person to confirm that the emoji match.
    TheirConfirmation,
}

/// The short authentication string both sides compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortAuth {
    /// The seven emoji: each symbol and its name (Element's English names).
    pub emoji: Vec<(String, String)>,
    /// The same as three four-digit numbers.
    pub decimals: [u16; 3],
}

/// A person verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUser {
    /// `@name:server`
    pub user_id: String,
    /// Their master key (ed25519, unpadded base64): the identity now signed.
    pub master_key: String,
}

/// A verification that ended without verifying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancelled {
    /// The spec's code, e.g. `m.mismatched_sas`, `m.user`, `m.timeout`.
    pub code: String,
    /// Whether this side cancelled.
    pub by_us: bool,
    /// What it means, in words.
    pub reason: String,
}

/// A request of a person heard elsewhere (a `matrix listen` row), to answer.
#[derive(Debug, Clone, PartialEq)]
pub struct HeardRequest {
    /// Who asked.
    pub sender: String,
    /// The room it came in; `None`: to-device.
    pub room_id: Option<String>,
    /// The request event as it came (decrypted): it is given to the machine again when this
    /// process did not hear it itself.
    pub event: JsonValue,
}

impl HeardRequest {
    /// The flow's ID: the request's event ID in a room, its `transaction_id` to-device.
    pub fn flow_id(&self) -> Option<&str> {
        match self.room_id {
            Some(_) => self.event["event_id"].as_str(),
            None => self.event["content"]["transaction_id"].as_str(),
        }
    }
}

pub(super) fn cancelled_of(info: &CancelInfo) -> Cancelled {
    Cancelled {
        code: info.cancel_code().as_str().to_owned(),
        by_us: info.cancelled_by_us(),
        reason: reason_of(info.cancel_code()).to_owned(),
    }
}

pub(super) fn cancelled_by_us(code: CancelCode) -> Cancelled {
    Cancelled {
        code: code.as_str().to_owned(),
        by_us: true,
        reason: reason_of(&code).to_owned(),
    }
}

/// The verification was dropped by the machine: the store was loaded again after another
/// process changed it.
pub(super) fn lost() -> Cancelled {
    Cancelled {
        code: "m.unexpected_message".to_owned(),
        by_us: true,
        reason: "this device's crypto store was changed by another process meanwhile (a \
                 running listener of the same session?), and the verification was lost with \
                 it: stop the other process, or answer a heard request once the listener that heard it has ended (--once)"
            .to_owned(),
    }
}

/// A cancel code in words.
pub fn reason_of(code: &CancelCode) -> &'static str {
    match code {
        CancelCode::User => "the verification was cancelled",
        CancelCode::Timeout => "the verification took too long",
        CancelCode::MismatchedSas => "the emoji did not match",
        CancelCode::UnknownTransaction => "the other side did not know this verification",
        CancelCode::UnknownMethod => "no verification method both sides know",
        CancelCode::UnexpectedMessage => "a step came out of order",
        CancelCode::KeyMismatch => "the keys did not match what the server holds",
        CancelCode::UserMismatch => "the verification was answered by another user",
        CancelCode::InvalidMessage => "a step of the verification was malformed",
        CancelCode::Accepted => "another device of theirs answered the request",
        CancelCode::MismatchedCommitment => "the key commitment did not match (a possible attack)",
        _ => "the verification was cancelled",
    }
}

pub(super) fn not_a_request(why: &str) -> Error {
    Error::Input(InputError::new(
        format!("the row is not a verification request: {why}"),
        "pipe a row of `matrix listen --verifications` whose type is m.key.verification.request",
    ))
}

pub(super) fn verification_refused(problem: String, hint: &str) -> Error {
    Error::E2ee(E2eeError {
        kind: E2eeKind::Trust,
        problem,
        hint: hint.to_owned(),
        path: None,
    })
}
