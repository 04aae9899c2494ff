use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{
    Category, Example, LabeledError, Record, Signature, Spanned, SyntaxShape, Type, Value,
};

use super::with_session;
use crate::error::{E2eeKind, Error};
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, Failure, failure};

/// `matrix e2ee withdraw`: accepts a verified person's changed identity as unverified.
pub struct E2eeWithdraw;

impl SimplePluginCommand for E2eeWithdraw {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(Flag);

    fn name(&self) -> &str {
        "matrix e2ee withdraw"
    }

    fn description(&self) -> &str {
        "Withdraw the verification of a person whose identity changed (listed in `matrix e2ee \
         status`'s identity_changed): their new identity is then treated as never verified."
    }

    fn extra_description(&self) -> &str {
        "When a person this user verified gets a new identity (their account was reset, or \
         someone took it over), their events come with verified: false and the authenticity \
         \"the sender's identity changed since it was verified\", and e2ee_share: verified \
         shares no room key with them. Verifying them again (`matrix e2ee verify`) restores \
         trust; this command instead accepts the new identity as an unverified one, as \
         Element's \"Withdraw verification\" does: the warning ends, trust does not come back. \
         Refused for a person whose identity did not change."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), Type::record())
            .required(
                "user",
                SyntaxShape::String,
                "The person whose identity changed: @name:server.",
            )
            .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["identity", "reset", "trust", "unverify", "violation"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "matrix e2ee status --session bot | get identity_changed | each {|user| matrix e2ee withdraw $user --session bot }",
            description: "Accept every changed identity as unverified",
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
        let user: Spanned<String> = call.req(0)?;
        let mut active = Active::resolve(plugin, engine, call, input)?;
        let blame = active.blame();
        plugin
            .run_crypto(&mut active, |crypto, client, token| {
                crypto.accept_identity_change(client, token, &user.item)
            })
            .map_err(|err| match err {
                Failure::Request(Error::E2ee(err)) if err.kind == E2eeKind::Trust => {
                    LabeledError::new(format!("Nothing to withdraw: {}", err.problem))
                        .with_label("identity unchanged", user.span)
                        .with_help(err.hint)
                }
                Failure::Request(Error::Input(err)) => LabeledError::new(err.problem.clone())
                    .with_label("not a user ID", user.span)
                    .with_help(err.hint),
                other => failure(other, &blame),
            })?;
        let span = call.head;
        let mut record = Record::new();
        record.push("user_id", Value::string(user.item, span));
        record.push("verified", Value::bool(false, span));
        Ok(Value::record(record, span))
    }
}
