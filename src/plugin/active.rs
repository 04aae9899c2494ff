//! The session a command works with: from the pipeline (a session record or token value), from
//! `--session <name>`, or the saved default; the library's [`bot::Active`] (which refreshes
//! expired tokens) with where it came from in the command line.

use std::ops::{Deref, DerefMut};

use nu_plugin::{EngineInterface, EvaluatedCall};
use nu_protocol::{LabeledError, Span, Spanned, Value};

pub(crate) use crate::bot::Failure;
use crate::bot::{self, in_words};
use crate::client::{ClientConfig, Interrupt};
use crate::e2ee::ShareWith;
use crate::plugin::MatrixPlugin;
use crate::plugin::config::PluginConfig;
use crate::plugin::errors::{self, Blame};
use crate::plugin::session_store::unknown;
use crate::plugin::token::{TokenKind, TokenValue};
use crate::session::Session;

/// The session of one command run.
pub(crate) struct Active {
    /// The session in use, its settings (`e2ee_share`, time-outs) and Ctrl-C.
    pub inner: bot::Active,
    /// Where the session came from in the command line, for error labels.
    pub span: Span,
    /// The command name, for error labels.
    pub head: Span,
}

impl Deref for Active {
    type Target = bot::Active;

    fn deref(&self) -> &bot::Active {
        &self.inner
    }
}

impl DerefMut for Active {
    fn deref_mut(&mut self) -> &mut bot::Active {
        &mut self.inner
    }
}

/// The library's session in use, from the command's parts.
fn in_use(
    session: Session,
    (config, e2ee_share): (ClientConfig, ShareWith),
    interrupt: Interrupt,
    saved_as: Option<String>,
) -> bot::Active {
    bot::Active {
        session,
        config,
        interrupt,
        e2ee_share,
        saved_as,
    }
}

impl Active {
    /// The session from the pipeline, or from `--session`, or the saved default.
    pub fn resolve(
        plugin: &MatrixPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        input: &Value,
    ) -> Result<Self, LabeledError> {
        let settings = PluginConfig::for_call(engine, call)?;
        let config = settings.client;
        let e2ee_share = if settings.e2ee_share_verified {
            ShareWith::Verified
        } else {
            ShareWith::All
        };
        let interrupt = plugin.interrupt_of(engine);
        let by_name: Option<Spanned<String>> = call.get_flag("session")?;
        if matches!(input, Value::Nothing { .. }) {
            return Self::saved(plugin, call.head, by_name, (config, e2ee_share), interrupt);
        }
        if let Some(flag) = by_name {
            // `--session` names the session; the pipeline may still carry a value, as inside
            // `each` and `par-each`. Only another session there is a contradiction (the row
            // of `matrix session list` of the same name is not).
            return match piped_token(input) {
                Some(token) if token.saved_as() != Some(flag.item.as_str()) => {
                    Err(LabeledError::new("Two sessions given")
                        .with_label("a session also came from the pipeline", flag.span)
                        .with_help("give the session one way: on the pipeline or with --session"))
                }
                _ => Self::saved(
                    plugin,
                    call.head,
                    Some(flag),
                    (config, e2ee_share),
                    interrupt,
                ),
            };
        }
        let span = input.span();
        let token = match input {
            Value::Record { val, .. } => match val.get("access_token") {
                Some(field) => {
                    TokenValue::from_value(field).ok_or_else(|| not_a_session(field, call.head))?
                }
                None if val
                    .get("login_token")
                    .and_then(TokenValue::from_value)
                    .is_some() =>
                {
                    return Err(LabeledError::new("This is a login token, not a session")
                        .with_label("the record of `matrix token login-token`", span)
                        .with_help("log in with it first: `... | matrix login`"));
                }
                None => {
                    return Err(LabeledError::new("The record is not a session")
                        .with_label("it has no access_token", span)
                        .with_help(
                            "pass the record `matrix login` or `matrix token import` returned",
                        ));
                }
            },
            _ => TokenValue::from_value(input).ok_or_else(|| not_a_session(input, call.head))?,
        };
        if token.kind() == TokenKind::LoginToken {
            return Err(LabeledError::new("This is a login token, not a session")
                .with_label("a single-use login token", span)
                .with_help("log in with it first: `... | matrix login`"));
        }
        if token.kind() == TokenKind::AdminClient {
            return Err(
                LabeledError::new("This is a MAS admin client's token, not a session")
                    .with_label("the record of `matrix admin session`", span)
                    .with_help("it works with the `matrix admin` commands only"),
            );
        }
        let (TokenKind::Access, Some(session)) = (token.kind(), token.to_session()) else {
            return Err(LabeledError::new("This is not a session")
                .with_label("a refresh token or password, not an access token", span)
                .with_help("pass the session record, or its access_token"));
        };
        let saved_as = token.saved_as().map(str::to_owned);
        Ok(Self {
            inner: in_use(session, (config, e2ee_share), interrupt, saved_as),
            span,
            head: call.head,
        })
    }

