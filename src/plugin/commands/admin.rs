use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Signature, Spanned, SyntaxShape, Value};

use super::with_session;
use crate::error::{Error, ErrorCode};
use crate::ids::UserId;
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Failure, failure};
use crate::plugin::errors;
use crate::plugin::mas_admin::default_name;
use crate::plugin::mas_admin::{Caller, TokenRequest, issue, valid_for};
use crate::plugin::token::{session_record, session_type};

/// `matrix admin login-as <user>`: a token for another user, from an admin session.
pub struct AdminLoginAs;

impl SimplePluginCommand for AdminLoginAs {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(Flag);

    fn name(&self) -> &str {
        "matrix admin login-as"
    }

    fn description(&self) -> &str {
        "Get a token for another user, without their password, from a server admin's session."
    }

    fn extra_description(&self) -> &str {
        "On Synapse, uses its admin API (POST /_synapse/admin/v1/users/<user>/login): the token \
         belongs to no device, so it does not show in the user's session list. With an OAuth 2.0 \
         admin session of a server run by matrix-authentication-service (MAS; `matrix login \
         <admin> --oauth --admin`), asks MAS's admin API for a personal token instead, as \
         `matrix admin token` does. --valid-for limits how long it works."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), session_type())
            .required(
                "user",
                SyntaxShape::String,
                "The user to act as: @bot:example.org.",
            )
            .named(
                "valid-for",
                SyntaxShape::Duration,
                "How long the token works (default: until it is logged out).",
                None,
            )
            .category(Category::Network)
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "matrix admin login-as @bot:example.org --valid-for 1hr --session admin",
            description: "A one-hour token for @bot, from the saved admin session",
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
        let valid_for = valid_for(call)?;
        // An admin client, or an OAuth 2.0 session: the server's accounts are run by MAS, which
        // issues a personal token. Any other session: Synapse's admin API.
        let mut active = match Caller::resolve(plugin, engine, call, input)? {
            Caller::User(active) if active.session.oauth.is_none() => active,
            mut caller => {
                let request = TokenRequest {
                    name: format!("login-as, {}", default_name()),
                    valid_for,
                    scope: None,
                };
                return issue(plugin, &mut caller, &user, request, call.head);
            }
        };
        let user_id = UserId::parse(&user.item).map_err(|err| errors::input(err, user.span))?;
        let blame = active.blame();
        let admin = active.session.user_id.clone();
        let session = active
            .run(plugin, |client, token| {
                client.admin_login_as(token, &user_id, valid_for)
            })
            .map_err(|err| match err {
                Failure::Request(Error::Matrix(err)) if err.status == 403 => {
                    LabeledError::new(format!("{admin} is not a server admin"))
                        .with_label("not an admin session", blame.user)
                        .with_help(format!(
                            "use the session of a server admin (`matrix register --admin`, or \
                             `register_new_matrix_user --admin`); the server said: {err}"
                        ))
                }
                Failure::Request(Error::Matrix(err)) if err.errcode == ErrorCode::NotFound => {
                    LabeledError::new(format!("No user {} on this homeserver", user.item))
                        .with_label("unknown user", user.span)
                        .with_help(format!("the server said: {err}"))
                }
                Failure::Request(Error::Matrix(err)) if err.status == 404 => {
                    LabeledError::new("This homeserver has no Synapse admin API here")
                        .with_label("no /_synapse/admin/v1/users/<user>/login", blame.head)
                        .with_help(format!(
                            "under matrix-authentication-service use `mas-cli manage \
                             issue-compatibility-token {}` and `matrix token import`; the server \
                             said: {err}",
                            user.item
                        ))
                }
                other => failure(other, &blame),
            })?;
        Ok(session_record(&session, None, call.head))
    }
}
