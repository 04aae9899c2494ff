//! OAuth 2.0 as the commands show it.

use nu_protocol::{Record, Span, Value};

use crate::oauth::AuthMetadata;
use crate::plugin::token::text_or_nothing;

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
