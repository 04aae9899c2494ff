//! MAS's admin API as the `matrix admin` commands use it: the admin session it takes, the user
//! argument on that server, and a personal token as a session record.

use std::time::{Duration, SystemTime};

use nu_plugin::{EngineInterface, EvaluatedCall};
use nu_protocol::{LabeledError, Record, Span, Spanned, Value};

use crate::client::Client;
use crate::error::Error;
use crate::ids::{UserArg, UserId};
use crate::mas_admin::{ADMIN_SCOPE, MasAdmin, MasUser, NewPersonalSession, PersonalSession};
use crate::oauth::new_device_id;
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, failure};
use crate::plugin::config::{PluginConfig, duration};
use crate::plugin::errors::{self, ADMIN_LOGIN, Blame};
use crate::plugin::token::{TokenKind, TokenValue, session_record, text_or_nothing};
use crate::secret::{AccessToken, Password};
use crate::session::Session;
use crate::store::expired;

/// Who calls MAS's admin API: a user's OAuth 2.0 session with the admin scope, or an admin
/// client (its token from the pipeline, or a fresh one for the saved client).
pub(crate) enum Caller {
    User(Active),
    Client(ClientCaller),
}

/// An admin client calling: its token, and where.
pub(crate) struct ClientCaller {
    client: Client,
    issuer: String,
    token: AccessToken,
    home_server: String,
    homeserver: String,
    blame: Blame,
}

impl Caller {
    /// The caller of a `matrix admin` command: an admin client's token on the pipeline, a saved
    /// admin client named by `--session` (or the default), else a user's session as every
    /// command takes it.
    pub(crate) fn resolve(
        plugin: &MatrixPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        input: &Value,
    ) -> Result<Self, LabeledError> {
        // The settings are read only on the admin client's paths: a user's session reads them
        // in `Active::resolve`.
        let client_of = |homeserver: &str| {
            let config = PluginConfig::for_call(engine, call)?;
            plugin
                .client(homeserver, &config.client, plugin.interrupt_of(engine))
                .map_err(|err| errors::request(err, &Blame::session(call.head, call.head, "")))
        };
        if let Some(token) = admin_token_in(input) {
            let of = token
                .admin_client_of()
                .expect("an admin client's token says whose");
            let blame = Blame::session(call.head, input.span(), &of.client_id);
            if expired(token.expires_at(), Duration::ZERO) {
                return Err(LabeledError::new("This admin token has expired")
                    .with_label("expired", input.span())
                    .with_help(
                        "admin tokens last minutes: save the admin client (`matrix admin \
                         session ... --save <name>`) and use --session <name>, which gets a \
                         fresh one each time",
                    ));
            }
            return Ok(Self::Client(ClientCaller {
                client: client_of(token.homeserver())?,
                issuer: of.issuer.clone(),
                token: token.token().clone(),
                home_server: of.home_server.clone(),
                homeserver: token.homeserver().to_owned(),
                blame,
            }));
        }
        if matches!(input, Value::Nothing { .. }) {
            let by_name: Option<Spanned<String>> = call.get_flag("session")?;
            let saved = plugin
                .store()
                .and_then(|store| store.load())
                .map_err(|err| errors::store(err, call.head))?;
            let (name, span) = match (&by_name, &saved.default) {
                (Some(flag), _) => (Some(flag.item.clone()), flag.span),
                (None, default) => (default.clone(), call.head),
            };
            let admin = name.and_then(|name| {
                let admin = saved.admin_clients.get(&name).cloned()?;
                Some((name, admin))
            });
            if let Some((name, admin)) = admin {
                let blame = Blame::session(call.head, span, &admin.client_id);
                let secret = plugin
                    .store()
                    .and_then(|store| store.open_admin_client(&name, &admin))
                    .map_err(|err| errors::store(err, span))?;
                let client = client_of(&admin.homeserver)?;
                let tokens = client
                    .client_credentials_at(
                        &admin.token_endpoint,
                        &admin.client_id,
                        &secret,
                        ADMIN_SCOPE,
                    )
                    .map_err(|err| refused_client(err, &blame))?;
                return Ok(Self::Client(ClientCaller {
                    client,
                    issuer: admin.issuer,
                    token: tokens.access_token,
                    home_server: admin.home_server,
                    homeserver: admin.homeserver,
                    blame,
                }));
            }
        }
        Active::resolve(plugin, engine, call, input).map(Self::User)
    }

