//! Errors, in layers: the request never got an answer ([`Error::Transport`]), the homeserver
//! answered with a Matrix error ([`Error::Matrix`]), or the answer was not what a homeserver
//! sends ([`Error::UnexpectedResponse`], [`Error::Redirect`]). Input refused before anything was
//! sent is [`Error::Input`].
//!
//! No error holds a password or token: response excerpts are cut short and scrubbed of the
//! secrets of the request they answer, and JSON answers are described, never quoted.
//!
//! This is the crate's bottom layer: every error type of the library lives here, and this module
//! uses nothing else of the crate. The modules that raise them re-export them where a user
//! would look (`ids::InputError`, `discovery::DiscoveryError`, `sso::SsoError`).

use std::fmt;
use std::time::Duration;

/// Anything that can go wrong talking to a homeserver.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The request got no HTTP answer: connection refused, unknown host, TLS failure, time-out.
    Transport(TransportError),
    /// The homeserver answered with a standard Matrix error (`errcode`, `error`).
    Matrix(MatrixError),
    /// The answer was not what a Matrix homeserver sends: an HTML page, a body that is not
    /// JSON, JSON of the wrong shape.
    UnexpectedResponse(UnexpectedResponse),
    /// The server answered with a redirect. It is not followed, so that a password or token is
    /// never sent anywhere but the URL the user gave.
    Redirect {
        /// The URL that was asked.
        url: String,
        /// The 3xx status.
        status: u16,
        /// Where the server pointed, if it said.
        location: Option<String>,
    },
    /// The input was refused before anything was sent.
    Input(InputError),
    /// The user interrupted the request (Ctrl-C) before an answer came.
    Interrupted {
        /// The URL that was asked.
        url: String,
    },
    /// Server discovery found no usable homeserver.
    Discovery(DiscoveryError),
    /// The server wants user-interactive authentication that was not given: no password, or
    /// no flow that a password alone completes.
    AuthRequired {
        /// The flows the server offers, each a list of stage types.
        flows: Vec<Vec<String>>,
        /// Where the server says the user approves it in a browser: the `m.oauth` stage's URL
        /// (spec v1.17) on a server whose accounts an OAuth 2.0 server runs.
        account_url: Option<String>,
    },
    /// A single sign-on did not bring a login token back.
    Sso(SsoError),
    /// The OAuth 2.0 server refused a request (RFC 6749 section 5.2: `error`,
    /// `error_description`).
    OAuth(OAuthError),
    /// MAS's admin API refused a request.
    MasAdmin(MasAdminError),
    /// End-to-end encryption failed: its store, its lock, or the crypto itself.
    E2ee(E2eeError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(err) => err.fmt(f),
            Self::Matrix(err) => err.fmt(f),
            Self::UnexpectedResponse(err) => err.fmt(f),
            Self::Redirect {
                url,
                status,
                location,
            } => {
                write!(f, "{url} answered with a redirect (HTTP {status})")?;
                match location {
                    Some(location) => write!(f, " to {location}"),
                    None => Ok(()),
                }
            }
            Self::Input(err) => err.fmt(f),
            Self::Discovery(err) => err.fmt(f),
            Self::Sso(err) => err.fmt(f),
            Self::OAuth(err) => err.fmt(f),
            Self::MasAdmin(err) => err.fmt(f),
            Self::E2ee(err) => err.fmt(f),
            Self::Interrupted { url } => write!(f, "interrupted while waiting for {url}"),
            Self::AuthRequired { flows, account_url } => {
                let flows: Vec<String> = flows.iter().map(|flow| flow.join(" + ")).collect();
                write!(
                    f,
                    "the server asks to authenticate again ({})",
                    flows.join(" or ")
                )?;
                match account_url {
                    Some(url) => write!(f, "; approve it at {url}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<InputError> for Error {
    fn from(err: InputError) -> Self {
        Self::Input(err)
    }
}

/// What kind of failure kept a request from getting an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// Nothing listens at that address and port.
    ConnectionRefused,
    /// The host name does not resolve.
    HostNotFound,
    /// The server's certificate is not signed by an authority trusted here.
    CertificateUntrusted,
    /// The server's certificate names another host.
    CertificateForAnotherHost,
    /// The TLS handshake failed otherwise: a broken certificate, or no TLS at all.
    Tls,
    /// No answer within the time-out.
    Timeout,
    /// The answer began (its status and headers came), and the connection closed before its
    /// body was whole.
    CutShort,
    /// Anything else: a reset connection, a malformed HTTP answer.
    Other,
}

/// A request that got no HTTP answer.
#[derive(Debug)]
pub struct TransportError {
    /// The URL that was asked.
    pub url: String,
    /// What went wrong.
    pub kind: TransportKind,
    /// The underlying error, for the curious. Holds no secret.
    pub detail: String,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ConnectionRefused => "connection refused",
            Self::HostNotFound => "host not found",
            Self::CertificateUntrusted => "TLS failed: certificate not trusted",
            Self::CertificateForAnotherHost => "TLS failed: the certificate names another host",
            Self::Tls => "TLS failed",
            Self::Timeout => "no answer in time",
            Self::CutShort => "the answer was cut short",
            Self::Other => "the connection failed",
        })
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not reach {}: {} ({})",
            self.url, self.kind, self.detail
        )
    }
}

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

