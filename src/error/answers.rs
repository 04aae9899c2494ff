//! The errors of answers: a Matrix error, an OAuth 2.0 or MAS admin refusal, an answer that is
//! not what a homeserver sends.

use std::fmt;
use std::time::Duration;

/// A standard Matrix error answer, e.g. `[403 / M_FORBIDDEN] Invalid username or password`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixError {
    /// The HTTP status.
    pub status: u16,
    /// The `errcode`, e.g. [`ErrorCode::Forbidden`] for `M_FORBIDDEN`.
    pub errcode: ErrorCode,
    /// The server's `error` text (may be empty).
    pub message: String,
    /// How long to wait before retrying, from `Retry-After` or `retry_after_ms`.
    pub retry_after: Option<Duration>,
    /// `soft_logout`: the token expired, and logging in again with the same device keeps it.
    pub soft_logout: bool,
}

impl fmt::Display for MatrixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{} / {}]", self.status, self.errcode)?;
        if !self.message.is_empty() {
            write!(f, " {}", self.message)?;
        }
        Ok(())
    }
}

/// The `errcode` of a Matrix error: the codes this crate acts on, and any other as the server
/// wrote it ([`ErrorCode::Other`]). Displays as the server wrote it, e.g. `M_FORBIDDEN`.
///
/// Spec: <https://spec.matrix.org/v1.16/client-server-api/#standard-error-response>
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `M_FORBIDDEN`: not allowed (a wrong password, a used login token, no permission).
    Forbidden,
    /// `M_UNKNOWN_TOKEN`: the access token is not (or no longer) valid.
    UnknownToken,
    /// `M_MISSING_TOKEN`: no access token was given.
    MissingToken,
    /// `M_NOT_FOUND`: no such thing (room, alias, user, state event).
    NotFound,
    /// `M_LIMIT_EXCEEDED`: rate-limited.
    LimitExceeded,
    /// `M_UNRECOGNIZED`: the server does not know this endpoint or login type.
    Unrecognized,
    /// `M_UNKNOWN`: an error the server gave no code of its own.
    Unknown,
    /// `M_USER_IN_USE`: the user name is taken.
    UserInUse,
    /// `M_INVALID_USERNAME`: the user name is not allowed.
    InvalidUsername,
    /// `M_EXCLUSIVE`: the user name is reserved for an application service.
    Exclusive,
    /// `M_USER_DEACTIVATED`: the account was deactivated.
    UserDeactivated,
    /// `M_USER_LOCKED`: the account is locked by a server admin.
    UserLocked,
    /// `M_USER_SUSPENDED`: the account is suspended.
    UserSuspended,
    /// Any other code, as the server wrote it.
    Other(String),
}

impl ErrorCode {
    /// The code as the server writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Forbidden => "M_FORBIDDEN",
            Self::UnknownToken => "M_UNKNOWN_TOKEN",
            Self::MissingToken => "M_MISSING_TOKEN",
            Self::NotFound => "M_NOT_FOUND",
            Self::LimitExceeded => "M_LIMIT_EXCEEDED",
            Self::Unrecognized => "M_UNRECOGNIZED",
            Self::Unknown => "M_UNKNOWN",
            Self::UserInUse => "M_USER_IN_USE",
            Self::InvalidUsername => "M_INVALID_USERNAME",
            Self::Exclusive => "M_EXCLUSIVE",
            Self::UserDeactivated => "M_USER_DEACTIVATED",
            Self::UserLocked => "M_USER_LOCKED",
            Self::UserSuspended => "M_USER_SUSPENDED",
            Self::Other(code) => code,
        }
    }
}

impl From<&str> for ErrorCode {
    fn from(code: &str) -> Self {
        [
            Self::Forbidden,
            Self::UnknownToken,
            Self::MissingToken,
            Self::NotFound,
            Self::LimitExceeded,
            Self::Unrecognized,
            Self::Unknown,
            Self::UserInUse,
            Self::InvalidUsername,
            Self::Exclusive,
            Self::UserDeactivated,
            Self::UserLocked,
            Self::UserSuspended,
        ]
        .into_iter()
        .find(|known| known.as_str() == code)
        .unwrap_or_else(|| Self::Other(code.to_owned()))
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth 2.0 error answer, e.g. `[400 / invalid_grant] The refresh token was revoked`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The HTTP status; 0 when the browser brought the error back from a sign-in.
    pub status: u16,
    /// The `error` code: `invalid_grant`, `access_denied`, `expired_token`, `invalid_client`, ...
    pub error: String,
    /// The server's `error_description`, if any.
    pub description: Option<String>,
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Status 0: the error came back with the browser, not in an HTTP answer.
        match self.status {
            0 => write!(f, "[{}]", self.error)?,
            status => write!(f, "[{status} / {}]", self.error)?,
        }
        if let Some(description) = &self.description {
            write!(f, " {description}")?;
        }
        Ok(())
    }
}

/// An error answer of MAS's admin API (`{"errors": [{"title": ...}]}`), e.g.
/// `401 Missing urn:mas:admin scope`, or a 404 without a body where the API is not served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasAdminError {
    /// The URL that was asked.
    pub url: String,
    /// The HTTP status.
    pub status: u16,
    /// The first error's `title`, when the answer had one.
    pub title: Option<String>,
}

impl fmt::Display for MasAdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.status)?;
        match &self.title {
            Some(title) => write!(f, " {title}"),
            None => write!(f, " no error message from {}", self.url),
        }
    }
}

/// An answer that is not what a Matrix homeserver sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnexpectedResponse {
    /// The URL that was asked.
    pub url: String,
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type` of the answer, if any.
    pub content_type: Option<String>,
    /// What is wrong with it: "the body is not JSON", "the field `user_id` is missing".
    pub problem: String,
    /// A short, secret-free excerpt of the body (an HTML page's title, the start of a text), or
    /// empty. JSON bodies are never quoted.
    pub excerpt: String,
}

impl fmt::Display for UnexpectedResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unexpected answer from {} (HTTP {}",
            self.url, self.status
        )?;
        if let Some(content_type) = &self.content_type {
            write!(f, ", {content_type}")?;
        }
        write!(f, "): {}", self.problem)?;
        if !self.excerpt.is_empty() {
            write!(f, ": \"{}\"", self.excerpt)?;
        }
        Ok(())
    }
}
