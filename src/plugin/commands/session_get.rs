use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Signature, Spanned, SyntaxShape, Type, Value};

use crate::plugin::MatrixPlugin;
use crate::plugin::errors;
use crate::plugin::examples::BOT_TOKEN;
use crate::plugin::session_store::{store_of, unknown};
use crate::plugin::token::{session_record, session_type};

/// `matrix session get [name]`.
pub struct SessionGet;

impl SimplePluginCommand for SessionGet {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(First);

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
            example: "(matrix session get bot | matrix token reveal).access_token",
            description: "The real token of the saved session 'bot'",
            result: Some(Value::test_string(BOT_TOKEN)),
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
        let store = store_of(plugin, span)?;
        let saved = store.load().map_err(|err| errors::store(err, span))?;
        let name: Option<Spanned<String>> = call.opt(0)?;
        let (name, entry) = match &name {
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
        let session = store
            .open(name, entry)
            .map_err(|err| errors::store(err, span))?;
        Ok(session_record(&session, Some(name), span))
    }
}
