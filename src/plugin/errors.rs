//! Library errors as Nushell errors: a message, a label on the argument to blame, and help that
//! says what to do. No message holds a password or token (the library's errors hold none).

use nu_protocol::{LabeledError, Span};

use crate::error::{
    DiscoveryError, Error, ErrorCode, InputError, MatrixError, Outcome, TransportError,
    TransportKind, UnexpectedResponse,
};
use crate::plugin::browser::account_page;
use crate::store::StoreError;
use crate::uia::password_completes;

mod e2ee;
mod login;
mod mas_admin;
pub(crate) use login::{login, no_password_login};
pub(crate) use mas_admin::ADMIN_LOGIN;

/// Where an error can point.
#[derive(Clone)]
pub(crate) struct Blame {
    /// The command name.
    pub head: Span,
    /// The argument that named the homeserver: `--homeserver`, or the user ID it came from.
    pub homeserver: Span,
    /// True when the homeserver URL was made from the user ID's server name.
    pub homeserver_guessed: bool,
    /// The user argument, and its text.
    pub user: Span,
    pub user_text: String,
}

impl Blame {
    /// Blame for a command working with a session: the session's origin stands for both the
    /// user and the homeserver.
    pub fn session(head: Span, span: Span, user_id: &str) -> Self {
        Self {
            head,
            homeserver: span,
            homeserver_guessed: false,
            user: span,
            user_text: user_id.to_owned(),
        }
    }
}

/// A refused argument.
pub(crate) fn input(err: InputError, span: Span) -> LabeledError {
    LabeledError::new(capitalise(&err.problem))
        .with_label("invalid argument", span)
        .with_help(err.hint)
}

/// A library error that can only be about input, at this span.
pub(crate) fn input_of(err: Error, span: Span) -> LabeledError {
    match err {
        Error::Input(err) => input(err, span),
        other => LabeledError::new(other.to_string()).with_label("failed", span),
    }
}

/// Errors every request can meet: no answer, a redirect, an answer that is not Matrix.
pub(crate) fn request(err: Error, blame: &Blame) -> LabeledError {
    match err {
        Error::Transport(err) => transport(&err, blame),
        Error::UnexpectedResponse(err) => not_matrix(&err, blame),
        Error::Redirect {
            url,
            status,
            location,
        } => {
            let target = location.as_deref().unwrap_or("a URL it did not give");
            LabeledError::new(format!(
                "The homeserver answered with a redirect (HTTP {status})"
            ))
            .with_label(format!("{url} redirects to {target}"), blame.homeserver)
            .with_help(
                "redirects are not followed, so that a password or token only goes where \
                     you sent it; if the new address is right, pass its base URL as --homeserver \
                     (for example with https:// instead of http://)",
            )
        }
        Error::Input(err) => input(err, blame.homeserver),
        Error::Matrix(err) => matrix(&err, blame),
        Error::Discovery(err) => discovery(&err, blame),
        Error::Interrupted { url } => LabeledError::new("Interrupted")
            .with_label("stopped before the server answered", blame.head)
            .with_help(format!(
                "nothing more is waited for; a request already sent to {} may still take effect",
                base_of(&url)
            )),
        Error::OAuth(err) if err.error == "invalid_grant" => {
            LabeledError::new("The OAuth 2.0 server no longer accepts this session's refresh token")
                .with_label("refresh token refused", blame.user)
                .with_help(format!(
                    "it was used or revoked elsewhere, or the session ended: log in again \
                     (`matrix login --oauth`); the server said: {err}"
                ))
                .with_code("matrix::oauth::invalid_grant")
        }
        Error::OAuth(err) => LabeledError::new("The OAuth 2.0 server refused the request")
            .with_label(err.error.clone(), blame.head)
            .with_help(format!("the server said: {err}"))
            .with_code(format!("matrix::oauth::{}", err.error)),
        Error::MasAdmin(err) => mas_admin::refused(&err, blame),
        Error::E2ee(err) => e2ee::refused(&err, blame),
        Error::Sso(err) => LabeledError::new("The single sign-on did not finish")
            .with_label(err.to_string(), blame.head)
            .with_help("try again; `matrix login --help` describes the flow"),
        Error::AuthRequired {
            account_url: Some(url),
            ..
        } => LabeledError::new("The homeserver asks to approve this on its account page")
            .with_label("needs approval in the browser", blame.head)
            .with_help(format!(
                "its accounts are run by an OAuth 2.0 server: {}, approve there, then run the \
                 command again",
                account_page(&url)
            ))
            .with_code("matrix::oauth_account_page"),
        Error::AuthRequired { flows, .. } => {
            let offered: Vec<String> = flows.iter().map(|flow| flow.join(" + ")).collect();
            LabeledError::new("The homeserver asks to confirm this with your password")
                .with_label("needs authentication", blame.head)
                .with_help(if password_completes(&flows) {
                    "give the password: pipe it in, use --password (input -s), or run the \
                     command in a terminal to be asked"
                        .to_owned()
                } else {
                    format!(
                        "the server offers no password confirmation (it offers: {}); do this \
                         in Element or another client that supports it",
                        offered.join(", ")
                    )
                })
        }
    }
}

