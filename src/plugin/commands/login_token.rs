use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{
    Category, Example, IntoPipelineData, LabeledError, PipelineData, Record, Signature,
    SyntaxShape, Type, Value,
};

use super::with_session;
use crate::error::{Error, ErrorCode};
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, Failure, failure};
use crate::plugin::oauth::{Instead, oauth_instead};
use crate::plugin::password::{given_password, prompt, session_or_password};
use crate::plugin::token::{TokenValue, date_or_nothing};
use crate::secret::Password;
use crate::uia::password_completes;

/// `matrix token login-token`: a single-use login token from an existing session.
pub struct TokenLoginToken;

impl PluginCommand for TokenLoginToken {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(Flag);

    fn name(&self) -> &str {
        "matrix token login-token"
    }

    fn description(&self) -> &str {
        "Get a single-use login token from a session, to log in elsewhere without the password."
    }

    fn extra_description(&self) -> &str {
        "The homeserver (POST /_matrix/client/v1/login/get_token) usually asks to confirm with \
         the account's password first: it comes from the pipeline as a string (then the \
         session comes from --session or the default), from --password, or from a hidden \
         prompt, and is only asked for when the server wants it. The token works once, for a \
         few minutes (Synapse: 5), and displays masked: pipe the record into `matrix login` to \
         get a new session here, or reveal it (`matrix token reveal`) to type it on another \
         machine with `matrix login --login-token (input -s)`. Synapse hands these out only \
         with `login_via_existing_session.enabled: true`."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), Type::record())
            .named(
                "password",
                SyntaxShape::String,
                "The account's password, if the server asks. A literal lands in your history: use --password (input -s).",
                Some('p'),
            )
            .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["get_token", "second device", "qr", "without password"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "matrix token login-token --session me | get login_token | matrix token reveal",
                description: "A login token to type on another machine (asks for the password if the server wants it)",
                result: None,
            },
            Example {
                example: "matrix token login-token | matrix login --device-name 'backup job'",
                description: "A second session (a new device) of the default session's user, without typing the password at login",
                result: None,
            },
        ]
    }

    fn run(
        &self,
        plugin: &MatrixPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        input: PipelineData,
    ) -> Result<PipelineData, LabeledError> {
        let (session_input, piped) = session_or_password(input, call.head)?;
        let given = given_password(piped, call.get_flag("password")?)?;
        let mut active = Active::resolve(plugin, engine, call, &session_input)?;
        let blame = active.blame();
        let user_id = active.session.user_id.clone();
        let ask = |active: &mut Active, password: Option<&Password>| {
            active.run(plugin, |client, token| {
                client.login_token(token, &user_id, password)
            })
        };
        let answer = match ask(&mut active, given.as_ref()) {
            // The server wants the password and none was given: ask for it, then try again.
            Err(Failure::Request(Error::AuthRequired { flows, .. }))
                if given.is_none() && password_completes(&flows) =>
            {
                let password = prompt(engine, call, "matrix token login-token", user_id.as_str())?;
                ask(&mut active, Some(&password))
            }
            other => other,
        };
        let login_token = answer.map_err(|err| match err {
            Failure::Request(Error::Matrix(err)) if err.errcode == ErrorCode::Unrecognized => {
                LabeledError::new("This homeserver does not hand out login tokens")
                    .with_label("login/get_token is not offered", call.head)
                    .with_help(
                        "its admin can turn it on (Synapse: `login_via_existing_session: \
                         {enabled: true}` in homeserver.yaml); meanwhile log in on the other \
                         machine with the password or single sign-on (`matrix login --sso`)",
                    )
                    .with_code("matrix::M_UNRECOGNIZED")
            }
            Failure::Request(Error::Matrix(err)) if err.errcode == ErrorCode::Forbidden => {
                LabeledError::new("Wrong password: no login token was made")
                    .with_label("the password did not confirm this", call.head)
                    .with_help(format!("the server said: {err}"))
            }
            other => {
                let instead = Instead {
                    what: "Making a login token",
                    action: None,
                    otherwise: "log in on the other machine itself: with the password (the \
                        server's compatibility layer takes it), or with a token an admin \
                        issues by `mas-cli manage issue-compatibility-token <user>`, wrapped \
                        by `matrix token import`",
                    device_id: None,
                    span: call.head,
                };
                oauth_instead(plugin, &active, &other, instead)
                    .unwrap_or_else(|| failure(other, &blame))
            }
        })?;
        let span = call.head;
        let session = &active.session;
        let mut record = Record::new();
        record.push("user_id", Value::string(session.user_id.as_str(), span));
        record.push("homeserver", Value::string(&session.homeserver, span));
        record.push(
            "login_token",
            TokenValue::login_token(login_token.token, login_token.expires_at, session)
                .into_value(span),
        );
        record.push("expires_at", date_or_nothing(login_token.expires_at, span));
        Ok(Value::record(record, span).into_pipeline_data())
    }
}
