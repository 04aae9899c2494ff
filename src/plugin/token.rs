//! The token value: a Nushell custom value that shows only the masked token and gives the real
//! one back to the commands of this plugin.

use std::fmt;
use std::time::SystemTime;

use nu_protocol::ast::{Comparison, Operator};
use nu_protocol::{CustomValue, Record, ShellError, Span, Type, Value};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::UserId;
use crate::secret::AccessToken;
use crate::session::{OAuthClient, Session};
use crate::unix_ms;

/// The Nushell type name of a token value.
pub const TYPE_NAME: &str = "matrix_token";

/// Which token a value holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenKind {
    /// An access token: the value that commands take as a session.
    #[default]
    Access,
    /// A refresh token, shown beside the access token in a session record.
    Refresh,
    /// A password (one `matrix register` generated), shown as `********`.
    Password,
    /// A single-use login token (`matrix token login-token`), for `matrix login`.
    LoginToken,
    /// A MAS admin client's token (`matrix admin session`): no user's, for `matrix admin`.
    AdminClient,
    /// A recovery key (`matrix e2ee bootstrap`), shown as `********`.
    RecoveryKey,
}

/// Whose admin token a [`TokenKind::AdminClient`] value holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminClientOf {
    /// MAS's issuer.
    pub issuer: String,
    /// The client's ID.
    pub client_id: String,
    /// The server name of the users it administers.
    pub home_server: String,
}

/// A token together with the rest of its session, so that a token value alone can be used by
/// later commands: the homeserver, the user, the device, the refresh token and expiry, and the
/// name of the saved session it came from.
///
/// Nushell stores the serialised form and hands it back to this plugin (restarting it if it was
/// stopped), so the token survives `plugin stop matrix`. Everywhere else (tables, `get`,
/// `to json`, `to csv`, string interpolation, `save`) Nushell asks the plugin for the base
/// value, which is the masked token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenValue {
    #[serde(serialize_with = "reveal_token", deserialize_with = "wrap_token")]
    token: AccessToken,
    homeserver: String,
    /// The user; `None` for an admin client's token.
    user_id: Option<UserId>,
    device_id: Option<String>,
    #[serde(default)]
    kind: TokenKind,
    #[serde(
        default,
        serialize_with = "reveal_optional",
        deserialize_with = "wrap_optional"
    )]
    refresh_token: Option<AccessToken>,
    #[serde(default)]
    expires_at_ms: Option<u64>,
    #[serde(default)]
    saved_as: Option<String>,
    /// For an OAuth 2.0 session: what refresh and revocation need (not shown anywhere).
    #[serde(default)]
    oauth: Option<OAuthClient>,
    /// For an admin client's token: whose.
    #[serde(default)]
    admin_client: Option<AdminClientOf>,
}

impl TokenValue {
    /// The access-token value of a session; `saved_as` names the saved session it belongs to.
    pub fn from_session(session: &Session, saved_as: Option<&str>) -> Self {
        Self {
            token: session.access_token.clone(),
            homeserver: session.homeserver.clone(),
            user_id: Some(session.user_id.clone()),
            device_id: Some(session.device_id.clone()).filter(|id| !id.is_empty()),
            kind: TokenKind::Access,
            refresh_token: session.refresh_token.clone(),
            expires_at_ms: session.expires_at.map(unix_ms::from_time),
            saved_as: saved_as.map(str::to_owned),
            oauth: session.oauth.clone(),
            admin_client: None,
        }
    }

    /// An admin client's token, on the homeserver `homeserver`.
    pub fn admin_client(
        token: AccessToken,
        expires_at: Option<SystemTime>,
        homeserver: &str,
        of: AdminClientOf,
    ) -> Self {
        Self {
            token,
            homeserver: homeserver.to_owned(),
            user_id: None,
            device_id: None,
            kind: TokenKind::AdminClient,
            refresh_token: None,
            expires_at_ms: expires_at.map(unix_ms::from_time),
            saved_as: None,
            oauth: None,
            admin_client: Some(of),
        }
    }

