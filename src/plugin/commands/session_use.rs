use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Signature, Spanned, SyntaxShape, Type, Value};

use crate::plugin::MatrixPlugin;
use crate::plugin::session_store::{store_of, unknown};

/// `matrix session use <name>`.
pub struct SessionUse;

impl SimplePluginCommand for SessionUse {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(First);

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
            example: "matrix session use bot; (matrix session get).user_id",
            description: "Make 'bot' the default session: commands given no session use it",
            result: Some(Value::test_string("@bot:example.org")),
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
            // A saved MAS admin client may be the default too (`matrix admin` commands use it).
            if !saved.sessions.contains_key(&name.item)
                && !saved.admin_clients.contains_key(&name.item)
            {
                return Err(unknown(&name, saved));
            }
            saved.default = Some(name.item.clone());
            Ok(())
        })?;
        Ok(Value::nothing(call.head))
    }
}
