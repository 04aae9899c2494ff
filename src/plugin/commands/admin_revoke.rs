use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Signature, Spanned, SyntaxShape, Type, Value};

use super::with_session;
use crate::plugin::MatrixPlugin;
use crate::plugin::mas_admin::{Caller, personal_session_row};

/// `matrix admin revoke <id>`: revokes a personal session on MAS.
pub struct AdminRevoke;

impl SimplePluginCommand for AdminRevoke {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(Flag);

    fn name(&self) -> &str {
        "matrix admin revoke"
    }

    fn description(&self) -> &str {
        "Revoke a personal access token through MAS's admin API: it stops working."
    }

    fn extra_description(&self) -> &str {
        "The ID is a personal session's: `personal_session_id` of `matrix admin token`, or `id` \
         of `matrix admin tokens`. Takes the admin session as `matrix admin token` does. Synapse \
         may go on accepting a token it checked in the last two minutes."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), Type::record())
            .required("id", SyntaxShape::String, "The personal session's ID.")
            .category(Category::Network)
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "matrix admin tokens @bot:example.org | where revoked_at == null | each {|t| matrix admin revoke $t.id }",
            description: "Revoke every token of @bot",
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
        let id: Spanned<String> = call.req(0)?;
        if id.item.len() != 26 || !id.item.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(LabeledError::new("That is not a personal session ID")
                .with_label("not a 26-character ID", id.span)
                .with_help("`matrix admin tokens` lists them in its `id` column"));
        }
        let mut caller = Caller::resolve(plugin, engine, call, &session_only(input))?;
        let revoked = caller.run(plugin, |client, admin| {
            client.mas_revoke_personal_session(admin, &id.item)
        })?;
        // Whose token it was: the piped row of `matrix admin tokens` says, else MAS does.
        let user_id = match listed_user(input, &id.item) {
            Some(user_id) => user_id,
            None => {
                let user = caller.run(plugin, |client, admin| {
                    client.mas_user_by_id(admin, &revoked.actor_user_id)
                })?;
                format!("@{}:{}", user.username, caller.home_server())
            }
        };
        Ok(Value::record(
            personal_session_row(&revoked, Some(&user_id), call.head),
            call.head,
        ))
    }
}

/// The `user_id` of a piped row of `matrix admin tokens` that is the session `id`.
fn listed_user(input: &Value, id: &str) -> Option<String> {
    let row = input.as_record().ok()?;
    if row.get("id")?.as_str().ok()? != id {
        return None;
    }
    row.get("user_id")?.as_str().ok().map(str::to_owned)
}

/// The pipeline's value when it may be a session: a row of `matrix admin tokens` (which `each`
/// pipes into the command) is not one, and leaves the session to --session or the default.
fn session_only(input: &Value) -> Value {
    match input {
        Value::Record { val, .. } if val.get("access_token").is_none() => {
            Value::nothing(input.span())
        }
        other => other.clone(),
    }
}
