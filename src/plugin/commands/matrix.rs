use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, LabeledError, Signature, Type, Value};

use crate::plugin::MatrixPlugin;

/// `matrix`: the help of the matrix commands.
pub struct Matrix;

impl SimplePluginCommand for Matrix {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        "matrix"
    }

    fn description(&self) -> &str {
        "Matrix access tokens: log in, and keep the token masked until you reveal it."
    }

    fn extra_description(&self) -> &str {
        "Run `matrix login --help` to start. Tokens display masked everywhere; \
         `matrix token reveal` is the one way to the plaintext."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_type(Type::Nothing, Type::String)
            .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["chat", "synapse", "homeserver", "access token"]
    }

    fn run(
        &self,
        _plugin: &MatrixPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        _input: &Value,
    ) -> Result<Value, LabeledError> {
        Ok(Value::string(engine.get_help()?, call.head))
    }
}
