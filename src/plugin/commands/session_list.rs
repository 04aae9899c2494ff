use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Record, Signature, Type, Value};

use crate::plugin::MatrixPlugin;
use crate::plugin::session_store::load;
use crate::plugin::token::{TokenValue, date_or_nothing};

/// `matrix session list`.
pub struct SessionList;

impl SimplePluginCommand for SessionList {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        "matrix session list"
    }

    fn description(&self) -> &str {
        "The saved sessions as a table, tokens masked."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_type(Type::Nothing, Type::table())
            .category(Category::Network)
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "matrix session list",
                description: "The saved sessions; `default` marks the one commands use when given none",
                result: None,
            },
            Example {
                example: "(matrix session list).user_id",
                description: "Who the saved sessions belong to",
                result: Some(Value::test_list(vec![
                    Value::test_string("@bot:example.org"),
                    Value::test_string("@oldbot:example.org"),
                ])),
            },
        ]
    }

    fn run(
        &self,
        plugin: &MatrixPlugin,
        _engine: &EngineInterface,
        call: &EvaluatedCall,
        _input: &Value,
    ) -> Result<Value, LabeledError> {
        let span = call.head;
        let saved = load(plugin, span)?;
        let rows = saved
            .sessions
            .iter()
            .map(|(name, session)| {
                let mut row = Record::new();
                row.push("name", Value::string(name, span));
                row.push(
                    "default",
                    Value::bool(saved.default.as_ref() == Some(name), span),
                );
                row.push("user_id", Value::string(session.user_id.as_str(), span));
                row.push("device_id", Value::string(&session.device_id, span));
                row.push("homeserver", Value::string(&session.homeserver, span));
                row.push(
                    "access_token",
                    TokenValue::from_session(session, Some(name)).into_value(span),
                );
                row.push("expires_at", date_or_nothing(session.expires_at, span));
                // Its refresh token was refused: log in again and save under this name.
                row.push(
                    "needs_login",
                    Value::bool(saved.needs_login.contains(name), span),
                );
                Value::record(row, span)
            })
            .collect::<Vec<_>>();
        // Saved MAS admin clients (`matrix admin session --save`): no user, no kept token.
        let admin_rows = saved.admin_clients.iter().map(|(name, admin)| {
            let mut row = Record::new();
            row.push("name", Value::string(name, span));
            row.push(
                "default",
                Value::bool(saved.default.as_ref() == Some(name), span),
            );
            row.push("user_id", Value::nothing(span));
            row.push(
                "device_id",
                Value::string(format!("admin client {}", admin.client_id), span),
            );
            row.push("homeserver", Value::string(&admin.homeserver, span));
            row.push("access_token", Value::nothing(span));
            row.push("expires_at", Value::nothing(span));
            row.push("needs_login", Value::bool(false, span));
            Value::record(row, span)
        });
        Ok(Value::list(
            rows.into_iter().chain(admin_rows).collect(),
            span,
        ))
    }
}
