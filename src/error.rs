//! Errors, in layers: the request never got an answer ([`Error::Transport`]), the homeserver
//! answered with a Matrix error ([`Error::Matrix`]), or the answer was not what a homeserver
//! sends ([`Error::UnexpectedResponse`], [`Error::Redirect`]). Input refused before anything was
//! sent is [`Error::Input`].
//!
//! No error holds a password or token: response excerpts are cut short and scrubbed of the
//! secrets of the request they answer, and JSON answers are described, never quoted.

use std::fmt;
use std::time::Duration;

use crate::ids::InputError;

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
    Discovery(crate::discovery::DiscoveryError),
    /// The server wants user-interactive authentication that was not given: no password, or
    /// no flow that a password alone completes.
    AuthRequired {
        /// The flows the server offers, each a list of stage types.
        flows: Vec<Vec<String>>,
    },
    /// A single sign-on did not bring a login token back.
    Sso(crate::sso::SsoError),
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
            Self::Interrupted { url } => write!(f, "interrupted while waiting for {url}"),
            Self::AuthRequired { flows } => {
                let flows: Vec<String> = flows.iter().map(|flow| flow.join(" + ")).collect();
                write!(
                    f,
                    "the server asks to authenticate again ({})",
                    flows.join(" or ")
                )
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
    /// The TLS handshake failed: an untrusted or mismatched certificate, or no TLS at all.
    Tls,
    /// No answer within the time-out.
    Timeout,
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

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            TransportKind::ConnectionRefused => "connection refused",
            TransportKind::HostNotFound => "host not found",
            TransportKind::Tls => "TLS failed",
            TransportKind::Timeout => "no answer in time",
            TransportKind::Other => "the connection failed",
        };
        write!(f, "could not reach {}: {what} ({})", self.url, self.detail)
    }
}

/// A standard Matrix error answer, e.g. `[403 / M_FORBIDDEN] Invalid username or password`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixError {
    /// The HTTP status.
    pub status: u16,
    /// The `errcode`, e.g. `M_FORBIDDEN`.
    pub errcode: String,
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

/// The longest excerpt of a body kept in an error, in characters.
const EXCERPT_CHARS: usize = 120;

/// A short, printable excerpt of a non-JSON body: the `<title>` of an HTML page, or the start of
/// the text with white space folded. Every occurrence of each secret is replaced by
/// `<redacted>` before cutting, so not even a part of one survives.
pub(crate) fn excerpt(body: &[u8], secrets: &[&str]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut text = html_title(&text).unwrap_or(&text).to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, "<redacted>");
    }
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = folded
        .chars()
        .filter(|c| !c.is_control())
        .take(EXCERPT_CHARS)
        .collect();
    if folded.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

fn html_title(text: &str) -> Option<&str> {
    let lower = text.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    let title = text[start..end].trim();
    (!title.is_empty()).then_some(title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_error_displays_status_and_errcode() {
        let err = MatrixError {
            status: 403,
            errcode: "M_FORBIDDEN".into(),
            message: "Invalid username or password".into(),
            retry_after: None,
            soft_logout: false,
        };
        assert_eq!(
            err.to_string(),
            "[403 / M_FORBIDDEN] Invalid username or password"
        );
    }

    #[test]
    fn excerpt_prefers_the_html_title() {
        let page =
            b"<html><head><TITLE>502 Bad Gateway</TITLE></head><body><h1>nginx</h1></body></html>";
        assert_eq!(excerpt(page, &[]), "502 Bad Gateway");
    }

    #[test]
    fn excerpt_is_short_folded_and_scrubbed() {
        let body = format!("oops\n\n  the password was hunter2 {}", "x".repeat(500));
        let out = excerpt(body.as_bytes(), &["hunter2"]);
        assert!(
            out.starts_with("oops the password was <redacted> x"),
            "{out}"
        );
        assert!(!out.contains("hunter2"));
        assert_eq!(out.chars().count(), EXCERPT_CHARS + 1);
    }

    #[test]
    fn a_secret_cut_by_the_excerpt_limit_is_still_scrubbed() {
        let secret = "syt_secretsecretsecret";
        let body = format!("{}{secret}", "a".repeat(EXCERPT_CHARS - 5));
        let out = excerpt(body.as_bytes(), &[secret]);
        assert!(!out.contains("syt_s"), "{out}");
    }
}
