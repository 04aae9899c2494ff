use std::path::PathBuf;

use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{
    Category, Example, LabeledError, Signature, Span, Spanned, SyntaxShape, Type, Value,
};

use super::Pipe;
use crate::error::{Error, ErrorCode};
use crate::ids::UserArg;
use crate::plugin::MatrixPlugin;

use crate::plugin::config::PluginConfig;
use crate::plugin::errors::{self, Blame};
use crate::plugin::homeserver::{HomeserverLookup, resolve_homeserver};
use crate::plugin::mas_admin::{self, Caller, NewUser};
use crate::plugin::password::{piped_secret, secret_file};
use crate::plugin::session_store::{save_flag, save_if_asked};
use crate::plugin::token::{TokenValue, session_record};
use crate::register::{
    OpenRegistration, Registration, generate_password, shared_secret_from_synapse_config,
};
use crate::secret::Password;

/// `matrix register`: create a user with Synapse's shared registration secret.
pub struct Register;

impl SimplePluginCommand for Register {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(Flag);

    fn name(&self) -> &str {
        "matrix register"
    }

    fn description(&self) -> &str {
        "Create a user (a bot) with Synapse's shared secret, or by open registration, and get its session."
    }

    fn extra_description(&self) -> &str {
        "With Synapse's registration_shared_secret the user is made through the admin API; the \
         secret comes from the pipeline, from --shared-secret-file, or from Synapse's config \
         file (--synapse-config, which may point on to registration_shared_secret_path). \
         Without a secret, open registration is tried (with --registration-token where the \
         server requires one); a server that wants a captcha or e-mail says so. Without --password a strong random password \
         is made; the record's `password` shows as ******** and `matrix token reveal` shows it. \
         Where matrix-authentication-service (MAS) runs the accounts, give an admin session \
         instead (from `matrix login <admin> --oauth --admin`, on the pipeline or with \
         --session): the user is made through MAS's admin API, and its session is a personal \
         token; --admin makes it a MAS admin."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_types(vec![
                (Type::Nothing, Type::record()),
                (Type::String, Type::record()),
                (Type::record(), Type::record()),
                (Type::Custom(crate::plugin::token::TYPE_NAME.into()), Type::record()),
            ])
            .required("user", SyntaxShape::String, "The new user: bot, or @bot:example.org.")
            .named(
                "homeserver",
                SyntaxShape::String,
                "Base URL of the homeserver (default: the configured one, else discovery).",
                Some('H'),
            )
            .named(
                "shared-secret-file",
                SyntaxShape::Filepath,
                "A file holding the registration shared secret.",
                None,
            )
            .named(
                "synapse-config",
                SyntaxShape::Filepath,
                "Synapse's homeserver.yaml, to read the secret from.",
                None,
            )
            .named(
                "password",
                SyntaxShape::String,
                "The new user's password (default: a generated one). A literal lands in your history.",
                Some('p'),
            )
            .switch("admin", "Make the user a server admin (needs the shared secret).", None)
            .named(
                "registration-token",
                SyntaxShape::String,
                "A registration token, for open registration on servers that require one.",
                None,
            )
            .named("display-name", SyntaxShape::String, "The user's display name.", None)
            .named(
                "session",
                SyntaxShape::String,
                "On a server run by MAS: the admin session to create the user with (also from the pipeline).",
                None,
            )
            .category(Category::Network)
            .pipe(super::with_save)
            .pipe(super::with_timeout)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["create user", "new bot", "shared secret", "synapse admin"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "matrix register bot -H https://matrix.example.org --synapse-config /matrix/synapse/config/homeserver.yaml",
                description: "Create @bot with a generated password, reading the secret from Synapse's config",
                result: None,
            },
            Example {
                example: "open --raw secret.txt | matrix register ops-bot -H https://matrix.example.org --admin --save ops",
                description: "Create an admin user with the secret from a file on the pipeline, and save its session",
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
        let user: Spanned<String> = call.req(0)?;
        let by_session = call.get_flag_value("session").is_some()
            || matches!(input, Value::Record { .. } | Value::Custom { .. });
        if by_session {
            return register_with_admin_session(plugin, engine, call, input, &user);
        }
        let homeserver: Option<Spanned<String>> = call.get_flag("homeserver")?;
        let user_arg = UserArg::parse(&user.item).map_err(|err| errors::input(err, user.span))?;
        let username = match &user_arg {
            UserArg::Full(id) => id.localpart().to_owned(),
            UserArg::Localpart(name) => name.clone(),
        };
        let secret = shared_secret(call, input)?;
        let registration_token: Option<Spanned<String>> = call.get_flag("registration-token")?;
        if let (Some(_), Some(token)) = (&secret, &registration_token) {
            return Err(
                LabeledError::new("A shared secret and a registration token")
                    .with_label("a registration token is for open registration", token.span)
                    .with_help("with the shared secret, no registration token is needed"),
            );
        }
        let password = new_password(call)?;
        let save = save_flag(plugin, engine, call)?;
        let config = PluginConfig::for_call(engine, call)?;
        let (base_url, homeserver_span, discovered) = resolve_homeserver(&HomeserverLookup {
            plugin,
            engine,
            call,
            config: &config,
            flag: homeserver.as_ref(),
            user: Some((&user_arg, &user)),
            command: self.name(),
        })?;
        let blame = Blame {
            head: call.head,
            homeserver: homeserver_span,
            homeserver_guessed: discovered,
            user: user.span,
            user_text: user.item.clone(),
        };
        let client = plugin
            .client(&base_url, &config.client, plugin.interrupt_of(engine))
            .map_err(|err| errors::request(err, &blame))?;
        let display_name: Option<String> = call.get_flag("display-name")?;
        let session = match secret {
            Some((secret, secret_span)) => {
                let registration = Registration {
                    username,
                    password: password.clone(),
                    admin: call.has_flag("admin")?,
                    display_name,
                };
                client
                    .register_with_shared_secret(&secret, &registration)
                    .map_err(|err| {
                        mas_instead(&client, &blame)
                            .unwrap_or_else(|| refused(err, &blame, secret_span))
                    })?
            }
            None => {
                if call.has_flag("admin")? {
                    return Err(LabeledError::new("--admin needs the shared secret")
                        .with_label("open registration cannot make admins", call.head)
                        .with_help("give the shared secret: --synapse-config, --shared-secret-file, or the pipeline"));
                }
                let registration = OpenRegistration {
                    username,
                    password: password.clone(),
                    registration_token: registration_token
                        .as_ref()
                        .map(|token| Password::new(token.item.clone())),
                    device_name: display_name,
                };
                let token_span = registration_token.as_ref().map_or(call.head, |t| t.span);
                client.register_open(&registration).map_err(|err| {
                    mas_instead(&client, &blame)
                        .unwrap_or_else(|| refused_open(err, &blame, token_span))
                })?
            }
        };
        let saved_as = save_if_asked(plugin, save, &session)?;
        let mut record = session_record(&session, saved_as.as_deref(), call.head);
        if let Value::Record { val, .. } = &mut record {
            val.to_mut().push(
                "password",
                TokenValue::password(&password, &session).into_value(call.head),
            );
        }
        Ok(record)
    }
}

/// `matrix register` with an admin session: on a server whose accounts MAS runs.
fn register_with_admin_session(
    plugin: &MatrixPlugin,
    engine: &EngineInterface,
    call: &EvaluatedCall,
    input: &Value,
    user: &Spanned<String>,
) -> Result<Value, LabeledError> {
    for flag in [
        "homeserver",
        "shared-secret-file",
        "synapse-config",
        "registration-token",
        "display-name",
    ] {
        if let Some(value) = call.get_flag_value(flag) {
            return Err(
                LabeledError::new(format!("--{flag} does not go with an admin session"))
                    .with_label("not used when MAS creates the user", value.span())
                    .with_help("the admin session names the server; drop this flag"),
            );
        }
    }
    let password = new_password(call)?;
    let save = save_flag(plugin, engine, call)?;
    let mut caller = Caller::resolve(plugin, engine, call, input)?;
    if let Caller::User(active) = &caller
        && active.session.oauth.is_none()
    {
        return Err(LabeledError::new(
            "An admin session registers users only where MAS runs the accounts",
        )
        .with_label("not an OAuth 2.0 session of MAS", caller.blame().user)
        .with_help(
            "on Synapse, register with its shared secret (--synapse-config, \
             --shared-secret-file or the secret on the pipeline); with MAS, log in as its admin \
             with `matrix login <admin> --oauth --admin`",
        ));
    }
    let new = NewUser {
        user,
        password: &password,
        admin: call.has_flag("admin")?,
    };
    let session = mas_admin::register(plugin, &mut caller, &new, call.head)?;
    let saved_as = save_if_asked(plugin, save, &session)?;
    let mut record = session_record(&session, saved_as.as_deref(), call.head);
    if let Value::Record { val, .. } = &mut record {
        val.to_mut().push(
            "password",
            TokenValue::password(&password, &session).into_value(call.head),
        );
    }
    Ok(record)
}

/// When a registration was refused by a homeserver whose accounts MAS runs (asked only then),
/// the error that says how to register there instead.
fn mas_instead(client: &crate::client::Client, blame: &Blame) -> Option<LabeledError> {
    let metadata = client.auth_metadata().ok()??;
    Some(
        LabeledError::new("This homeserver's accounts are run by MAS: register through it")
            .with_label(
                format!("its accounts are at {}", metadata.issuer),
                blame.homeserver,
            )
            .with_help(
                "Synapse's shared secret and open registration do not make users here: log in \
                 as a MAS admin (`matrix login <admin> --oauth --admin --save admin`) and run \
                 `matrix register <user> --session admin`",
            )
            .with_code("matrix::register_on_mas"),
    )
}

/// `--password`, or a generated one.
fn new_password(call: &EvaluatedCall) -> Result<Password, LabeledError> {
    match call.get_flag::<Spanned<String>>("password")? {
        Some(given) if given.item.is_empty() => Err(LabeledError::new("The password is empty")
            .with_label("empty password", given.span)
            .with_help("leave --password out to have a strong one generated")),
        Some(given) => Ok(Password::new(given.item)),
        None => generate_password().map_err(|err| errors::input_of(err, call.head)),
    }
}

/// The shared secret: from the pipeline, `--shared-secret-file`, or `--synapse-config`, exactly
/// one of them. Returns it with the span to blame if it is wrong.
fn shared_secret(
    call: &EvaluatedCall,
    input: &Value,
) -> Result<Option<(Password, Span)>, LabeledError> {
    let file: Option<Spanned<PathBuf>> = call.get_flag("shared-secret-file")?;
    let config: Option<Spanned<PathBuf>> = call.get_flag("synapse-config")?;
    let piped = piped_secret(input);
    let given =
        usize::from(piped.is_some()) + usize::from(file.is_some()) + usize::from(config.is_some());
    if given > 1 {
        return Err(
            LabeledError::new("The shared secret was given more than one way").with_label(
                "give one of: the pipeline, --shared-secret-file, --synapse-config",
                call.head,
            ),
        );
    }
    if let Some(secret) = piped {
        return Ok(Some((Password::new(secret), call.head)));
    }
    if let Some(file) = file {
        let text = secret_file(
            &file,
            "The shared secret file cannot be read",
            "give a file holding registration_shared_secret",
        )?;
        return Ok(Some((Password::new(text), file.span)));
    }
    if let Some(config) = config {
        let secret = shared_secret_from_synapse_config(&config.item)
            .map_err(|err| errors::input(err, config.span))?;
        return Ok(Some((secret, config.span)));
    }
    Ok(None)
}

/// Why the server refused an open registration, in words.
fn refused_open(err: Error, blame: &Blame, token_span: Span) -> LabeledError {
    const SECRET_HELP: &str = "an admin can create the user with Synapse's shared secret: \
        `matrix register <user> --synapse-config homeserver.yaml` (or --shared-secret-file, or \
        the secret on the pipeline)";
    match &err {
        Error::AuthRequired { flows, .. } => {
            let wanted: Vec<String> = flows.iter().map(|flow| flow.join(" + ")).collect();
            let has_token_flow = flows
                .iter()
                .flatten()
                .any(|s| s == "m.login.registration_token");
            LabeledError::new("The homeserver wants more than this command can give to register")
                .with_label(format!("it requires: {}", wanted.join(", or ")), blame.homeserver)
                .with_help(if has_token_flow {
                    format!("pass a registration token: --registration-token <token>; or {SECRET_HELP}")
                } else {
                    format!("register in a browser (Element), which can do captchas and e-mail; or {SECRET_HELP}")
                })
        }
        Error::Matrix(matrix)
            if matrix.status == 403 && matrix.message.to_lowercase().contains("disabled") =>
        {
            LabeledError::new("Registration is closed on this homeserver")
                .with_label("open registration is off", blame.homeserver)
                .with_help(format!("{SECRET_HELP}; the server said: {matrix}"))
        }
        Error::Matrix(matrix) if matrix.status == 401 => {
            LabeledError::new("The registration token was not accepted")
                .with_label("unknown, used up or expired", token_span)
                .with_help(format!(
                    "ask the server's admin for a valid token; the server said: {matrix}"
                ))
        }
        _ => refused(err, blame, blame.head),
    }
}

/// Why the server refused the registration, in words.
fn refused(err: Error, blame: &Blame, secret_span: Span) -> LabeledError {
    let Error::Matrix(matrix) = &err else {
        return errors::request(err, blame);
    };
    let said = format!("the server said: {matrix}");
    match (matrix.status, &matrix.errcode) {
        (_, ErrorCode::UserInUse) => {
            LabeledError::new(format!("The user name {} is taken", blame.user_text))
                .with_label("already registered", blame.user)
                .with_help(format!("pick another name, or log in as this user; {said}"))
        }
        (_, ErrorCode::InvalidUsername | ErrorCode::Exclusive) => {
            LabeledError::new("The homeserver refuses this user name")
                .with_label(matrix.errcode.to_string(), blame.user)
                .with_help(said)
        }
        (403, _) => LabeledError::new("The shared secret is wrong")
            .with_label("not this server's registration_shared_secret", secret_span)
            .with_help(format!("check the secret in homeserver.yaml; {said}")),
        (404, _) => LabeledError::new("This homeserver has no shared-secret registration here")
            .with_label("no /_synapse/admin/v1/register", blame.homeserver)
            .with_help(format!(
                "the Synapse admin API may not be exposed by the reverse proxy, or the server is \
                 not Synapse; with matrix-authentication-service use `mas-cli manage \
                 register-user`; {said}"
            )),
        (400, _) if matrix.message.contains("not enabled") => {
            LabeledError::new("Shared-secret registration is off on this server")
                .with_label("disabled", blame.homeserver)
                .with_help(format!(
                    "set registration_shared_secret in homeserver.yaml; {said}"
                ))
        }
        _ => errors::request(err, blame),
    }
}
