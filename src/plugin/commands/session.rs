use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{
    Category, Example, LabeledError, Record, Signature, Span, Spanned, SyntaxShape, Type, Value,
};

use crate::plugin::MatrixPlugin;
use crate::plugin::active::Active;
use crate::plugin::commands::login::session_type;
use crate::plugin::errors;
use crate::plugin::session_store::{check_session_name, save_session};
use crate::plugin::token::{TYPE_NAME, TokenValue, date_or_nothing, session_record};
use crate::store::{SavedSessions, SessionStore};

fn store_of(plugin: &MatrixPlugin, span: Span) -> Result<SessionStore, LabeledError> {
    plugin.store().map_err(|err| errors::store(err, span))
}

fn load(plugin: &MatrixPlugin, span: Span) -> Result<SavedSessions, LabeledError> {
    store_of(plugin, span)?
        .load()
        .map_err(|err| errors::store(err, span))
}

fn unknown(name: &Spanned<String>, saved: &SavedSessions) -> LabeledError {
    let names: Vec<&str> = saved.sessions.keys().map(String::as_str).collect();
    LabeledError::new(format!("No saved session named '{}'", name.item))
        .with_label("unknown session", name.span)
        .with_help(if names.is_empty() {
            "no session is saved yet".to_owned()
        } else {
            format!("saved sessions: {}", names.join(", "))
        })
}

/// `matrix session save [name]`.
pub struct SessionSave;

impl SimplePluginCommand for SessionSave {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        "matrix session save"
    }

    fn description(&self) -> &str {
        "Save the piped session under a name (default: its user ID)."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_types(vec![
                (Type::record(), Type::record()),
                (Type::Custom(TYPE_NAME.into()), Type::record()),
            ])
            .optional("name", SyntaxShape::String, "The name to save it as.")
            .switch("default", "Make it the default session.", Some('d'))
            .category(Category::Network)
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "input -s | matrix login @bot:example.org | matrix session save bot --default",
            description: "Log in and save the session as the default, named 'bot'",
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
        if matches!(input, Value::Nothing { .. }) {
            return Err(LabeledError::new("Which session?")
                .with_label("nothing piped in", call.head)
                .with_help("pipe the session: `matrix login ... | matrix session save bot`"));
        }
        let active = Active::resolve(plugin, engine, call, input)?;
        let name: Spanned<String> = call.opt(0)?.unwrap_or(Spanned {
            item: active.session.user_id.clone(),
            span: call.head,
        });
        check_session_name(&name)?;
        let is_default = save_session(
            plugin,
            &name.item,
            &active.session,
            call.has_flag("default")?,
        )
        .map_err(|err| errors::store(err, call.head))?;
        let span = call.head;
        let mut record = Record::new();
        record.push("name", Value::string(&name.item, span));
        record.push("user_id", Value::string(&active.session.user_id, span));
        record.push("default", Value::bool(is_default, span));
        Ok(Value::record(record, span))
    }
}

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
        vec![Example {
            example: "matrix session list",
            description: "The saved sessions; `default` marks the one commands use when given none",
            result: None,
        }]
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
                row.push("user_id", Value::string(&session.user_id, span));
                row.push("device_id", Value::string(&session.device_id, span));
                row.push("homeserver", Value::string(&session.homeserver, span));
                row.push(
                    "access_token",
                    TokenValue::from_session(session, Some(name)).into_value(span),
                );
                row.push("expires_at", date_or_nothing(session.expires_at, span));
                Value::record(row, span)
            })
            .collect();
        Ok(Value::list(rows, span))
    }
}

/// `matrix session get [name]`.
pub struct SessionGet;

impl SimplePluginCommand for SessionGet {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        "matrix session get"
    }

    fn description(&self) -> &str {
        "A saved session as a session record (default: the default session)."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_type(Type::Nothing, session_type())
            .optional("name", SyntaxShape::String, "The saved session.")
            .category(Category::Network)
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "matrix session get bot | matrix token reveal | get access_token",
            description: "The real token of the saved session 'bot'",
            result: None,
        }]
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
        let name: Option<Spanned<String>> = call.opt(0)?;
        let (name, session) = match &name {
            Some(name) => (
                name.item.as_str(),
                saved
                    .sessions
                    .get(&name.item)
                    .ok_or_else(|| unknown(name, &saved))?,
            ),
            None => saved.default_session().ok_or_else(|| {
                LabeledError::new("No default session saved")
                    .with_label("no name given", span)
                    .with_help("name one, or save one: `matrix login ... --save bot`")
            })?,
        };
        Ok(session_record(session, Some(name), span))
    }
}

/// `matrix session use <name>`.
pub struct SessionUse;

impl SimplePluginCommand for SessionUse {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        "matrix session use"
    }

    fn description(&self) -> &str {
        "Make a saved session the default, used by commands given no session."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_type(Type::Nothing, Type::Nothing)
            .required("name", SyntaxShape::String, "The saved session.")
            .category(Category::Network)
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "matrix session use bot",
            description: "Make 'bot' the default session",
            result: None,
        }]
    }

    fn run(
        &self,
        plugin: &MatrixPlugin,
        _engine: &EngineInterface,
        call: &EvaluatedCall,
        _input: &Value,
    ) -> Result<Value, LabeledError> {
        let name: Spanned<String> = call.req(0)?;
        store_of(plugin, call.head)?.update(|saved| {
            if !saved.sessions.contains_key(&name.item) {
                return Err(unknown(&name, saved));
            }
            saved.default = Some(name.item.clone());
            Ok(())
        })?;
        Ok(Value::nothing(call.head))
    }
}

/// `matrix session remove <name>`.
pub struct SessionRemove;

impl SimplePluginCommand for SessionRemove {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        "matrix session remove"
    }

    fn description(&self) -> &str {
        "Forget a saved session. Its token stays valid: `matrix logout` revokes it."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_type(Type::Nothing, Type::Nothing)
            .required("name", SyntaxShape::String, "The saved session.")
            .category(Category::Network)
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "matrix session remove old-bot",
            description: "Forget the saved session 'old-bot' (the token is not revoked)",
            result: None,
        }]
    }

    fn run(
        &self,
        plugin: &MatrixPlugin,
        _engine: &EngineInterface,
        call: &EvaluatedCall,
        _input: &Value,
    ) -> Result<Value, LabeledError> {
        let name: Spanned<String> = call.req(0)?;
        store_of(plugin, call.head)?.update(|saved| {
            if saved.sessions.remove(&name.item).is_none() {
                return Err(unknown(&name, saved));
            }
            if saved.default.as_ref() == Some(&name.item) {
                saved.default = None;
            }
            Ok(())
        })?;
        Ok(Value::nothing(call.head))
    }
}