    fn saved(
        plugin: &MatrixPlugin,
        head: Span,
        by_name: Option<Spanned<String>>,
        (config, e2ee_share): (ClientConfig, ShareWith),
        interrupt: Interrupt,
    ) -> Result<Self, LabeledError> {
        let store = plugin.store().map_err(|err| errors::store(err, head))?;
        let saved = store.load().map_err(|err| errors::store(err, head))?;
        let (name, span) = match by_name {
            Some(flag) => (flag.item, flag.span),
            None => match &saved.default {
                Some(name) => (name.clone(), head),
                None => {
                    return Err(LabeledError::new(
                        "No session given, and no default session saved",
                    )
                    .with_label("needs a session", head)
                    .with_help(
                        "pipe one in (`matrix login ... | matrix whoami`), pick a saved one \
                             with --session <name>, or save one: `matrix login ... --save bot`",
                    ));
                }
            },
        };
        let Some(entry) = saved.sessions.get(&name) else {
            return Err(unknown(&Spanned { item: name, span }, &saved));
        };
        let session = store
            .open(&name, entry)
            .map_err(|err| errors::store(err, span))?;
        Ok(Self {
            inner: in_use(session, (config, e2ee_share), interrupt, Some(name)),
            span,
            head,
        })
    }

    /// Where errors about this session point.
    pub fn blame(&self) -> Blame {
        Blame::session(self.head, self.span, self.session.user_id.as_str())
    }
}

/// The token of a session on the pipeline: a token value, or a record's `access_token`.
fn piped_token(input: &Value) -> Option<&TokenValue> {
    match input {
        Value::Record { val, .. } => val.get("access_token").and_then(TokenValue::from_value),
        other => TokenValue::from_value(other),
    }
}

/// The error for a value that is no session. A string may be a token: the label goes on the
/// command, never on the string's own span, which Nushell would print (e.g. from `$env`).
pub(crate) fn not_a_session(value: &Value, head: Span) -> LabeledError {
    let span = match value {
        Value::String { .. } => head,
        other => other.span(),
    };
    let error = LabeledError::new("Expected a Matrix session").with_label(
        format!("got {}, not a session or token value", value.get_type()),
        span,
    );
    match value {
        Value::String { .. } => error.with_help(
            "a token as plain text must be wrapped first: \
             `$token | matrix token import --homeserver https://matrix.example.org`",
        ),
        _ => error.with_help(
            "pass the record `matrix login` returned, or its access_token; or name a saved \
             session with --session (then the pipeline's value is left alone, as inside `each`)",
        ),
    }
}

/// A failure as a Nushell error.
pub(crate) fn failure(failure: Failure, blame: &Blame) -> LabeledError {
    let capitalised = |failure: &Failure| errors::capitalise(&failure.to_string());
    match failure {
        Failure::Request(err) => errors::token(err, blame),
        Failure::Store(err) => errors::store(err, blame.head),
        Failure::RefreshRefused { err, saved_as } => {
            let (save, kept) = match &saved_as {
                Some(name) => (
                    format!(" --save {name}"),
                    format!(
                        " The saved session '{name}' is kept, marked needs_login in `matrix \
                         session list`, until a new login is saved under its name."
                    ),
                ),
                None => (String::new(), String::new()),
            };
            LabeledError::new("The server no longer accepts this session's refresh token")
                .with_label("refresh token refused", blame.user)
                .with_help(format!(
                    "it was spent or revoked elsewhere, or the session ended: log in again \
                     (`matrix login {}{save}`).{kept} The server said: {err}",
                    blame.user_text
                ))
                .with_code("matrix::refresh_refused")
        }
        Failure::ListenerRunning(_) | Failure::NotTheFile(_) | Failure::AckRefused(_) => {
            LabeledError::new(capitalised(&failure)).with_label("refused", blame.head)
        }
        Failure::TooLarge { size, limit } => LabeledError::new(format!(
            "The file is {}: the server takes files up to {}",
            in_words(size),
            in_words(limit)
        ))
        .with_label("too large for this server", blame.head),
        Failure::NoRefreshToken => LabeledError::new("This session has no refresh token")
            .with_label("cannot be refreshed", blame.user)
            .with_help(
                "only sessions from `matrix login --refresh` can be refreshed; log in again \
                 instead",
            ),
    }
}
