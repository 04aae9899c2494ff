//! OAuth 2.0 as the commands show it.

use nu_protocol::{LabeledError, Record, Span, Value};

use crate::client::Client;
use crate::error::{Error, ErrorCode};
use crate::oauth::{AuthMetadata, TokenKind};
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, Failure};
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
        Some(url) => format!("do it on the account page of {}: {url}", metadata.issuer),
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

/// Ends a session: an OAuth 2.0 one by revoking its refresh token, then its access token, at its
/// server (RFC 7009); any other by `POST /logout`.
pub(crate) fn end_session(client: &Client, session: &Session) -> Result<(), Error> {
    let Some(oauth) = &session.oauth else {
        return client.logout(&session.access_token);
    };
    if let Some(refresh_token) = &session.refresh_token {
        client.revoke_oauth(oauth, refresh_token, TokenKind::Refresh)?;
    }
    client.revoke_oauth(oauth, &session.access_token, TokenKind::Access)
}
