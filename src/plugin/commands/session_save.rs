use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{
    Category, Example, LabeledError, Record, Signature, Spanned, SyntaxShape, Type, Value,
};

use crate::plugin::MatrixPlugin;
use crate::plugin::active::Active;
use crate::plugin::config::PluginConfig;
use crate::plugin::errors;
use crate::plugin::session_store::{check_session_name, save_session};
use crate::plugin::token::TYPE_NAME;

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
            item: active.session.user_id.to_string(),
            span: call.head,
        });
        check_session_name(&name)?;
        let secrets = PluginConfig::read(engine)?.secrets;
        let saved = save_session(
            plugin,
            &name.item,
            &active.session,
            secrets,
            call.has_flag("default")?,
        )
        .map_err(|err| errors::store(err, call.head))?;
        let span = call.head;
        let mut record = Record::new();
        record.push("name", Value::string(&name.item, span));
        record.push(
            "user_id",
            Value::string(active.session.user_id.as_str(), span),
        );
        record.push("default", Value::bool(saved.is_default, span));
        record.push("store", Value::string(saved.at.as_str(), span));
        Ok(Value::record(record, span))
    }
}
