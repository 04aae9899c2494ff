use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Record, Signature, Type, Value};

use super::{Pipe, with_session};
use crate::plugin::MatrixPlugin;
use crate::plugin::active::Active;
use crate::plugin::room_arg::{room_arg, room_failure, with_room};

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

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), Type::record())
            .pipe(with_room)
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
        let room = room_arg(call)?;
        let mut active = Active::resolve(plugin, engine, call, input)?;
        let blame = active.blame();
        let room_id = active
            .run(plugin, |client, token| client.join(token, &room.item))
            .map_err(|err| room_failure(err, &room, &blame))?;
        let mut record = Record::new();
        record.push("room_id", Value::string(room_id, call.head));
        Ok(Value::record(record, call.head))
    }
}