    /// The server name of the users administered.
    pub(crate) fn home_server(&self) -> &str {
        match self {
            Self::User(active) => &active.session.home_server,
            Self::Client(caller) => &caller.home_server,
        }
    }

    /// The homeserver's base URL.
    pub(crate) fn homeserver(&self) -> &str {
        match self {
            Self::User(active) => &active.session.homeserver,
            Self::Client(caller) => &caller.homeserver,
        }
    }

    /// Where errors about the caller point.
    pub(crate) fn blame(&self) -> Blame {
        match self {
            Self::User(active) => active.blame(),
            Self::Client(caller) => caller.blame.clone(),
        }
    }

    /// Runs `op` with the admin API of the caller's MAS (a user's expired token refreshed
    /// first). A user's session that is not an OAuth 2.0 one is refused before anything is sent.
    pub(crate) fn run<T>(
        &mut self,
        plugin: &MatrixPlugin,
        op: impl Fn(&Client, &MasAdmin) -> Result<T, Error>,
    ) -> Result<T, LabeledError> {
        let blame = self.blame();
        match self {
            Self::Client(caller) => MasAdmin::for_issuer(&caller.issuer, caller.token.clone())
                .and_then(|admin| op(&caller.client, &admin))
                .map_err(|err| errors::request(err, &blame)),
            Self::User(active) => {
                let Some(issuer) = active
                    .session
                    .oauth
                    .as_ref()
                    .map(|oauth| oauth.issuer.clone())
                else {
                    return Err(LabeledError::new(
                        "This session cannot use MAS's admin API: it is no OAuth 2.0 session",
                    )
                    .with_label("not an OAuth 2.0 session", blame.user)
                    .with_help(format!(
                        "a password login on MAS gives a compatibility token, which the admin \
                         API refuses; {ADMIN_LOGIN}"
                    )));
                };
                active
                    .run(plugin, |client, token| {
                        op(client, &MasAdmin::for_issuer(&issuer, token.clone())?)
                    })
                    .map_err(|err| failure(err, &blame))
            }
        }
    }
}

/// An admin client's token on the pipeline: the value, or the `access_token` of its record.
fn admin_token_in(input: &Value) -> Option<&TokenValue> {
    let value = match input {
        Value::Record { val, .. } => val.get("access_token")?,
        other => other,
    };
    TokenValue::from_value(value).filter(|token| token.kind() == TokenKind::AdminClient)
}

/// Why MAS refused an admin client its token, in words.
pub(crate) fn refused_client(err: Error, blame: &Blame) -> LabeledError {
    match err {
        Error::OAuth(err) if err.error == "invalid_client" => {
            LabeledError::new("MAS does not know this client, or the secret is wrong")
                .with_label("client refused", blame.user)
                .with_help(format!(
                    "check the client_id and secret against `clients:` in MAS's configuration \
                     (`client_auth_method: client_secret_basic`); MAS said: {err}"
                ))
                .with_code("matrix::oauth::invalid_client")
        }
        Error::OAuth(err) => LabeledError::new("This client may not get an admin token")
            .with_label("not an admin client", blame.user)
            .with_help(format!(
                "MAS gives urn:mas:admin to the clients its policy lists in \
                 `policy.data.admin_clients`; MAS said: {err}"
            ))
            .with_code(format!("matrix::oauth::{}", err.error)),
        other => errors::request(other, blame),
    }
}

