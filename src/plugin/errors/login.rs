//! The errors of logins: a refused password, a login type the server does not offer.

use nu_protocol::LabeledError;

use super::{Blame, request};
use crate::error::{Error, ErrorCode, MatrixError};
use crate::login::LoginFlow;

/// Any error of a login.
pub(crate) fn login(err: Error, blame: &Blame) -> LabeledError {
    match err {
        Error::Matrix(err) => login_refused(&err, blame),
        other => request(other, blame),
    }
}

/// A password login the server refused as an unknown login type: says what it offers instead,
/// from `GET /login` (`flows`), or that it only speaks the OAuth 2.0 API.
pub(crate) fn no_password_login(
    flows: Result<Vec<LoginFlow>, Error>,
    refusal: MatrixError,
    blame: &Blame,
) -> LabeledError {
    match flows {
        Ok(flows) if !flows.iter().any(|flow| flow.kind == "m.login.password") => {
            let offered: Vec<String> = flows
                .iter()
                .map(|flow| {
                    let providers: Vec<&str> = flow
                        .identity_providers
                        .iter()
                        .map(|idp| {
                            if idp.name.is_empty() {
                                idp.id.as_str()
                            } else {
                                idp.name.as_str()
                            }
                        })
                        .collect();
                    if providers.is_empty() {
                        flow.kind.clone()
                    } else {
                        format!("{} ({})", flow.kind, providers.join(", "))
                    }
                })
                .collect();
            LabeledError::new("This homeserver offers no password login")
                .with_label(
                    format!("it offers: {}", offered.join(", ")),
                    blame.homeserver,
                )
                .with_help(if flows.iter().any(|flow| flow.kind == "m.login.sso") {
                    "sign in in the browser instead: `matrix login --sso` (add --idp <id> to pick \
                     a provider; `matrix flows` lists them)"
                } else {
                    "log in the way it offers (e.g. in Element, then copy the access token) and \
                     wrap the token with `matrix token import`; `matrix flows` lists the login \
                     types"
                })
                .with_code("matrix::no_password_login")
        }
        Err(Error::Matrix(err)) if err.errcode == ErrorCode::Unrecognized => LabeledError::new(
            "This homeserver only offers OAuth 2.0 logins (such as matrix-authentication-service)",
        )
        .with_label("no /_matrix/client/v3/login here", blame.homeserver)
        .with_help(
            "password logins through the client API are off: log in with `matrix login --oauth` \
             (a code to approve on any device), or have an admin issue a token with `mas-cli \
             manage issue-compatibility-token <user>` and wrap it with `matrix token import`",
        )
        .with_code("matrix::oauth_only"),
        _ => login(Error::Matrix(refusal), blame),
    }
}

fn login_refused(err: &MatrixError, blame: &Blame) -> LabeledError {
    let user = &blame.user_text;
    let said = format!("the server said: {err}");
    let (message, label, help) = match &err.errcode {
        ErrorCode::Forbidden => (
            format!("Login refused for {user}"),
            "wrong password or unknown user".to_owned(),
            format!("check the user name and the password; {said}"),
        ),
        ErrorCode::UserDeactivated => (
            format!("The account {user} is deactivated"),
            "deactivated account".to_owned(),
            format!("a server admin can reactivate it; {said}"),
        ),
        ErrorCode::UserLocked => (
            format!("The account {user} is locked"),
            "locked account".to_owned(),
            format!("a server admin must unlock it; {said}"),
        ),
        ErrorCode::UserSuspended => (
            format!("The account {user} is suspended"),
            "suspended account".to_owned(),
            format!("a server admin can lift the suspension; {said}"),
        ),
        ErrorCode::LimitExceeded => (
            format!("Too many login attempts for {user}"),
            "rate-limited".to_owned(),
            match err.retry_after {
                Some(wait) => format!("wait {} s and try again; {said}", wait.as_secs().max(1)),
                None => format!("wait a while and try again; {said}"),
            },
        ),
        ErrorCode::Unrecognized => (
            "This homeserver offers no password login".to_owned(),
            "no /_matrix/client/v3/login here".to_owned(),
            format!(
                "it may delegate logins to an OAuth 2.0 server (MAS): try `matrix login --oauth`; \
                 or this is not the client API's base URL; {said}"
            ),
        ),
        _ => (
            format!("The homeserver refused the login of {user}"),
            err.errcode.to_string(),
            said,
        ),
    };
    let span = if err.errcode == ErrorCode::Unrecognized {
        blame.homeserver
    } else {
        blame.user
    };
    LabeledError::new(message)
        .with_label(label, span)
        .with_help(help)
        .with_code(format!("matrix::{}", err.errcode))
}
