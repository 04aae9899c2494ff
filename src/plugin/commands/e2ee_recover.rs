use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{
    Category, Example, IntoPipelineData, LabeledError, PipelineData, Record, Signature, Type, Value,
};

use super::with_session;
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, failure};
use crate::plugin::password::{Asked, hidden_prompt, session_or_password};
use crate::plugin::token::TokenValue;
use crate::secret::Password;

/// `matrix e2ee recover`: a new device of the user takes its trust back with the recovery key.
pub struct E2eeRecover;

impl PluginCommand for E2eeRecover {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(Flag);

    fn name(&self) -> &str {
        "matrix e2ee recover"
    }

    fn description(&self) -> &str {
        "Make the saved session's device trusted again with the recovery key: it signs itself \
         and reads the key backup."
    }

    fn extra_description(&self) -> &str {
        "For a bot re-deployed on a new device: the recovery key `matrix e2ee bootstrap` gave \
         opens the account's secret storage; the cross-signing keys in it sign this device, \
         and the room keys of the key backup are imported, so that `matrix messages` decrypts \
         what was sent before this device existed. From then on this device backs up the room \
         keys it gets. The key comes from the pipeline (a string, or `matrix token reveal`'s \
         value) or a hidden prompt, never a flag (it would land in the history). A wrong key \
         changes nothing. Returns user_id, device_id, master_key, backup_version and \
         room_keys (how many the backup gave)."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), Type::record()).category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec![
            "verify",
            "cross-signing",
            "trust",
            "recovery",
            "backup",
            "restore",
        ]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "open recovery-key.txt | matrix e2ee recover --session bot",
            description: "The bot's new device, trusted again and reading its history",
            result: None,
        }]
    }

    fn run(
        &self,
        plugin: &MatrixPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        input: PipelineData,
    ) -> Result<PipelineData, LabeledError> {
        // A recovery key revealed by `matrix token reveal` is a string; the masked value
        // itself (a custom value) is taken as it is.
        let (session_input, piped) = match input {
            PipelineData::Value(Value::Custom { ref val, .. }, _) => {
                match val.as_any().downcast_ref::<TokenValue>() {
                    Some(key) => (
                        Value::nothing(call.head),
                        Some(Password::new(key.token().reveal().to_owned())),
                    ),
                    None => (input.into_value(call.head)?, None),
                }
            }
            other => {
                let (session, piped) = session_or_password(other, call.head)?;
                (
                    session,
                    piped.map(|(text, _)| Password::new(text.trim().to_owned())),
                )
            }
        };
        let mut active = Active::resolve(plugin, engine, call, &session_input)?;
        let blame = active.blame();
        let key = match piped {
            Some(key) => key,
            None => hidden_prompt(
                engine,
                call,
                &Asked {
                    question: format!("Recovery key for {}: ", active.session.user_id),
                    what: "recovery key",
                    how: "pipe it in: `open recovery-key.txt | matrix e2ee recover`".into(),
                    typed: "type the recovery key `matrix e2ee bootstrap` gave",
                },
            )?,
        };
        let recovered = plugin
            .crypto(&active)
            .and_then(|crypto| {
                active.run(plugin, |client, token| crypto.recover(client, token, &key))
            })
            .map_err(|err| failure(err, &blame))?;
        let span = call.head;
        let mut record = Record::new();
        record.push(
            "user_id",
            Value::string(active.session.user_id.as_str(), span),
        );
        record.push("device_id", Value::string(&active.session.device_id, span));
        record.push("master_key", Value::string(recovered.master_key, span));
        record.push(
            "backup_version",
            recovered
                .backup_version
                .map_or(Value::nothing(span), |version| Value::string(version, span)),
        );
        record.push(
            "room_keys",
            Value::int(i64::try_from(recovered.room_keys).unwrap_or(i64::MAX), span),
        );
        Ok(Value::record(record, span).into_pipeline_data())
    }
}