/// The user name of `user` (`@bot:example.org` or `bot`) on the session's server.
pub(crate) fn username_on(
    user: &Spanned<String>,
    home_server: &str,
) -> Result<String, LabeledError> {
    let parsed = UserArg::parse(&user.item).map_err(|err| errors::input(err, user.span))?;
    match &parsed {
        UserArg::Full(id) if id.server_name() != home_server => Err(LabeledError::new(format!(
            "{} is not a user of {home_server}",
            user.item
        ))
        .with_label("another server's user", user.span)
        .with_help(format!(
            "this MAS runs the accounts of {home_server}: name a user of it, e.g. @bot:{home_server}"
        ))),
        UserArg::Full(id) => Ok(id.localpart().to_owned()),
        UserArg::Localpart(name) => Ok(name.clone()),
    }
}

/// The user of that name on MAS, or an error pointing at the argument.
pub(crate) fn existing_user(
    found: Option<MasUser>,
    user: &Spanned<String>,
    home_server: &str,
) -> Result<MasUser, LabeledError> {
    found.ok_or_else(|| {
        LabeledError::new(format!("No user {} on this MAS", user.item))
            .with_label("unknown user", user.span)
            .with_help(format!(
                "`matrix register <user> --session <admin>` creates it; the accounts of {} are \
                 run by its MAS",
                home_server
            ))
    })
}

/// `--valid-for`: a positive duration, or none.
pub(crate) fn valid_for(call: &EvaluatedCall) -> Result<Option<Duration>, LabeledError> {
    call.get_flag_value("valid-for")
        .map(|value| {
            duration(&value).ok_or_else(|| {
                LabeledError::new("Invalid --valid-for")
                    .with_label("not a positive duration", value.span())
                    .with_help("give a positive duration such as 1hr")
            })
        })
        .transpose()
}

/// What `matrix admin token` and `login-as` ask of a personal token.
pub(crate) struct TokenRequest {
    pub(crate) name: String,
    pub(crate) valid_for: Option<Duration>,
    /// The scopes, when not the client API with a fresh device.
    pub(crate) scope: Option<String>,
}

/// Issues a personal token for `user` and returns it as a session record (with the personal
/// session's `personal_session_id`, which `matrix admin revoke` takes).
pub(crate) fn issue(
    plugin: &MatrixPlugin,
    caller: &mut Caller,
    user: &Spanned<String>,
    request: TokenRequest,
    span: Span,
) -> Result<Value, LabeledError> {
    let username = username_on(user, caller.home_server())?;
    let device_id = new_device_id().map_err(|err| errors::request(err, &caller.blame()))?;
    let found = caller.run(plugin, |client, admin| client.mas_user(admin, &username))?;
    let target = existing_user(found, user, caller.home_server())?;
    let mut new = NewPersonalSession::for_client_api(&target.id, &request.name, &device_id);
    if let Some(scope) = request.scope {
        new.scope = scope;
    }
    new.expires_in = request.valid_for.map(|valid| valid.as_secs().max(1));
    let issued = caller.run(plugin, |client, admin| client.mas_issue_token(admin, &new))?;
    let Some(token) = issued.access_token else {
        return Err(
            LabeledError::new("MAS made the personal session but sent no token")
                .with_label("no access_token in the answer", span)
                .with_help(format!(
                    "revoke it (`matrix admin revoke {}`) and try again",
                    issued.id
                )),
        );
    };
    // The device is the one the scope names; a scope without one leaves it to the server.
    let device_id = issued
        .scope
        .split(' ')
        .find_map(|scope| scope.strip_prefix("urn:matrix:client:device:"))
        .unwrap_or_default()
        .to_owned();
    let user_id = UserId::parse(&format!("@{username}:{}", caller.home_server()))
        .map_err(|err| errors::input(err, user.span))?;
    let session = Session {
        user_id,
        device_id,
        home_server: caller.home_server().to_owned(),
        homeserver: caller.homeserver().to_owned(),
        access_token: token,
        refresh_token: None,
        expires_at: request.valid_for.map(|valid| SystemTime::now() + valid),
        oauth: None,
    };
    let mut record = session_record(&session, None, span);
    if let Value::Record { val, .. } = &mut record {
        val.to_mut()
            .push("personal_session_id", Value::string(issued.id, span));
    }
    Ok(record)
}

