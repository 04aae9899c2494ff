use std::collections::HashMap;

use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Signature, Spanned, SyntaxShape, Type, Value};

use super::with_session;
use crate::plugin::MatrixPlugin;
use crate::plugin::mas_admin::{Caller, existing_user, personal_session_row, username_on};

/// `matrix admin tokens [user]`: the personal sessions MAS has, as a table.
pub struct AdminTokens;

impl SimplePluginCommand for AdminTokens {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(Flag);

    fn name(&self) -> &str {
        "matrix admin tokens"
    }

    fn description(&self) -> &str {
        "List the personal access tokens MAS issued (of one user, or of all), never the tokens themselves."
    }

    fn extra_description(&self) -> &str {
        "A row per personal session, oldest first, revoked ones too: id, name, user_id, scope, \
         created_at, expires_at, last_active_at, revoked_at. Takes the admin session as \
         `matrix admin token` does."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), Type::table())
            .optional(
                "user",
                SyntaxShape::String,
                "Only this user's: @bot:example.org or bot.",
            )
            .category(Category::Network)
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "matrix admin tokens @bot:example.org --session admin | where revoked_at == null",
            description: "The tokens of @bot that still work (or have not expired)",
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
        let user: Option<Spanned<String>> = call.opt(0)?;
        let mut caller = Caller::resolve(plugin, engine, call, input)?;
        let home_server = caller.home_server().to_owned();
        let actor = match &user {
            Some(user) => {
                let username = username_on(user, &home_server)?;
                let found =
                    caller.run(plugin, |client, admin| client.mas_user(admin, &username))?;
                Some(existing_user(found, user, &home_server)?)
            }
            None => None,
        };
        let sessions = caller.run(plugin, |client, admin| {
            client.mas_personal_sessions(admin, actor.as_ref().map(|user| user.id.as_str()))
        })?;
        // The user IDs, one lookup per user of the list.
        let mut names: HashMap<String, String> = HashMap::new();
        if let Some(actor) = &actor {
            names.insert(actor.id.clone(), actor.username.clone());
        }
        let mut rows = Vec::with_capacity(sessions.len());
        for session in &sessions {
            if !names.contains_key(&session.actor_user_id) {
                let user = caller.run(plugin, |client, admin| {
                    client.mas_user_by_id(admin, &session.actor_user_id)
                })?;
                names.insert(session.actor_user_id.clone(), user.username);
            }
            let user_id = format!("@{}:{home_server}", names[&session.actor_user_id]);
            rows.push(Value::record(
                personal_session_row(session, Some(&user_id), call.head),
                call.head,
            ));
        }
        Ok(Value::list(rows, call.head))
    }
}
