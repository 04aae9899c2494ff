use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{
    Category, Example, LabeledError, Record, Signature, Span, Spanned, SyntaxShape, Type, Value,
};

use super::with_session;
use crate::bot::Invitation;
use crate::plugin::MatrixPlugin;
use crate::plugin::active::Active;
use crate::plugin::errors;
use crate::plugin::room_arg::{room_arg, room_failure};
use crate::rooms::check_room;

/// `matrix join`: joins a room.
pub struct Join;

impl SimplePluginCommand for Join {
    type Plugin = MatrixPlugin;

    completes_sessions_and!(rooms, 0);

    fn name(&self) -> &str {
        "matrix join"
    }

    fn description(&self) -> &str {
        "Join a room by ID or alias; returns its room ID."
    }

    fn extra_description(&self) -> &str {
        "The room may come from the pipeline instead: a row with a room_id, such as an \
         invitation from `matrix listen --invites` (then the session comes from --session or \
         the default). Joining from an invitation to an end-to-end encrypted room publishes \
         the saved session's device keys first, so that the inviter's next message is \
         encrypted for it (joined by name or ID, right after the join). Then the room keys of \
         the history the inviter shared are imported (MSC4268: earlier messages decrypt)."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), Type::record())
            .optional(
                "room",
                SyntaxShape::String,
                "The room: an alias (#ops:example.org) or a room ID (!abc:example.org).",
            )
            .category(Category::Network)
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "matrix join '#ops:example.org' --session bot",
            description: "The bot joins #ops (quote the alias: # starts a comment)",
            result: None,
        }]
    }

    fn run(
        &self,
        plugin: &MatrixPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        input: &Value,
    ) -> Result<Value, LabeledError> {
        let (room, session_input) = match call.opt::<Spanned<String>>(0)? {
            Some(_) => (room_arg(call)?, input.clone()),
            None => (piped_room(input, call.head)?, Value::nothing(call.head)),
        };
        let mut active = Active::resolve(plugin, engine, call, &session_input)?;
        let blame = active.blame();
        let invitation = invitation_of(input);
        let room_id = plugin
            .join(&mut active, &room.item, invitation.as_ref())
            .map_err(|err| room_failure(err, &room, &blame))?;
        let mut record = Record::new();
        record.push("room_id", Value::string(room_id, call.head));
        Ok(Value::record(record, call.head))
    }
}

/// The invitation on the pipeline (a row of `matrix listen --invites`), if one is there.
fn invitation_of(input: &Value) -> Option<Invitation> {
    let Value::Record { val, .. } = input else {
        return None;
    };
    let text = |name: &str| val.get(name).and_then(|value| value.as_str().ok());
    (text("type") == Some("invite")).then(|| Invitation {
        inviter: text("sender").unwrap_or_default().to_owned(),
        encrypted: val.get("encrypted").and_then(|flag| flag.as_bool().ok()) == Some(true),
    })
}

/// The room of a piped row (an invitation of `matrix listen --invites`, a row of `matrix
/// rooms`): its `room_id`.
fn piped_room(input: &Value, head: Span) -> Result<Spanned<String>, LabeledError> {
    let room = match input {
        Value::Record { val, .. } if val.get("access_token").is_none() => val
            .get("room_id")
            .and_then(|id| id.as_str().ok())
            .map(|id| Spanned {
                item: id.to_owned(),
                span: input.span(),
            }),
        _ => None,
    };
    let room = room.ok_or_else(|| {
        LabeledError::new("Which room?")
            .with_label("no room given", head)
            .with_help(
                "name it (`matrix join '#ops:example.org'`) or pipe a row with a room_id \
                 (an invitation from `matrix listen --invites`)",
            )
    })?;
    check_room(&room.item).map_err(|err| errors::input_of(err, room.span))?;
    Ok(room)
}
