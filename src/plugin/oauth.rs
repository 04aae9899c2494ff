//! OAuth 2.0 as the commands show it.

use std::time::SystemTime;

use nu_protocol::{LabeledError, Record, Span, Value};

use crate::client::Client;
use crate::error::{Error, ErrorCode};
use crate::oauth::{AuthMetadata, OAuthClient, TokenKind};
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, Failure};
use crate::plugin::browser::account_page;
use crate::plugin::token::text_or_nothing;
use crate::session::Session;

/// What `matrix discover` says of a server's OAuth 2.0 login: its issuer, the account page, and
/// whether it offers the device code; nothing when the server speaks only the legacy API.
pub(crate) fn oauth_record(metadata: Option<&AuthMetadata>, span: Span) -> Value {
    let Some(metadata) = metadata else {
        return Value::nothing(span);
    };
    let mut record = Record::new();
    record.push("issuer", Value::string(&metadata.issuer, span));
    record.push(
        "account_page",
        text_or_nothing(metadata.account_management_uri.as_deref(), span),
    );
    record.push(
        "device_code",
        Value::bool(metadata.offers_device_code(), span),
    );
    Value::record(record, span)
}

/// What a command that the client API of an OAuth 2.0 server does not offer was asked to do, and
/// where to do it instead.
pub(crate) struct Instead<'a> {
    /// What could not be done, as the start of a sentence: "Deleting devices".
    pub(crate) what: &'a str,
    /// The account page's action for it ([`crate::oauth::ACTION_DEVICES_LIST`], ...), or
    /// `None` when the account page cannot do it either.
    pub(crate) action: Option<&'a str>,
    /// What to do instead, when the account page cannot do it.
    pub(crate) otherwise: &'a str,
    /// For one device: its ID.
    pub(crate) device_id: Option<&'a str>,
    /// Where the error points.
    pub(crate) span: Span,
}

/// When `failure` is how a homeserver whose accounts an OAuth 2.0 server runs refuses an
/// endpoint it does not serve (404 or `M_UNRECOGNIZED`, or the OAuth 2.0 server's own 404 page
/// when a proxy sends the path there), the error that says so and where to go instead. The
/// metadata is asked for only then: one more request, on the failure path alone.
pub(crate) fn oauth_instead(
    plugin: &MatrixPlugin,
    active: &Active,
    failure: &Failure,
    instead: Instead<'_>,
) -> Option<LabeledError> {
    let unsupported = match failure {
        Failure::Request(Error::Matrix(err)) => {
            err.status == 404 || err.errcode == ErrorCode::Unrecognized
        }
        Failure::Request(Error::UnexpectedResponse(err)) => err.status == 404,
        _ => false,
    };
    if !unsupported {
        return None;
    }
    let metadata = active
        .client(plugin)
        .and_then(|client| client.auth_metadata())
        .ok()??;
    let page = instead
        .action
        .and_then(|action| metadata.account_url(action, instead.device_id));
    let help = match page {
        Some(url) => format!(
            "do it on the account page of {}: {}",
            metadata.issuer,
            account_page(&url)
        ),
        None => format!(
            "{} (the OAuth 2.0 server is {})",
            instead.otherwise, metadata.issuer
        ),
    };
    Some(
        LabeledError::new(format!(
            "{} is not offered here: this homeserver's accounts are run by an OAuth 2.0 server",
            instead.what
        ))
        .with_label("not in the client API of an OAuth 2.0 server", instead.span)
        .with_help(help)
        .with_code("matrix::oauth_account_page"),
    )
}

/// Ends a session: an OAuth 2.0 one by revoking its tokens ([`revoke_session`]); any other by
/// `POST /logout`.
pub(crate) fn end_session(client: &Client, session: &Session) -> Result<(), Error> {
    match &session.oauth {
        Some(oauth) => revoke_session(client, session, oauth).map_err(|failed| failed.err),
        None => client.logout(&session.access_token),
    }
}

/// Why an OAuth 2.0 session did not end.
pub(crate) struct NotRevoked {
    pub(crate) err: Error,
    /// The refresh token was revoked before the access token's revocation failed.
    pub(crate) refresh_revoked: bool,
}

/// Ends an OAuth 2.0 session at its server (RFC 7009): the refresh token first (on most servers
/// that ends the whole session), then the access token.
pub(crate) fn revoke_session(
    client: &Client,
    session: &Session,
    oauth: &OAuthClient,
) -> Result<(), NotRevoked> {
    let mut refresh_revoked = false;
    if let Some(refresh_token) = &session.refresh_token {
        client
            .revoke_oauth(oauth, refresh_token, TokenKind::Refresh)
            .map_err(|err| NotRevoked {
                err,
                refresh_revoked,
            })?;
        refresh_revoked = true;
    }
    client
        .revoke_oauth(oauth, &session.access_token, TokenKind::Access)
        .map_err(|err| NotRevoked {
            err,
            refresh_revoked,
        })
}

/// The error of a revocation that failed: what is still valid, and that the saved session is
/// kept.
pub(crate) fn not_revoked(session: &Session, failed: &NotRevoked, span: Span) -> LabeledError {
    let left = session
        .expires_at
        .and_then(|at| at.duration_since(SystemTime::now()).ok())
        .map_or_else(String::new, |left| {
            format!(" (for about {} more seconds)", left.as_secs())
        });
    let (label, still) = if failed.refresh_revoked {
        (
            "the access token is still valid".to_owned(),
            format!(
                "The refresh token is revoked, so the session cannot be renewed, but its access \
                 token stays valid until it expires{left}."
            ),
        )
    } else {
        (
            "nothing was revoked".to_owned(),
            format!("The access token{left} and the refresh token are both still valid."),
        )
    };
    LabeledError::new("The OAuth 2.0 server did not revoke the session")
        .with_label(label, span)
        .with_help(format!(
            "{still} The saved session is kept: run `matrix logout` again later, or end the \
             session on the account page. The server said: {}",
            failed.err
        ))
        .with_code("matrix::oauth::not_revoked")
}
