//! The session a command works with: from the pipeline (a session record or token value), from
//! `--session <name>`, or the saved default. Also the one place that refreshes expired tokens.

use std::time::Duration;

use nu_plugin::{EngineInterface, EvaluatedCall};
use nu_protocol::{LabeledError, Span, Spanned, Value};

use crate::client::{Client, ClientConfig, Interrupt};
use crate::e2ee::ShareWith;
use crate::error::{Error, ErrorCode};
use crate::plugin::MatrixPlugin;
use crate::plugin::config::PluginConfig;
use crate::plugin::errors::{self, Blame};
use crate::plugin::session_store::unknown;
use crate::plugin::token::{TokenKind, TokenValue};
use crate::secret::AccessToken;
use crate::session::{Refreshed, Session};
use crate::store::{StoreError, expired};

/// Refresh a token this long before it expires, rather than send it and have it refused.
const EXPIRY_MARGIN: Duration = Duration::from_secs(2);

/// The session of one command run.
pub(crate) struct Active {
    pub session: Session,
    /// Time-outs and the http policy, from the plugin's configuration.
    pub config: ClientConfig,
    /// Ctrl-C.
    pub interrupt: Interrupt,
    /// Whose devices get the room keys of what it sends encrypted (the `e2ee_share` setting).
    pub e2ee_share: ShareWith,
    /// The name of the saved session it is, whose entry a refresh updates.
    pub saved_as: Option<String>,
    /// Where the session came from in the command line, for error labels.
    pub span: Span,
    /// The command name, for error labels.
    pub head: Span,
}

/// What can go wrong running a command with a session.
pub(crate) enum Failure {
    Request(Error),
    Store(StoreError),
    /// The session needs a refresh and has no refresh token.
    NoRefreshToken,
    /// The server refused the session's refresh token (spent, revoked, or the session ended);
    /// a saved session was kept and marked.
    RefreshRefused {
        err: Box<Error>,
        saved_as: Option<String>,
    },
}

