use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Signature, Value};

use super::with_session;
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, failure};
use crate::plugin::token::{session_record, session_type};

/// `matrix refresh`: exchange the refresh token for new tokens.
pub struct Refresh;

impl SimplePluginCommand for Refresh {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(Flag);

    fn name(&self) -> &str {
        "matrix refresh"
    }

    fn description(&self) -> &str {
        "Exchange a session's refresh token for a new access token (and refresh token)."
    }

    fn extra_description(&self) -> &str {
        "Only sessions from `matrix login --refresh` have a refresh token. Commands refresh an \
         expired token by themselves; this does it now. A saved session is updated in place, \
         under a lock, so concurrent pipelines never spend the same refresh token twice."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), session_type()).category(Category::Network)
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "matrix refresh --session bot",
                description: "Renew the tokens of the saved session 'bot'",
                result: None,
            },
            Example {
                example: "let s = (input -s | matrix login @bot:example.org --refresh); $s | matrix refresh",
                description: "Renew the tokens of a session in a variable; use the new record from then on",
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
        active.refresh(plugin).map_err(|err| failure(err, &blame))?;
        Ok(session_record(
            &active.session,
            active.saved_as.as_deref(),
            call.head,
        ))
    }
}
