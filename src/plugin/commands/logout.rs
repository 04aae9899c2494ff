use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Record, Signature, Type, Value};

use super::with_session;
use crate::oauth::ACTION_DEVICES_LIST;
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, Failure, failure};
use crate::plugin::errors;
use crate::plugin::oauth::{Instead, not_revoked, oauth_instead, revoke_session};
use crate::plugin::session_store::forget;
use crate::store::Secrets;

/// `matrix logout`: revoke a session's token (and its device), or every token of the user.
pub struct Logout;

impl SimplePluginCommand for Logout {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(Flag);

    fn name(&self) -> &str {
        "matrix logout"
    }

    fn description(&self) -> &str {
        "Revoke a session's token and delete its device; with --all, every token of the user."
    }

    fn extra_description(&self) -> &str {
        "A logged-out token stops working at once, everywhere it was copied to: a bot using it \
         goes offline. Saved sessions whose token was revoked are removed from the store, and \
         the crypto stores of the devices that ended (their end-to-end encryption keys) are \
         deleted."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), Type::record())
            .switch(
                "all",
                "Revoke every token of the user, on every device.",
                None,
            )
            .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["revoke", "sign out", "invalidate"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "matrix logout --session old-bot",
                description: "Revoke the token of the saved session 'old-bot'",
                result: None,
            },
            Example {
                example: "matrix logout --all",
                description: "Revoke every token of the default session's user",
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
        let all = call.has_flag("all")?;
        let mut active = Active::resolve(plugin, engine, call, input)?;
        let blame = active.blame();
        let instead = Instead {
            what: "Signing out every session",
            action: Some(ACTION_DEVICES_LIST),
            otherwise: "sign the sessions out in a client that logs in with OAuth 2.0",
            device_id: None,
            span: call.head,
        };
        let ended = match &active.session.oauth {
            // An OAuth 2.0 session ends by revoking its tokens at its server, which needs no
            // valid access token (nor a refresh first).
            Some(oauth) if !all => match active.client(plugin) {
                Ok(client) => revoke_session(&client, &active.session, oauth)
                    .map_err(|failed| not_revoked(&active.session, &failed, call.head)),
                Err(err) => Err(failure(Failure::from(err), &blame)),
            },
            _ => if all {
                active.run(plugin, |client, token| client.logout_all(token))
            } else {
                active.run(plugin, |client, token| client.logout(token))
            }
            .map_err(|err| {
                all.then(|| oauth_instead(plugin, &active, &err, instead))
                    .flatten()
                    .unwrap_or_else(|| failure(err, &blame))
            }),
        };
        ended?;

        let gone = &active.session;
        // The devices that end with the token: this one, and with --all the user's others
        // that saved sessions name; their crypto stores go with them.
        let mut devices = vec![gone.device_id.clone()];
        if all && let Ok(saved) = plugin.store().and_then(|store| store.load()) {
            devices.extend(
                saved
                    .sessions
                    .values()
                    .filter(|s| s.user_id == gone.user_id && s.homeserver == gone.homeserver)
                    .map(|s| s.device_id.clone()),
            );
        }
        for device_id in devices.iter().filter(|id| !id.is_empty()) {
            plugin.drop_store(&gone.homeserver, gone.user_id.as_str(), device_id);
        }
        let removed = forget(plugin, |s| {
            let same_user = s.user_id == gone.user_id && s.homeserver == gone.homeserver;
            let same_device =
                same_user && !gone.device_id.is_empty() && s.device_id == gone.device_id;
            // A device-less token kept in the file is recognised by the token itself.
            let same_token = matches!(&s.secrets,
                Secrets::File(tokens) if tokens.access_token == gone.access_token);
            (all && same_user) || same_device || same_token
        })
        .map_err(|err| errors::store(err, call.head))?;
        let span = call.head;
        let session = &active.session;
        let revoked = if all {
            format!("every token of {}, on every device", session.user_id)
        } else {
            format!(
                "the token of {} and its device {}",
                session.user_id, session.device_id
            )
        };
        let mut record = Record::new();
        record.push("user_id", Value::string(session.user_id.as_str(), span));
        record.push(
            "device_id",
            if all {
                Value::nothing(span)
            } else {
                Value::string(&session.device_id, span)
            },
        );
        record.push("revoked", Value::string(revoked, span));
        record.push(
            "removed_sessions",
            Value::list(
                removed
                    .into_iter()
                    .map(|name| Value::string(name, span))
                    .collect(),
                span,
            ),
        );
        Ok(Value::record(record, span))
    }
}