    /// Whose admin token this is, for an admin client's.
    pub fn admin_client_of(&self) -> Option<&AdminClientOf> {
        self.admin_client.as_ref()
    }

    /// When the token expires, if it does.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at_ms.map(unix_ms::to_time)
    }

    /// A password value belonging to a session: displays as `********`, revealed like a token.
    pub fn password(password: &crate::secret::Password, session: &Session) -> Self {
        Self::hidden(password, session, TokenKind::Password)
    }

    /// A recovery key of a session's user: displays as `********`, revealed like a token.
    pub fn recovery_key(key: &crate::secret::Password, session: &Session) -> Self {
        Self::hidden(key, session, TokenKind::RecoveryKey)
    }

    fn hidden(secret: &crate::secret::Password, session: &Session, kind: TokenKind) -> Self {
        Self {
            token: AccessToken::new(secret.expose().to_owned()),
            kind,
            refresh_token: None,
            expires_at_ms: None,
            ..Self::from_session(session, None)
        }
    }

    /// A login token for the user of `session`, on its homeserver.
    pub fn login_token(
        token: AccessToken,
        expires_at: Option<SystemTime>,
        session: &Session,
    ) -> Self {
        Self {
            token,
            device_id: None,
            kind: TokenKind::LoginToken,
            refresh_token: None,
            expires_at_ms: expires_at.map(unix_ms::from_time),
            saved_as: None,
            ..Self::from_session(session, None)
        }
    }

    /// The homeserver's base URL.
    pub fn homeserver(&self) -> &str {
        &self.homeserver
    }

    /// The session this value stands for; `None` for an admin client's token, which is no
    /// user's session.
    pub fn to_session(&self) -> Option<Session> {
        let user_id = self.user_id.clone()?;
        Some(Session {
            home_server: user_id.server_name().to_owned(),
            user_id,
            device_id: self.device_id.clone().unwrap_or_default(),
            homeserver: self.homeserver.clone(),
            access_token: self.token.clone(),
            refresh_token: self.refresh_token.clone(),
            expires_at: self.expires_at_ms.map(unix_ms::to_time),
            oauth: self.oauth.clone(),
        })
    }

    /// The token.
    pub fn token(&self) -> &AccessToken {
        &self.token
    }

    /// Which token this is.
    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// The name of the saved session this value came from, if any.
    pub fn saved_as(&self) -> Option<&str> {
        self.saved_as.as_deref()
    }

    /// Wraps this value for Nushell.
    pub fn into_value(self, span: Span) -> Value {
        Value::custom(Box::new(self), span)
    }

    /// The token value inside `value`, if it is one.
    pub fn from_value(value: &Value) -> Option<&Self> {
        match value {
            Value::Custom { val, .. } => val.as_any().downcast_ref::<Self>(),
            _ => None,
        }
    }
}

/// A session as the record commands return: the access token (and refresh token, if any) as
/// token values, `expires_at` as a date when the token expires.
pub fn session_record(session: &Session, saved_as: Option<&str>, span: Span) -> Value {
    let access = TokenValue::from_session(session, saved_as);
    let mut record = Record::new();
    record.push("user_id", Value::string(session.user_id.as_str(), span));
    record.push("device_id", Value::string(&session.device_id, span));
    record.push("home_server", Value::string(&session.home_server, span));
    record.push("homeserver", Value::string(&session.homeserver, span));
    record.push("access_token", access.clone().into_value(span));
    if let Some(refresh) = &session.refresh_token {
        let refresh_value = TokenValue {
            token: refresh.clone(),
            kind: TokenKind::Refresh,
            ..access
        };
        record.push("refresh_token", refresh_value.into_value(span));
    }
    if let Some(at) = session.expires_at {
        record.push("expires_at", date_value(at, span));
    }
    Value::record(record, span)
}

