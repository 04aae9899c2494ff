use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Record, Signature, Type, Value};

use super::{table_of, with_session};
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, failure};
use crate::plugin::rows::maybe;
use crate::plugin::token::text_or_nothing;

/// `matrix rooms`: the joined rooms.
pub struct Rooms;

impl SimplePluginCommand for Rooms {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(Flag);

    fn name(&self) -> &str {
        "matrix rooms"
    }

    fn description(&self) -> &str {
        "List the rooms the user has joined, with their alias, name, members and encryption."
    }

    fn extra_description(&self) -> &str {
        "Columns: room_id, alias, name, members, encrypted. One request, however many rooms \
         there are: a sliding sync (MSC4186) asking for these fields where the server has it, \
         else a /sync filtered down to them."
    }

    fn signature(&self) -> Signature {
        with_session(
            Signature::build(self.name()),
            table_of(&[
                ("room_id", Type::String),
                ("alias", maybe(Type::String)),
                ("name", maybe(Type::String)),
                ("members", Type::Int),
                ("encrypted", Type::Bool),
            ]),
        )
        .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["joined rooms", "channels", "list rooms"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "matrix rooms",
                description: "The default session's rooms",
                result: None,
            },
            Example {
                example: "matrix rooms --session bot | where not encrypted | get alias",
                description: "The aliases of the bot's unencrypted rooms",
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
        let mut active = Active::resolve(plugin, engine, call, input)?;
        let blame = active.blame();
        let rooms = active
            .run(plugin, |client, token| client.rooms(token))
            .map_err(|err| failure(err, &blame))?;
        let span = call.head;
        let rows = rooms
            .into_iter()
            .map(|room| {
                let mut record = Record::new();
                record.push("room_id", Value::string(room.room_id, span));
                record.push("alias", text_or_nothing(room.canonical_alias, span));
                record.push("name", text_or_nothing(room.name, span));
                record.push(
                    "members",
                    room.members.map_or_else(
                        || Value::nothing(span),
                        |n| Value::int(i64::try_from(n).unwrap_or(i64::MAX), span),
                    ),
                );
                record.push("encrypted", Value::bool(room.encrypted, span));
                Value::record(record, span)
            })
            .collect();
        Ok(Value::list(rows, span))
    }
}