/// Why a user ID, user name, homeserver URL or other input was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// What is wrong, in a sentence fragment: "the user ID has no server name".
    pub problem: String,
    /// What to write instead.
    pub hint: String,
}

impl InputError {
    /// A refusal: what is wrong, and what to write instead.
    pub fn new(problem: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            problem: problem.into(),
            hint: hint.into(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.problem, self.hint)
    }
}

impl std::error::Error for InputError {}

/// Why end-to-end encryption could not go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct E2eeError {
    /// What went wrong.
    pub kind: E2eeKind,
    /// What went wrong, in a sentence fragment (no key, no plaintext).
    pub problem: String,
    /// What to do about it.
    pub hint: String,
    /// The crypto store concerned, when there is one.
    pub path: Option<std::path::PathBuf>,
}

/// What kind of end-to-end encryption failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum E2eeKind {
    /// The crypto store could not be opened or read (a damaged file, no permission).
    Store,
    /// Another process held the crypto store's lock for longer than the wait.
    Busy,
    /// The session has no saved home for a crypto store (it is not saved).
    NotSaved,
    /// The crypto machine refused (a room key could not be made or shared).
    Crypto,
    /// The device's store is gone or empty while the server holds the device's keys: the
    /// device cannot go on (a new account would fork it); a new login can.
    DeviceLost,
    /// The user's cross-signing or secret storage is not as the command needs (keys already
    /// there, a wrong recovery key).
    Trust,
}

impl fmt::Display for E2eeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{}: ", path.display())?;
        }
        write!(f, "{} ({})", self.problem, self.hint)
    }
}

impl std::error::Error for E2eeError {}

impl From<E2eeError> for Error {
    fn from(err: E2eeError) -> Self {
        Self::E2ee(err)
    }
}

/// The spec's two failure outcomes of server discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// FAIL_PROMPT: nothing usable was found; ask the user for the homeserver.
    FailPrompt,
    /// FAIL_ERROR: the server delegates, but to something broken; do not go on.
    FailError,
}

/// Why server discovery failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryError {
    /// Which failure the spec calls it.
    pub outcome: Outcome,
    /// The server name discovery started from.
    pub server_name: String,
    /// The URL whose answer failed.
    pub url: String,
    /// What was wrong.
    pub problem: String,
    /// When the URL got no HTTP answer at all: what kind of failure that was.
    pub transport: Option<TransportKind>,
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "discovery of {} failed at {}: {}",
            self.server_name, self.url, self.problem
        )
    }
}

/// Why a single sign-on did not bring a login token back.
#[derive(Debug)]
#[non_exhaustive]
pub enum SsoError {
    /// No listener could be opened on 127.0.0.1.
    Listen {
        /// What the system said.
        detail: String,
    },
    /// The browser did not come back in time.
    TimedOut {
        /// How long was waited.
        waited: Duration,
        /// Requests that came without the right nonce or `state` (not from this sign-in).
        rejected: usize,
    },
    /// The OAuth 2.0 server sent the browser back with this sign-in's `state` but with neither
    /// a code nor an error.
    NoCode,
}

impl fmt::Display for SsoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Listen { detail } => {
                write!(f, "could not listen on 127.0.0.1 for the sign-in: {detail}")
            }
            Self::TimedOut { waited, rejected } => {
                write!(
                    f,
                    "the browser sign-in did not come back within {} s",
                    waited.as_secs()
                )?;
                if *rejected > 0 {
                    write!(
                        f,
                        " ({rejected} request(s) that did not belong to this sign-in refused)"
                    )?;
                }
                Ok(())
            }
            Self::NoCode => write!(
                f,
                "the OAuth 2.0 server sent the browser back without a code or an error"
            ),
        }
    }
}

impl std::error::Error for SsoError {}

#[cfg(test)]
mod tests;
