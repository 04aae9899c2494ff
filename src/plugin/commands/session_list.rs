use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Record, Signature, Type, Value};

use crate::plugin::MatrixPlugin;
use crate::plugin::errors;
use crate::plugin::session_store::store_of;
use crate::plugin::token::{TokenValue, date_or_nothing};

/// `matrix session list`.
pub struct SessionList;

impl SimplePluginCommand for SessionList {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        "matrix session list"
    }

    fn description(&self) -> &str {
        "The saved sessions as a table, tokens masked, and where each one's tokens are kept."
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
        let store = store_of(plugin, span)?;
        let saved = store.load().map_err(|err| errors::store(err, span))?;
        let mut rows = Vec::with_capacity(saved.sessions.len());
        for (name, entry) in &saved.sessions {
            // Tokens in the keyring are read: a locked or absent keyring is an error naming
            // the session; a session whose item is gone is shown broken (no token,
            // needs_login), and kept.
            let session = store
                .open_unless_broken(name, entry)
                .map_err(|err| errors::store(err, span))?;
            let mut row = Record::new();
            row.push("name", Value::string(name, span));
            row.push(
                "default",
                Value::bool(saved.default.as_ref() == Some(name), span),
            );
            row.push("user_id", Value::string(entry.user_id.as_str(), span));
            row.push("device_id", Value::string(&entry.device_id, span));
            row.push("homeserver", Value::string(&entry.homeserver, span));
            row.push(
                "access_token",
                match &session {
                    Some(session) => TokenValue::from_session(session, Some(name)).into_value(span),
                    None => Value::nothing(span),
                },
            );
            row.push("expires_at", date_or_nothing(entry.expires_at, span));
            row.push("store", Value::string(entry.secrets_at().as_str(), span));
            // Its refresh token was refused, or its keyring item is gone: log in again and
            // save under this name.
            row.push(
                "needs_login",
                Value::bool(saved.needs_login.contains(name) || session.is_none(), span),
            );
            rows.push(Value::record(row, span));
        }
        // Saved MAS admin clients (`matrix admin session --save`): no user, no kept token; the
        // store is where their secret is.
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
            row.push(
                "store",
                Value::string(admin.client_secret.at().as_str(), span),
            );
            row.push("needs_login", Value::bool(false, span));
            Value::record(row, span)
        });
        Ok(Value::list(
            rows.into_iter().chain(admin_rows).collect(),
            span,
        ))
    }
}
