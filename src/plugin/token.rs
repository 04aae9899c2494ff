//! The token value: a Nushell custom value that shows only the masked token and gives the real
//! one back to the commands of this plugin.

use std::fmt;

use nu_protocol::ast::{Comparison, Operator};
use nu_protocol::{CustomValue, ShellError, Span, Type, Value};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::secret::AccessToken;
use crate::session::Session;

/// The Nushell type name of a token value.
pub const TYPE_NAME: &str = "matrix_token";

/// An access token together with what later commands need to use it alone: the homeserver,
/// the user, the device.
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
    user_id: String,
    device_id: Option<String>,
}

impl TokenValue {
    /// The token value of a session.
    pub fn from_session(session: &Session) -> Self {
        Self {
            token: session.access_token.clone(),
            homeserver: session.homeserver.clone(),
            user_id: session.user_id.clone(),
            device_id: Some(session.device_id.clone()),
        }
    }

    /// The token.
    pub fn token(&self) -> &AccessToken {
        &self.token
    }

    /// The homeserver base URL the token was issued by.
    pub fn homeserver(&self) -> &str {
        &self.homeserver
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

impl fmt::Debug for TokenValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            token,
            homeserver,
            user_id,
            device_id,
        } = self;
        f.debug_struct("TokenValue")
            .field("token", token)
            .field("homeserver", homeserver)
            .field("user_id", user_id)
            .field("device_id", device_id)
            .finish()
    }
}

fn reveal_token<S: Serializer>(token: &AccessToken, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(token.reveal())
}

fn wrap_token<'de, D: Deserializer<'de>>(deserializer: D) -> Result<AccessToken, D::Error> {
    String::deserialize(deserializer).map(AccessToken::new)
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
        Ok(Value::string(self.token.masked(), span))
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
