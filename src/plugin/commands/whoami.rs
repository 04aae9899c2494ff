use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Record, Signature, Type, Value};

use super::with_session;
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, failure};
use crate::plugin::token::text_or_nothing;

/// `matrix whoami`: who a session's token belongs to, as the server sees it.
pub struct Whoami;

impl SimplePluginCommand for Whoami {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(Flag);

    fn name(&self) -> &str {
        "matrix whoami"
    }

    fn description(&self) -> &str {
        "Ask the homeserver who a session's token belongs to; an invalid token is an error."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), Type::record()).category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["check token", "valid", "user id"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "input -s | matrix login @bot:example.org | matrix whoami",
                description: "Check a fresh session",
                result: None,
            },
            Example {
                example: "matrix whoami --session bot",
                description: "Check a saved session; without --session, the default one",
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
        let me = active
            .run(plugin, |client, token| client.whoami(token))
            .map_err(|err| failure(err, &blame))?;
        let span = call.head;
        let mut record = Record::new();
        record.push("user_id", Value::string(me.user_id.as_str(), span));
        record.push("device_id", text_or_nothing(me.device_id, span));
        record.push("is_guest", Value::bool(me.is_guest, span));
        record.push(
            "homeserver",
            Value::string(&active.session.homeserver, span),
        );
        Ok(Value::record(record, span))
    }
}
