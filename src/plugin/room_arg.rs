//! The `room` argument of `matrix join`, `matrix send` and `matrix messages`, and the errors
//! about rooms they share.

use nu_plugin::EvaluatedCall;
use nu_protocol::{LabeledError, Signature, Spanned, SyntaxShape};

use crate::error::{Error, ErrorCode};
use crate::plugin::active::{Failure, failure};
use crate::plugin::errors::{self, Blame};
use crate::rooms::check_room;

/// Adds the `room` argument.
pub(crate) fn with_room(signature: Signature) -> Signature {
    signature.required(
        "room",
        SyntaxShape::String,
        "The room: an alias (#ops:example.org) or a room ID (!abc:example.org).",
    )
}

/// The `room` argument, checked before anything is sent.
pub(crate) fn room_arg(call: &EvaluatedCall) -> Result<Spanned<String>, LabeledError> {
    let room: Spanned<String> = call.req(0)?;
    check_room(&room.item).map_err(|err| errors::input_of(err, room.span))?;
    Ok(room)
}

/// Errors about a room: unknown alias, not a member, not a room ID, else the usual.
pub(crate) fn room_failure(err: Failure, room: &Spanned<String>, blame: &Blame) -> LabeledError {
    match err {
        Failure::Request(Error::Input(err)) => errors::input(err, room.span),
        Failure::Request(Error::Matrix(err)) if err.errcode == ErrorCode::NotFound => {
            LabeledError::new(format!("No room {}", room.item))
                .with_label("unknown room or alias", room.span)
                .with_help(format!(
                    "check the alias or ID (`matrix rooms` lists the joined ones); the server \
                     said: {err}"
                ))
                .with_code("matrix::M_NOT_FOUND")
        }
        Failure::Request(Error::Matrix(err)) if err.errcode == ErrorCode::Forbidden => {
            LabeledError::new(format!("Not allowed in {}", room.item))
                .with_label("not a member, or not allowed", room.span)
                .with_help(format!(
                    "join it first (`matrix join`), or ask for an invite; the server said: {err}"
                ))
                .with_code("matrix::M_FORBIDDEN")
        }
        other => failure(other, blame),
    }
}
