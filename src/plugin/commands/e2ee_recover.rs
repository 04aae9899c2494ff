use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{
    Category, Example, IntoPipelineData, LabeledError, PipelineData, Record, Signature, Span, Type,
    Value,
};

use super::with_session;
use crate::e2ee::MAX_RECOVERY_KEY_LEN;
use crate::error::Error;
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, Failure, failure};
use crate::plugin::password::{Asked, hidden_prompt};
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
        let (session_input, piped) = piped_key(input, call.head)?;
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
            .run_crypto(&mut active, |crypto, client, token| {
                crypto.recover(client, token, &key)
            })
            .map_err(|err| match err {
                // A wrong key is the key's fault, not the session's.
                Failure::Request(Error::Input(err)) => {
                    LabeledError::new(crate::plugin::errors::capitalise(&err.problem))
                        .with_label("a wrong recovery key", call.head)
                        .with_help(err.hint)
                        .with_code("matrix::e2ee::wrong_recovery_key")
                }
                other => failure(other, &blame),
            })?;
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

/// What the pipeline holds: a session (the value to resolve it from), or the recovery key (a
/// string, text bytes, or the masked value `matrix e2ee bootstrap` gave), checked for its
/// length before anything else is done with it.
fn piped_key(input: PipelineData, head: Span) -> Result<(Value, Option<Password>), LabeledError> {
    let (text, span) = match input {
        PipelineData::Value(Value::Custom { ref val, .. }, _) => {
            return match val.as_any().downcast_ref::<TokenValue>() {
                Some(key) => Ok((
                    Value::nothing(head),
                    Some(Password::new(key.token().reveal().to_owned())),
                )),
                None => Ok((input.into_value(head)?, None)),
            };
        }
        PipelineData::Value(
            Value::String {
                val, internal_span, ..
            },
            _,
        ) => (val, internal_span),
        PipelineData::Value(Value::Binary { internal_span, .. }, _) => {
            return Err(not_text(internal_span));
        }
        PipelineData::ByteStream(stream, _) => {
            let span = stream.span();
            let bytes = stream.into_bytes()?;
            let text = String::from_utf8(bytes).map_err(|_| not_text(span))?;
            (text, span)
        }
        other => return Ok((other.into_value(head)?, None)),
    };
    let key = text.trim();
    if key.is_empty() {
        return Err(LabeledError::new("The piped recovery key is empty")
            .with_label("nothing here", span)
            .with_help(
                "pipe the recovery key `matrix e2ee bootstrap` gave (12 groups of 4 characters): \
                 `open recovery-key.txt | matrix e2ee recover`",
            ));
    }
    let length = key.chars().count();
    if length > MAX_RECOVERY_KEY_LEN {
        return Err(LabeledError::new("This is too long for a recovery key")
            .with_label(
                format!("{length} characters: a recovery key has 48, in 12 groups of 4"),
                span,
            )
            .with_help(
                "pipe the recovery key `matrix e2ee bootstrap` gave, as `matrix token reveal` \
                 shows it (`EsT… …`): `open recovery-key.txt | matrix e2ee recover`",
            ));
    }
    Ok((Value::nothing(head), Some(Password::new(key.to_owned()))))
}

fn not_text(span: Span) -> LabeledError {
    LabeledError::new("The piped recovery key is not text")
        .with_label("binary data, not a recovery key", span)
        .with_help(
            "pipe the recovery key as text (12 groups of 4 characters, as `matrix e2ee \
             bootstrap` gave it): `open recovery-key.txt | matrix e2ee recover`",
        )
}
