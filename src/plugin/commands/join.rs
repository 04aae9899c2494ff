use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{
    Category, Example, LabeledError, Record, Signature, Span, Spanned, SyntaxShape, Type, Value,
};

use super::with_session;
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
        // An invitation to an encrypted room: the device's keys go up first, so that whoever
        // invited encrypts their next message for it (a message sent the moment after the join
        // would else miss the bot's device). A session that is not saved has no device keys.
        if invited_to_encrypted(input) && active.saved_as.is_some() {
            plugin
                .crypto(&active)
                .and_then(|crypto| {
                    active.run(plugin, |client, token| crypto.publish_keys(client, token))
                })
                .map_err(|err| room_failure(err, &room, &blame))?;
        }
        let room_id = active
            .run(plugin, |client, token| client.join(token, &room.item))
            .map_err(|err| room_failure(err, &room, &blame))?;
        // Joined by name or ID: whether the room is encrypted shows only now (one request); the
        // device's keys go up at once, so that the members' next messages are encrypted for it.
        let from_row = invited_to_encrypted(input);
        let encrypted = from_row
            || (active.saved_as.is_some()
                && active
                    .run(plugin, |client, token| client.is_encrypted(token, &room_id))
                    .unwrap_or(false));
        if active.saved_as.is_some() && encrypted {
            if !from_row {
                let published = plugin.crypto(&active).and_then(|crypto| {
                    active.run(plugin, |client, token| crypto.publish_keys(client, token))
                });
                if let Err(err) = published {
                    eprintln!(
                        "matrix join: the device's keys were not published ({}); messages sent \
                         before they are may not be readable here",
                        err
                    );
                }
            }
            import_history(plugin, &mut active, &room_id, input);
        }
        let mut record = Record::new();
        record.push("room_id", Value::string(room_id, call.head));
        Ok(Value::record(record, call.head))
    }
}

/// The room keys of the history the inviter shared (MSC4268), imported once the room is
/// joined: the inviter is the sender of the piped invitation, else asked of the server. A
/// failure leaves the join done, and is said on stderr.
fn import_history(plugin: &MatrixPlugin, active: &mut Active, room_id: &str, input: &Value) {
    let piped = match input {
        Value::Record { val, .. } => val
            .get("sender")
            .and_then(|sender| sender.as_str().ok())
            .map(str::to_owned),
        _ => None,
    };
    let me = active.session.user_id.as_str().to_owned();
    let imported = plugin.crypto(active).and_then(|crypto| {
        let inviter = match &piped {
            Some(inviter) if invited_to_encrypted(input) => Some(inviter.clone()),
            _ => active.run(plugin, |client, token| client.inviter(token, room_id, &me))?,
        };
        let Some(inviter) = inviter else {
            return Ok(None);
        };
        active.run(plugin, |client, token| {
            crypto.import_history(client, token, room_id, &inviter)
        })
    });
    if let Err(err) = imported {
        eprintln!(
            "matrix join: the room's earlier messages shared by the inviter were not imported \
             ({}); they may stay unreadable",
            err
        );
    }
}

/// Whether the pipeline holds an invitation row of `matrix listen --invites` to an end-to-end
/// encrypted room.
fn invited_to_encrypted(input: &Value) -> bool {
    let Value::Record { val, .. } = input else {
        return false;
    };
    let field = |name: &str| val.get(name);
    field("type").and_then(|kind| kind.as_str().ok()) == Some("invite")
        && field("encrypted").and_then(|flag| flag.as_bool().ok()) == Some(true)
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