/// Discovery that found no usable homeserver, in the spec's two kinds.
fn discovery(err: &DiscoveryError, blame: &Blame) -> LabeledError {
    let server = &err.server_name;
    match err.outcome {
        Outcome::FailPrompt => {
            LabeledError::new(format!("Could not find the homeserver of {server}"))
                .with_label(
                    format!("discovery found nothing: {}", err.problem),
                    blame.homeserver,
                )
                .with_help(format!(
                    "{} gave no usable answer. Give the homeserver's base URL yourself: \
                 --homeserver https://matrix.{server} (or whatever the server's admin says), \
                 or set $env.config.plugins.matrix.homeserver",
                    err.url
                ))
        }
        Outcome::FailError => LabeledError::new(format!(
            "The server {server} delegates to a broken homeserver address"
        ))
        .with_label(
            format!("broken delegation: {}", err.problem),
            blame.homeserver,
        )
        .with_help(format!(
            "{} points somewhere that does not work; its admin should fix it. Meanwhile \
                 give the right base URL with --homeserver",
            err.url
        )),
    }
}

/// Errors of a request made with a session's token.
pub(crate) fn token(err: Error, blame: &Blame) -> LabeledError {
    // A token given alone (`matrix token import`) belongs to nobody known yet.
    let whose = if blame.user_text.is_empty() {
        "The token".to_owned()
    } else {
        format!("The token of {}", blame.user_text)
    };
    match err {
        Error::Matrix(err) if err.errcode == ErrorCode::UnknownToken && err.soft_logout => {
            LabeledError::new(format!("{whose} has expired"))
                .with_label("expired token", blame.user)
                .with_help(format!(
                    "refresh it with `matrix refresh` if the session has a refresh token, or \
                     log in again with the same device (--device-id) to keep it; the server \
                     said: {err}"
                ))
                .with_code("matrix::M_UNKNOWN_TOKEN")
        }
        Error::Matrix(err) if err.errcode == ErrorCode::UnknownToken => {
            LabeledError::new(format!("{whose} is no longer valid"))
                .with_label("logged out or revoked", blame.user)
                .with_help(format!(
                    "the token was logged out (by `matrix logout`, Element's session list or \
                     an admin) or never existed here; log in again: `matrix login {}`; the \
                     server said: {err}",
                    if blame.user_text.is_empty() {
                        "<user>"
                    } else {
                        &blame.user_text
                    }
                ))
                .with_code("matrix::M_UNKNOWN_TOKEN")
        }
        other => request(other, blame),
    }
}

/// Any other Matrix error: its errcode and message, and the wait if rate-limited.
fn matrix(err: &MatrixError, blame: &Blame) -> LabeledError {
    match err.errcode.to_string().as_str() {
        "M_TOO_LARGE" => {
            return LabeledError::new("Too large for the homeserver")
                .with_label("an event is at most 65,536 bytes", blame.head)
                .with_help(format!(
                    "an event, with its text, reason or file name, is at most 65,536 bytes of \
                     JSON (encrypted, it grows by about a third): make it shorter, or send a \
                     long text as a file (`--file`); the server said: {err}"
                ))
                .with_code("matrix::M_TOO_LARGE");
        }
        "M_DUPLICATE_ANNOTATION" => {
            return LabeledError::new("Already reacted with this key")
                .with_label("the same reaction is there", blame.head)
                .with_help("a user reacts with each key once; redact the reaction to take it back")
                .with_code("matrix::M_DUPLICATE_ANNOTATION");
        }
        _ => {}
    }
    let help = match err.retry_after {
        Some(wait) if err.errcode == ErrorCode::LimitExceeded => {
            format!(
                "rate-limited: wait {} s and try again",
                wait.as_secs().max(1)
            )
        }
        _ => format!("the server said: {err}"),
    };
    LabeledError::new("The homeserver refused the request")
        .with_label(format!("{} {}", err.status, err.errcode), blame.head)
        .with_help(help)
        .with_code(format!("matrix::{}", err.errcode))
}

