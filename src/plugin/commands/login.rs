use nu_plugin::{DynamicCompletionCall, EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::engine::ArgType;
use nu_protocol::{
    Category, DynamicSuggestion, Example, IntoPipelineData, LabeledError, PipelineData, Signature,
    Spanned, SyntaxShape, Type,
};

use super::Pipe;
use crate::ids::UserArg;
use crate::plugin::MatrixPlugin;
use crate::plugin::config::{MAX_DEVICE_BYTES, PluginConfig, device_name_or_default};
use crate::plugin::errors::{self, Blame};
use crate::plugin::homeserver::{HomeserverLookup, resolve_homeserver};
use crate::plugin::login_way::{Legacy, Way, legacy_login};
use crate::plugin::oauth::end_session;
use crate::plugin::oauth_login::{self, OAuthOptions, check_device_id};
use crate::plugin::session_store::{save_flag, save_if_asked};
use crate::plugin::sso::{self};
use crate::plugin::token::{TYPE_NAME, session_record, session_type};

/// `matrix login`: password login, returning a session record with a masked token.
pub struct Login;

impl PluginCommand for Login {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        "matrix login"
    }

    fn description(&self) -> &str {
        "Log in to a Matrix homeserver (password, single sign-on, login token or OAuth 2.0) and get a session with a masked token."
    }

    fn extra_description(&self) -> &str {
        "The password comes from the pipeline (a string), else from --password, else from a \
         hidden prompt on the terminal. One trailing newline of a piped password is dropped. \
         A literal --password lands in your shell history: prefer `--password (input -s)`.\n\n\
         With --sso the browser signs in instead: the plugin listens on 127.0.0.1 on a free \
         port, opens the homeserver's single sign-on page (or prints its URL with --no-browser \
         or without a graphical session), and waits for the browser to come back with a login \
         token (Ctrl-C stops the wait). The browser must run on this machine. The user ID (or \
         --homeserver) only says where to sign in; if it names a user, signing in as another \
         is refused and that new session logged out again.\n\n\
         With --login-token, or a record of `matrix token login-token` on the pipeline, a \
         single-use login token logs in.\n\n\
         With --oauth, on a homeserver whose accounts an OAuth 2.0 server runs (such as \
         matrix-authentication-service), the plugin prints an address and a code: open the \
         address on any device, enter the code, sign in and approve. The session gets its own \
         device (or --device-id's, at least 10 characters), a refresh token (OAuth access tokens \
         are short-lived and are refreshed automatically), and `matrix logout` revokes it. With \
         --oauth-browser (or --oauth on a server without the device code), a browser on this \
         machine signs in instead and comes back to a listener on 127.0.0.1. Without a password \
         or another way given, a server that speaks OAuth 2.0 gets OAuth 2.0; with a password, \
         the password login is used.\n\n\
         The record's access_token displays masked; commands of this plugin receive the real \
         token, and `matrix token reveal` shows it."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_types(vec![
                (Type::Nothing, session_type()),
                (Type::String, session_type()),
                // A login token: the record of `matrix token login-token`, or its token.
                (Type::record(), session_type()),
                (Type::Custom(TYPE_NAME.into()), session_type()),
            ])
            .optional(
                "user",
                SyntaxShape::String,
                "The user: @bot:example.org, or a user name such as bot with --homeserver.",
            )
            .named(
                "homeserver",
                SyntaxShape::String,
                "Base URL of the homeserver, e.g. https://matrix.example.org (default: https:// and the user ID's server name).",
                Some('H'),
            )
            .named(
                "password",
                SyntaxShape::String,
                "The password. A literal lands in your history: use --password (input -s).",
                Some('p'),
            )
            .named(
                "device-id",
                SyntaxShape::String,
                "Log in as this device (reused if it exists) instead of a new one.",
                Some('d'),
            )
            .named(
                "device-name",
                SyntaxShape::String,
                "Display name for a new device (default: $env.config.plugins.matrix.device_name, else 'nu_plugin_matrix on <host name>').",
                None,
            )
            .switch(
                "refresh",
                "Ask for a refresh token; the access token then expires and is renewed.",
                Some('r'),
            )
            .switch(
                "sso",
                "Single sign-on: sign in in the browser instead of giving a password.",
                None,
            )
            .named(
                "idp",
                SyntaxShape::String,
                "With --sso: go straight to this identity provider (an ID from `matrix flows`).",
                None,
            )
            .switch(
                "no-browser",
                "With --sso, --oauth, --oauth-browser, or OAuth 2.0 chosen for the server: only print the sign-in URL, do not open a browser.",
                None,
            )
            .switch(
                "oauth",
                "OAuth 2.0 (servers run by matrix-authentication-service): approve the sign-in on any device with a code.",
                None,
            )
            .switch(
                "oauth-browser",
                "OAuth 2.0 in a browser on this machine (authorization code with PKCE) instead of the device code.",
                None,
            )
            .switch(
                "admin",
                "With --oauth or --oauth-browser: also ask for MAS's admin scope (urn:mas:admin), for `matrix admin` commands.",
                None,
            )
            .named(
                "oauth-timeout",
                SyntaxShape::Duration,
                "With --oauth or --oauth-browser: how long to wait (default: until the device code expires; 5min in the browser).",
                None,
            )
            .named(
                "sso-timeout",
                SyntaxShape::Duration,
                "With --sso: how long to wait for the browser (default: 5min).",
                None,
            )
            .named(
                "login-token",
                SyntaxShape::String,
                "Log in with a single-use login token (from `matrix token login-token` or a single sign-on) instead of a password.",
                None,
            )
            .category(Category::Network)
            .pipe(super::with_save)
            .pipe(super::with_timeout)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec![
            "access token",
            "sign in",
            "password",
            "bot",
            "sso",
            "oidc",
            "oauth",
            "device code",
            "browser",
        ]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: r#"input -s "Password: " | matrix login @bot:example.org --homeserver https://matrix.example.org"#,
                description: "Log in, typing the password hidden; the token displays masked",
                result: None,
            },
            Example {
                example: "matrix login bot -H https://matrix.example.org --password (input -s) --device-id BOT1 --device-name 'ops bot'",
                description: "Log in by user name as a chosen device",
                result: None,
            },
            Example {
                example: "input -s | matrix login @bot:example.org --refresh --save bot",
                description: "Log in with a refresh token and save the session as 'bot'; later commands use it when given no session",
                result: None,
            },
            Example {
                example: "matrix login @me:example.org --sso --save me",
                description: "Single sign-on: sign in in the browser, and save the session",
                result: None,
            },
            Example {
                example: "matrix login --sso --no-browser --idp oidc-keycloak -H https://matrix.example.org",
                description: "Print the sign-in URL (to open in a browser on this machine) for one identity provider",
                result: None,
            },
            Example {
                example: "matrix login @me:example.org --oauth --save me",
                description: "OAuth 2.0 (matrix-authentication-service): approve the sign-in on any device with the code shown",
                result: None,
            },
            Example {
                example: "matrix login @me:example.org --oauth-browser",
                description: "OAuth 2.0 in the browser on this machine, which comes back to the plugin",
                result: None,
            },
            Example {
                example: "matrix login --login-token (input -s) -H https://matrix.example.org",
                description: "Log in with a login token made on another machine by `matrix token login-token`",
                result: None,
            },
            Example {
                example: "let s = (matrix login @bot:example.org); $s.access_token | matrix token reveal",
                description: "Log in, asking for the password on the terminal, then show the real token",
                result: None,
            },
        ]
    }

    /// Completes `--idp` with the identity providers of the homeserver the command line names
    /// (`--homeserver`, else the user ID's server, else the configured one), asked with a short
    /// time-out. Nothing is offered when that fails.
    #[allow(deprecated)] // Nushell marks plugin completions experimental
    fn get_dynamic_completion(
        &self,
        plugin: &MatrixPlugin,
        engine: &EngineInterface,
        call: DynamicCompletionCall,
        arg_type: ArgType,
        _experimental: nu_protocol::engine::ExperimentalMarker,
    ) -> Option<Vec<DynamicSuggestion>> {
        if !matches!(&arg_type, ArgType::Flag(name) if name == "idp") {
            return None;
        }
        sso::identity_providers(plugin, engine, &call)
    }

    fn run(
        &self,
        plugin: &MatrixPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        input: PipelineData,
    ) -> Result<PipelineData, LabeledError> {
        let user: Option<Spanned<String>> = call.opt(0)?;
        let homeserver: Option<Spanned<String>> = call.get_flag("homeserver")?;
        let device_id: Option<Spanned<String>> = call.get_flag("device-id")?;
        let device_name: Option<Spanned<String>> = call.get_flag("device-name")?;
        let refresh = call.has_flag("refresh")?;
        let save = save_flag(plugin, engine, call)?;
        let way = Way::of(call, input)?;

        if user.is_none() && matches!(way, Way::Password { .. }) {
            return Err(LabeledError::new("Which user should log in?")
                .with_label("no user given", call.head)
                .with_help(
                    "name the user: `matrix login @bot:example.org` (or sign in in the \
                     browser: `matrix login @me:example.org --sso`)",
                ));
        }
        let user_arg = user
            .as_ref()
            .map(|user| UserArg::parse(&user.item).map_err(|err| errors::input(err, user.span)))
            .transpose()?;
        let config = PluginConfig::for_call(engine, call)?;
        let (base_url, homeserver_span, discovered) = match (&way, &homeserver) {
            (
                Way::Token {
                    from: Some(url), ..
                },
                None,
            ) => (url.clone(), call.head, false),
            (Way::Token { from: Some(_), .. }, Some(flag)) => {
                return Err(LabeledError::new("The homeserver was given twice")
                    .with_label("the piped login token has its homeserver", flag.span)
                    .with_help("drop --homeserver: a login token only works where it was made"));
            }
            _ => resolve_homeserver(&HomeserverLookup {
                plugin,
                engine,
                call,
                config: &config,
                flag: homeserver.as_ref(),
                user: user_arg.as_ref().zip(user.as_ref()),
                command: self.name(),
            })?,
        };
        if let (Way::OAuth(_), Some(id)) = (&way, &device_id) {
            check_device_id(id)?;
        }
        let device_id = device_id
            .map(|id| checked_device_text(id, "device ID"))
            .transpose()?;
        let fresh_device = device_id.is_none();
        let device_name = device_name_or_default(
            &config,
            device_name
                .map(|name| checked_device_text(name, "device name"))
                .transpose()?,
        );
        let blame = Blame {
            head: call.head,
            homeserver: homeserver_span,
            homeserver_guessed: discovered,
            user: user.as_ref().map_or(call.head, |user| user.span),
            user_text: user
                .as_ref()
                .map_or_else(|| base_url.clone(), |user| user.item.clone()),
        };
        let interrupt = plugin.interrupt_of(engine);
        let client = plugin
            .client(&base_url, &config.client, interrupt.clone())
            .map_err(|err| errors::request(err, &blame))?;

        // No password given: on a server that logs in with OAuth 2.0, that is the way (with the
        // device code where offered, else in the browser), instead of asking for a password.
        let way = match way {
            unasked @ Way::Password {
                piped: None,
                flag: None,
            } => match client.auth_metadata() {
                Ok(Some(metadata)) => Way::OAuth(OAuthOptions::chosen(call, metadata)?),
                _ => unasked,
            },
            way => way,
        };
        let token_login = !matches!(way, Way::Password { .. });
        let session = match way {
            Way::OAuth(options) => {
                let session = oauth_login::sign_in(
                    plugin,
                    &client,
                    config.oauth_client_uri.as_deref(),
                    device_id.as_deref(),
                    options,
                    &interrupt,
                    &blame,
                )?;
                // The grant names no device: a fresh one gets its name now. (A name is no
                // reason to fail a login that worked.)
                if fresh_device {
                    let _ = client.rename_device(
                        &session.access_token,
                        &session.device_id,
                        &device_name,
                    );
                }
                session
            }
            way => {
                let legacy = Legacy {
                    client: &client,
                    engine,
                    call,
                    user: user.as_ref().zip(user_arg.as_ref()),
                    interrupt: &interrupt,
                    blame: &blame,
                };
                legacy_login(&legacy, way, refresh, device_id, Some(device_name))?
            }
        };
        if token_login
            && let (Some(expected), Some(user)) = (&user_arg, &user)
            && !expected.is(&session.user_id)
        {
            // Signed in as someone else (say, the browser's account instead of the bot's):
            // do not keep a session nobody asked for.
            let cleanup = end_session(&client, &session);
            return Err(LabeledError::new(format!(
                "Signed in as {}, not {}",
                session.user_id, user.item
            ))
            .with_label("a different user signed in", user.span)
            .with_help(format!(
                "{} Sign in as {} (in the browser, log out of the identity provider first), or \
                 drop the user argument to accept whoever signs in",
                if cleanup.is_ok() {
                    "That session was logged out again."
                } else {
                    "Logging that session out failed: delete its device with `matrix devices \
                     delete`."
                },
                user.item
            )));
        }
        let saved_as = save_if_asked(plugin, save, &session)?;
        Ok(session_record(&session, saved_as.as_deref(), call.head).into_pipeline_data())
    }
}

/// A device ID or name as given: not empty, at most [`MAX_DEVICE_BYTES`], no control characters.
fn checked_device_text(text: Spanned<String>, what: &str) -> Result<String, LabeledError> {
    let problem = if text.item.trim().is_empty() {
        Some(format!("the {what} is empty"))
    } else if text.item.len() > MAX_DEVICE_BYTES {
        Some(format!("the {what} is {} bytes long", text.item.len()))
    } else if text.item.chars().any(char::is_control) {
        Some(format!("the {what} contains a control character"))
    } else {
        None
    };
    match problem {
        Some(problem) => Err(LabeledError::new(format!("Invalid {what}"))
            .with_label(problem, text.span)
            .with_help(format!(
                "a {what} is a short line of text, at most {MAX_DEVICE_BYTES} bytes"
            ))),
        None => Ok(text.item),
    }
}
