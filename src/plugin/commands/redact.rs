use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Signature, Spanned, SyntaxShape, Type, Value};

use super::{Pipe, with_session, with_txn_id};
use crate::plugin::MatrixPlugin;
use crate::plugin::room_arg::room_failure;
use crate::plugin::sending::Sent;
use crate::plugin::target::{Aimed, aim};

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
        let (room_id, redaction) = active
            .run(plugin, |client, token| {
                let room_id = client.resolve_room(token, &room.item)?;
                let id = client.redact(token, &room_id, event_id, reason.as_deref(), &txn_id)?;
                Ok((room_id, id))
            })
            .map_err(|err| room_failure(err, room, &blame))?;
        let sent = Sent {
            event_id: redaction,
            room_id,
            txn_id,
        };
        Ok(sent.into_value(call.head))
    }
}