/// A session file that cannot be used.
pub(crate) fn store(err: StoreError, span: Span) -> LabeledError {
    LabeledError::new(capitalise(&err.problem))
        .with_label(format!("while using {}", err.path.display()), span)
        .with_help(err.hint)
}

fn transport(err: &TransportError, blame: &Blame) -> LabeledError {
    let (what, help) = match err.kind {
        TransportKind::ConnectionRefused => (
            "connection refused".to_owned(),
            "nothing is listening there: check the host and port, and that the homeserver runs"
                .to_owned(),
        ),
        TransportKind::HostNotFound => (
            "host not found".to_owned(),
            "the host name does not resolve: check its spelling".to_owned(),
        ),
        TransportKind::CertificateUntrusted => (
            "certificate not trusted".to_owned(),
            "the server's certificate is not signed by a trusted authority. If the homeserver \
             uses a private CA, trust it with $env.config.plugins.matrix.ca_file = <its PEM \
             file>; never turn checking off"
                .to_owned(),
        ),
        TransportKind::CertificateForAnotherHost => (
            "certificate for another host name".to_owned(),
            "the server's certificate does not name this host: check the URL (the certificate \
             may name matrix.example.org rather than an IP address)"
                .to_owned(),
        ),
        TransportKind::Tls => (
            "TLS failed".to_owned(),
            format!(
                "the secure connection could not be set up ({}): check the certificate, and \
                 whether the server speaks https at all",
                err.detail
            ),
        ),
        TransportKind::Timeout => (
            "no answer in time".to_owned(),
            "the server accepted nothing or answered nothing in time: it may be down or \
             overloaded, or a firewall drops the traffic"
                .to_owned(),
        ),
        TransportKind::CutShort => (
            "the answer was cut short".to_owned(),
            format!(
                "the connection closed before the whole answer came ({}): the server or a proxy \
                 in front of it dropped it; try again",
                err.detail
            ),
        ),
        TransportKind::Other => ("the connection failed".to_owned(), err.detail.clone()),
    };
    let base = base_of(&err.url);
    let message = match err.kind {
        TransportKind::CutShort => format!("The answer of the homeserver at {base} was cut short"),
        _ => format!("Could not reach the homeserver at {base}"),
    };
    LabeledError::new(message)
        .with_label(what, blame.homeserver)
        .with_help(with_guess_hint(help, blame))
}

fn not_matrix(err: &UnexpectedResponse, blame: &Blame) -> LabeledError {
    let mut label = format!("HTTP {}", err.status);
    if let Some(content_type) = &err.content_type {
        label.push_str(&format!(
            ", {}",
            content_type.split(';').next().unwrap_or_default()
        ));
    }
    if err.excerpt.is_empty() {
        label.push_str(&format!(": {}", err.problem));
    } else {
        label.push_str(&format!(": \"{}\"", err.excerpt));
    }
    let help = format!(
        "{} at {}. Is this the homeserver's client API? Pass its base URL as --homeserver, \
         e.g. https://matrix.example.org",
        capitalise(&err.problem),
        err.url
    );
    let message = if (200..300).contains(&err.status) {
        format!(
            "{} sent an answer the Matrix spec does not allow",
            base_of(&err.url)
        )
    } else {
        format!(
            "{} did not answer like a Matrix homeserver",
            base_of(&err.url)
        )
    };
    LabeledError::new(message)
        .with_label(label, blame.homeserver)
        .with_help(with_guess_hint(help, blame))
}

fn with_guess_hint(help: String, blame: &Blame) -> String {
    if blame.homeserver_guessed {
        format!(
            "{help}. The homeserver was found by discovery from the user ID's server name; \
             pass --homeserver to use another"
        )
    } else {
        help
    }
}

/// `https://host/path/_matrix/...` -> `https://host/path`.
fn base_of(url: &str) -> &str {
    url.find("/_matrix/").map_or(url, |at| &url[..at])
}

pub(crate) fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl From<StoreError> for LabeledError {
    fn from(err: StoreError) -> Self {
        LabeledError::new(capitalise(&err.problem)).with_help(format!(
            "{} ({})",
            err.hint,
            err.path.display()
        ))
    }
}

#[cfg(test)]
mod tests;
