use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{
    Category, Example, IntoPipelineData, LabeledError, PipelineData, Record, Signature, Type, Value,
};

use super::with_session;
use crate::error::{Error, ErrorCode};
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, Failure, failure};
use crate::plugin::password::{password_from, session_or_password};
use crate::plugin::token::TokenValue;

/// `matrix e2ee bootstrap`: makes the session's device trusted.
pub struct E2eeBootstrap;

impl PluginCommand for E2eeBootstrap {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(Flag);

    fn name(&self) -> &str {
        "matrix e2ee bootstrap"
    }

    fn description(&self) -> &str {
        "Make the saved session's device trusted: cross-signing keys, the device signed, secret \
         storage under a new recovery key, a key backup."
    }

    fn extra_description(&self) -> &str {
        "Creates the user's cross-signing keys and uploads them, signs this device with them \
         (Element then shows its messages as from a verified device of its owner), keeps the \
         private keys in secret storage (SSSS) under a new recovery key, and starts a \
         server-side key backup (its key kept there too) that takes every room key the device \
         gets. Returns user_id, device_id, master_key, backup_version and recovery_key, which \
         shows as ******** and is shown by `matrix token reveal`: keep it somewhere safe, it \
         is what `matrix e2ee recover` asks for on the bot's next device. An account that \
         already has cross-signing keys is refused unless --reset; then the account's \
         password confirms it (from the pipeline, or a hidden prompt), or, on a server whose \
         accounts MAS runs, an approval on its account page (the error gives the link; run the \
         command again once approved)."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), Type::record())
            .switch(
                "reset",
                "Replace the account's cross-signing keys (devices and users that trusted the old ones must trust the new).",
                None,
            )
            .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec![
            "verify",
            "cross-signing",
            "trust",
            "recovery",
            "backup",
            "ssss",
        ]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "matrix e2ee bootstrap --session bot | get recovery_key | matrix token save recovery-key.txt",
            description: "Make the bot's device trusted and keep its recovery key in a file (keep the file safe)",
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
        let (session_input, piped) = session_or_password(input, call.head)?;
        let reset = call.has_flag("reset")?;
        let mut active = Active::resolve(plugin, engine, call, &session_input)?;
        let blame = active.blame();
        // An OAuth 2.0 session has no password: its server asks for approval on its account
        // page instead (the error says where), and the reset goes through when run again.
        let password = if reset && active.session.oauth.is_none() {
            let user = active.session.user_id.to_string();
            Some(password_from(
                piped,
                None,
                engine,
                call,
                self.name(),
                &user,
            )?)
        } else {
            None
        };
        let made = plugin
            .run_crypto(&mut active, |crypto, client, token| {
                crypto.bootstrap(client, token, reset, password.as_ref())
            })
            .map_err(|err| match err {
                Failure::Request(Error::Matrix(err)) if err.errcode == ErrorCode::Forbidden => {
                    LabeledError::new("Wrong password: the cross-signing keys were not replaced")
                        .with_label("the password did not confirm this", call.head)
                        .with_help(format!("nothing changed; the server said: {err}"))
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
        record.push("master_key", Value::string(made.master_key, span));
        record.push("backup_version", Value::string(made.backup_version, span));
        record.push(
            "recovery_key",
            TokenValue::recovery_key(&made.recovery_key, &active.session).into_value(span),
        );
        Ok(Value::record(record, span).into_pipeline_data())
    }
}
