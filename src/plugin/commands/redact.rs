use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Signature, Spanned, SyntaxShape, Type, Value};

use super::{Pipe, with_session, with_txn_id};
use crate::bot::Sent;
use crate::client::Method;
use crate::error::{Error, ErrorCode};
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, Failure};
use crate::plugin::room_arg::room_failure;
use crate::plugin::sending::sent_value;
use crate::plugin::target::{Aimed, aim};
use crate::rooms::derived_transaction_id;
use crate::rooms::redact_levels;

/// `matrix redact`: removes an event's content.
pub struct Redact;

impl SimplePluginCommand for Redact {
    type Plugin = MatrixPlugin;

    completes_sessions_and!(rooms, 0);

    fn name(&self) -> &str {
        "matrix redact"
    }

    fn description(&self) -> &str {
        "Remove an event's content (a message, a reaction); returns the redaction's event ID."
    }

    fn extra_description(&self) -> &str {
        "The event is a row of `matrix listen` or `matrix messages` on the pipeline, or a room \
         and an event ID (looked up first). The user's own events can be redacted; others' \
         need the power level for it (moderators). Everyone's rows then show redacted: true \
         with the reason; a listener sees the m.room.redaction (--type m.room.redaction) with \
         the event it removes in redacts. Redactions are never encrypted (the server must read \
         them). --txn-id as `matrix send`."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), Type::record())
            .optional("room", SyntaxShape::String, "The room.")
            .optional("event", SyntaxShape::String, "The event ID to redact.")
            .named(
                "reason",
                SyntaxShape::String,
                "Why (shown by clients).",
                None,
            )
            .pipe(with_txn_id)
            .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["delete", "remove", "retract", "moderate"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "matrix messages '#ops:example.org' --session bot | where body != null and body =~ 'password' | each { matrix redact --reason 'secret pasted' --session bot }",
                description: "Remove recent messages that paste a password",
                result: None,
            },
            Example {
                example: "let sent = (matrix send '#ops:example.org' 'wrong room, sorry'); matrix redact $sent.room_id $sent.event_id --reason 'wrong room'",
                description: "Take back a message by its room and ID",
                result: None,
            },
        ]
    }

    fn run(
        &self,
        plugin: &MatrixPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        input: &Value,
    ) -> Result<Value, LabeledError> {
        let reason: Option<Spanned<String>> = call.get_flag("reason")?;
        let Aimed {
            target,
            txn_id,
            mut active,
            ..
        } = aim(plugin, engine, call, input, &[], |_| Ok(()))?;
        let blame = active.blame();
        let (room, event_id) = (&target.room, &target.event_id.item);
        let reason = reason.map(|reason| reason.item);
        // Redacting the same event again, with the same reason, is the same transaction.
        let txn_id = txn_id.unwrap_or_else(|| {
            derived_transaction_id(
                "m.room.redaction",
                &serde_json::json!({"redacts": event_id, "reason": reason}),
            )
        });
        let room_id = active
            .run(plugin, |client, token| {
                client.resolve_room(token, &room.item)
            })
            .map_err(|err| room_failure(err, room, &blame))?;
        let redacted = active.run(plugin, |client, token| {
            client.redact(token, &room_id, event_id, reason.as_deref(), &txn_id)
        });
        let redaction = match redacted {
            Ok(redaction) => redaction,
            Err(Failure::Request(Error::Matrix(err))) if err.errcode == ErrorCode::Forbidden => {
                return Err(
                    too_low(plugin, &mut active, room, &room_id).unwrap_or_else(|| {
                        room_failure(Failure::Request(Error::Matrix(err)), room, &blame)
                    }),
                );
            }
            Err(err) => return Err(room_failure(err, room, &blame)),
        };
        let sent = Sent {
            event_id: redaction,
            room_id,
            txn_id,
        };
        Ok(sent_value(sent, call.head))
    }
}

/// A refused redaction explained by the room's power levels, when they explain it: the level
/// redacting others' events needs, and the user's own. `None` when the levels cannot be read
/// or allow it (the refusal is then about something else).
fn too_low(
    plugin: &MatrixPlugin,
    active: &mut Active,
    room: &Spanned<String>,
    room_id: &str,
) -> Option<LabeledError> {
    let user_id = active.session.user_id.to_string();
    let levels = active
        .run(plugin, |client, token| {
            let path = ["rooms", room_id, "state", "m.room.power_levels", ""];
            client
                .request_at(token, Method::Get, &path, &[], None)?
                .json()
        })
        .ok()?;
    let (needed, mine) = redact_levels(&levels, &user_id);
    (mine < needed).then(|| {
        LabeledError::new(format!(
            "Not allowed to redact others' events in {}",
            room.item
        ))
        .with_label(
            format!("redacting others' events needs power level {needed}; {user_id} has {mine}"),
            room.span,
        )
        .with_help(
            "a room admin can raise the bot's power level (or lower `redact` in the room's \
                 m.room.power_levels); anyone may redact their own events",
        )
        .with_code("matrix::M_FORBIDDEN")
    })
}