/// A text, or nothing when there is none.
pub fn text_or_nothing(text: Option<impl Into<String>>, span: Span) -> Value {
    text.map_or_else(|| Value::nothing(span), |text| Value::string(text, span))
}

/// A point in time as a Nushell date, or nothing when there is none.
pub fn date_or_nothing(at: Option<SystemTime>, span: Span) -> Value {
    at.map_or_else(|| Value::nothing(span), |at| date_value(at, span))
}

/// A point in time as a Nushell date (UTC).
pub fn date_value(at: SystemTime, span: Span) -> Value {
    let utc: chrono::DateTime<chrono::Utc> = at.into();
    Value::date(utc.fixed_offset(), span)
}

impl fmt::Debug for TokenValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            token,
            homeserver,
            user_id,
            device_id,
            kind,
            refresh_token,
            expires_at_ms,
            saved_as,
            oauth,
            admin_client,
        } = self;
        f.debug_struct("TokenValue")
            .field("token", token)
            .field("homeserver", homeserver)
            .field("user_id", user_id)
            .field("device_id", device_id)
            .field("kind", kind)
            .field("refresh_token", refresh_token)
            .field("expires_at_ms", expires_at_ms)
            .field("saved_as", saved_as)
            .field("oauth", oauth)
            .field("admin_client", admin_client)
            .finish()
    }
}

fn reveal_token<S: Serializer>(token: &AccessToken, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(token.reveal())
}

fn wrap_token<'de, D: Deserializer<'de>>(deserializer: D) -> Result<AccessToken, D::Error> {
    String::deserialize(deserializer).map(AccessToken::new)
}

fn reveal_optional<S: Serializer>(
    token: &Option<AccessToken>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    token
        .as_ref()
        .map(AccessToken::reveal)
        .serialize(serializer)
}

fn wrap_optional<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<AccessToken>, D::Error> {
    Option::<String>::deserialize(deserializer).map(|token| token.map(AccessToken::new))
}

// The name is pinned: values that live in a user's session must survive a plugin rebuild.
#[typetag::serde(name = "MatrixToken")]
impl CustomValue for TokenValue {
    fn clone_value(&self, span: Span) -> Value {
        self.clone().into_value(span)
    }

    fn type_name(&self) -> String {
        TYPE_NAME.into()
    }

    fn to_base_value(&self, span: Span) -> Result<Value, ShellError> {
        let shown = match self.kind {
            TokenKind::Password | TokenKind::RecoveryKey => "********".to_owned(),
            TokenKind::Access
            | TokenKind::Refresh
            | TokenKind::LoginToken
            | TokenKind::AdminClient => self.token.masked(),
        };
        Ok(Value::string(shown, span))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_mut_any(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn operation(
        &self,
        lhs_span: Span,
        operator: Operator,
        op: Span,
        right: &Value,
    ) -> Result<Value, ShellError> {
        let equal = match operator {
            Operator::Comparison(Comparison::Equal) => true,
            Operator::Comparison(Comparison::NotEqual) => false,
            _ => {
                return Err(ShellError::OperatorUnsupportedType {
                    op: operator,
                    unsupported: Type::Custom(TYPE_NAME.into()),
                    op_span: op,
                    unsupported_span: lhs_span,
                    help: Some("tokens can only be compared with == and !="),
                });
            }
        };
        let same = Self::from_value(right).is_some_and(|other| other.token == self.token);
        Ok(Value::bool(same == equal, op))
    }
}

/// The record type `matrix login` returns (with --refresh it also has `refresh_token` and
/// `expires_at`).
pub(crate) fn session_type() -> Type {
    Type::Record(
        [
            ("user_id", Type::String),
            ("device_id", Type::String),
            ("home_server", Type::String),
            ("homeserver", Type::String),
            ("access_token", Type::Custom(TYPE_NAME.into())),
        ]
        .into_iter()
        .map(|(name, ty)| (name.to_owned(), ty))
        .collect(),
    )
}