impl Failure {
    /// A refresh the server refused for good, as [`Failure::RefreshRefused`].
    fn refused_for(self, saved_as: Option<&str>) -> Self {
        let refused = match &self {
            Self::Request(Error::OAuth(err)) => err.error == "invalid_grant",
            Self::Request(Error::Matrix(err)) => err.errcode == ErrorCode::UnknownToken,
            _ => false,
        };
        match self {
            Self::Request(err) if refused => Self::RefreshRefused {
                err: Box::new(err),
                saved_as: saved_as.map(str::to_owned),
            },
            other => other,
        }
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Self::Request(err)
    }
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
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
        Ok(Self {
            session,
            config,
            interrupt,
            e2ee_share,
            saved_as: token.saved_as().map(str::to_owned),
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
            session,
            config,
            interrupt,
            e2ee_share,
            saved_as: Some(name),
            span,
            head,
        })
    }

    /// Where errors about this session point.
    pub fn blame(&self) -> Blame {
        Blame::session(self.head, self.span, self.session.user_id.as_str())
    }

    /// The pooled client of the session's homeserver, with the call's settings and Ctrl-C.
    pub fn client(&self, plugin: &MatrixPlugin) -> Result<Client, Error> {
        plugin.client(
            &self.session.homeserver,
            &self.config,
            self.interrupt.clone(),
        )
    }

    /// Runs `op` with the session's token. An expired token with a refresh token at hand is
    /// refreshed first (once); the saved session, if any, is updated.
    pub fn run<T>(
        &mut self,
        plugin: &MatrixPlugin,
        op: impl Fn(&Client, &AccessToken) -> Result<T, Error>,
    ) -> Result<T, Failure> {
        let client = self.client(plugin)?;
        let refreshable = self.session.refresh_token.is_some();
        if refreshable && expired(self.session.expires_at, EXPIRY_MARGIN) {
            self.refresh(plugin)?;
            return Ok(op(&client, &self.session.access_token)?);
        }
        match op(&client, &self.session.access_token) {
            // Synapse marks an expired token `soft_logout`; behind an OAuth 2.0 server it does
            // not, and a refresh is the way to find out whether the session still lives.
            Err(Error::Matrix(err))
                if refreshable
                    && err.errcode == ErrorCode::UnknownToken
                    && (err.soft_logout || self.session.oauth.is_some()) =>
            {
                self.refresh(plugin)?;
                Ok(op(&client, &self.session.access_token)?)
            }
            other => Ok(other?),
        }
    }

    /// Exchanges the refresh token, at most once per refresh token: a saved session is
    /// refreshed under the store's lock (a concurrent pipeline that got there first leaves the
    /// new tokens, which are used instead), an unsaved one under the plugin's own lock.
    pub fn refresh(&mut self, plugin: &MatrixPlugin) -> Result<(), Failure> {
        if self.session.refresh_token.is_none() {
            return Err(Failure::NoRefreshToken);
        }
        let client = self.client(plugin)?;
        if let Some(name) = self.saved_as.clone() {
            let store = plugin.store()?;
            let ours = self.session.clone();
            // A refusal is kept apart from the store's own errors: the mark it leaves must be
            // written.
            let renewed =
                store.update(|saved| -> Result<Result<Session, Failure>, Failure> {
                    let Some(entry) = saved.sessions.get_mut(&name) else {
                        // Removed meanwhile: refresh, but do not bring it back.
                        return Ok(renew(&client, &ours));
                    };
                    let current = store.open(&name, entry)?;
                    if current.access_token != ours.access_token {
                        return Ok(Ok(current));
                    }
                    Ok(match renew(&client, &current) {
                        Ok(renewed) => {
                            // The keyring item is overwritten before the file: the old
                            // refresh token is forgotten only once the new one is kept.
                            store.renew(&name, entry, &renewed)?;
                            Ok(renewed)
                        }
                        Err(failure) => {
                            let failure = failure.refused_for(Some(&name));
                            if matches!(failure, Failure::RefreshRefused { .. }) {
                                saved.needs_login.insert(name.clone());
                            }
                            Err(failure)
                        }
                    })
                })??;
            self.session = renewed;
            return Ok(());
        }
        let mut renewed = plugin
            .renewed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Follow earlier refreshes of this session in this plugin process.
        let mut session = self.session.clone();
        while let Some(next) = session
            .refresh_token
            .as_ref()
            .and_then(|token| renewed.get(token.reveal()))
        {
            session = next.clone();
        }
        if session.access_token == self.session.access_token {
            let next = renew(&client, &session).map_err(|failure| failure.refused_for(None))?;
            if let Some(old) = &session.refresh_token {
                renewed.insert(old.reveal().to_owned(), next.clone());
            }
            session = next;
        }
        self.session = session;
        Ok(())
    }
}

/// The token of a session on the pipeline: a token value, or a record's `access_token`.
fn piped_token(input: &Value) -> Option<&TokenValue> {
    match input {
        Value::Record { val, .. } => val.get("access_token").and_then(TokenValue::from_value),
        other => TokenValue::from_value(other),
    }
}

/// The session with the tokens of a refresh.
fn renew(client: &Client, session: &Session) -> Result<Session, Failure> {
    let refresh_token = session
        .refresh_token
        .as_ref()
        .ok_or(Failure::NoRefreshToken)?;
    // An OAuth 2.0 session refreshes at its server's token endpoint; others at /refresh.
    let Refreshed {
        access_token,
        refresh_token: new_refresh,
        expires_at,
    } = match &session.oauth {
        Some(oauth) => {
            let tokens = client.refresh_oauth(oauth, refresh_token)?;
            Refreshed {
                access_token: tokens.access_token,
                refresh_token: tokens.refresh_token,
                expires_at: tokens.expires_at,
            }
        }
        None => client.refresh(refresh_token)?,
    };
    Ok(Session {
        access_token,
        refresh_token: new_refresh.or_else(|| session.refresh_token.clone()),
        expires_at,
        ..session.clone()
    })
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
        Failure::NoRefreshToken => LabeledError::new("This session has no refresh token")
            .with_label("cannot be refreshed", blame.user)
            .with_help(
                "only sessions from `matrix login --refresh` can be refreshed; log in again \
                 instead",
            ),
    }
}
