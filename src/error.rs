//! Errors, in layers: the request never got an answer ([`Error::Transport`]), the homeserver
//! answered with a Matrix error ([`Error::Matrix`]), or the answer was not what a homeserver
//! sends ([`Error::UnexpectedResponse`], [`Error::Redirect`]). Input refused before anything was
//! sent is [`Error::Input`].
//!
//! No error holds a password or token: response excerpts are cut short and scrubbed of the
//! secrets of the request they answer, and JSON answers are described, never quoted.
//!
//! This is the crate's bottom layer: every error type of the library lives here, split by layer
//! (`transport`, `answers`, `encryption`, `input`), and uses nothing else of the crate. The modules that raise them re-export them where a user
//! would look (`ids::InputError`, `discovery::DiscoveryError`, `sso::SsoError`).

mod answers;
mod encryption;
mod input;
mod transport;

use std::fmt;

pub use answers::{ErrorCode, MasAdminError, MatrixError, OAuthError, UnexpectedResponse};
pub use encryption::{E2eeError, E2eeKind};
pub use input::{DiscoveryError, InputError, Outcome, SsoError};
pub use transport::{TransportError, TransportKind};

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

#[cfg(test)]
mod tests;