/// A personal session as a row: `id`, `name`, `user_id` (when known), `scope`, and its times as
/// dates (nothing where there is none). Never its token.
pub(crate) fn personal_session_row(
    session: &PersonalSession,
    user_id: Option<&str>,
    span: Span,
) -> Record {
    let date = |text: &Option<String>| {
        text.as_deref()
            .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
            .map_or_else(|| Value::nothing(span), |at| Value::date(at, span))
    };
    let mut row = Record::new();
    row.push("id", Value::string(&session.id, span));
    row.push("name", Value::string(&session.name, span));
    row.push("user_id", text_or_nothing(user_id, span));
    row.push("scope", Value::string(&session.scope, span));
    row.push("created_at", date(&Some(session.created_at.clone())));
    row.push("expires_at", date(&session.expires_at));
    row.push("last_active_at", date(&session.last_active_at));
    row.push("revoked_at", date(&session.revoked_at));
    row
}

/// What `matrix register` asks of MAS.
pub(crate) struct NewUser<'a> {
    pub(crate) user: &'a Spanned<String>,
    pub(crate) password: &'a Password,
    /// `--admin`: a MAS admin.
    pub(crate) admin: bool,
}

/// `matrix register` on a server whose accounts MAS runs: creates the user through the admin
/// API, sets its password and returns a session of a personal token for it. A refusal after the
/// user was made says that it exists.
pub(crate) fn register(
    plugin: &MatrixPlugin,
    caller: &mut Caller,
    new: &NewUser<'_>,
    span: Span,
) -> Result<Session, LabeledError> {
    let username = username_on(new.user, caller.home_server())?;
    let created = caller
        .run(plugin, |client, admin| {
            client.mas_create_user(admin, &username)
        })
        .map_err(|err| err.with_label("this user", new.user.span))?;
    let user_id = format!("@{username}:{}", caller.home_server());
    let half_made = |err: LabeledError| {
        LabeledError::new(format!("MAS created {user_id}, then refused: {}", err.msg))
            .with_label("the user exists now", new.user.span)
            .with_help(format!(
                "{} It has no password yet: `matrix admin token {user_id}` gives it a token all \
                 the same, and an admin can set a password with `mas-cli manage set-password`.",
                err.help.unwrap_or_default()
            ))
    };
    caller
        .run(plugin, |client, admin| {
            client.mas_set_password(admin, &created.id, new.password)
        })
        .map_err(half_made)?;
    if new.admin {
        caller
            .run(plugin, |client, admin| {
                client.mas_set_admin(admin, &created.id, true)
            })
            .map_err(half_made)?;
    }
    let device_id = new_device_id().map_err(|err| errors::request(err, &caller.blame()))?;
    let personal = NewPersonalSession::for_client_api(
        &created.id,
        &format!("matrix register, {}", default_name()),
        &device_id,
    );
    let issued = caller
        .run(plugin, |client, admin| {
            client.mas_issue_token(admin, &personal)
        })
        .map_err(half_made)?;
    let token = issued.access_token.ok_or_else(|| {
        LabeledError::new("MAS made the personal session but sent no token")
            .with_label("no access_token in the answer", span)
    })?;
    Ok(Session {
        user_id: UserId::parse(&user_id).map_err(|err| errors::input(err, new.user.span))?,
        device_id,
        home_server: caller.home_server().to_owned(),
        homeserver: caller.homeserver().to_owned(),
        access_token: token,
        refresh_token: None,
        expires_at: None,
        oauth: None,
    })
}

/// The name of a personal token made by a command: `nu_plugin_matrix 2026-11-29`.
pub(crate) fn default_name() -> String {
    format!("nu_plugin_matrix {}", chrono::Utc::now().format("%Y-%m-%d"))
}
