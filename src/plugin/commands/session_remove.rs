use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Signature, Spanned, SyntaxShape, Type, Value};

use crate::plugin::MatrixPlugin;
use crate::plugin::errors;
use crate::plugin::session_store::{store_of, unknown};

/// `matrix session remove <name>`.
pub struct SessionRemove;

impl SimplePluginCommand for SessionRemove {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(First);

    fn name(&self) -> &str {
        "matrix session remove"
    }

    fn description(&self) -> &str {
        "Forget a saved session, and its keyring item if its tokens are there. Its token stays \
         valid: `matrix logout` revokes it."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_type(Type::Nothing, Type::Nothing)
            .required("name", SyntaxShape::String, "The saved session.")
            .category(Category::Network)
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "matrix session remove old-bot; (matrix session list).name",
            description: "Forget the saved session 'old-bot' (the token is not revoked)",
            result: Some(Value::test_list(vec![Value::test_string("bot")])),
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
        let store = store_of(plugin, call.head)?;
        store.update(|saved| {
            // The keyring item first: a keyring that cannot delete it keeps the session saved.
            if let Some(entry) = saved.sessions.get(&name.item) {
                store
                    .drop_secrets(&name.item, entry)
                    .map_err(|err| errors::store(err, name.span))?;
            }
            if let Some(admin) = saved.admin_clients.get(&name.item) {
                store
                    .drop_admin_secret(&name.item, admin)
                    .map_err(|err| errors::store(err, name.span))?;
            }
            if saved.sessions.remove(&name.item).is_none()
                && saved.admin_clients.remove(&name.item).is_none()
            {
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
