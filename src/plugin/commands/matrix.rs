use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Signature, Type, Value};

use crate::plugin::MatrixPlugin;

/// `matrix`: the help of the matrix commands.
pub struct Matrix;

impl SimplePluginCommand for Matrix {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        "matrix"
    }

    fn description(&self) -> &str {
        "Matrix chat: log in to a homeserver and keep access tokens masked until you reveal them."
    }

    fn extra_description(&self) -> &str {
        "Run `matrix login --help` to start. Tokens display masked everywhere; \
         `matrix token reveal` is the one way to the plaintext.\n\n\
         Subcommands marked (plugin) come from nu_plugin_matrix. The others (matrix add, \
         matrix multiply, ...) are Nushell's own linear-algebra commands, which share the \
         name and keep working as before."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_type(Type::Nothing, Type::String)
            .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["chat", "synapse", "homeserver", "access token"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "matrix",
            description: "List the matrix commands",
            result: None,
        }]
    }

    fn run(
        &self,
        _plugin: &MatrixPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        _input: &Value,
    ) -> Result<Value, LabeledError> {
        super::help(engine, call)
    }
}
