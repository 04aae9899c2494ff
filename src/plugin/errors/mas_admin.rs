//! Refusals of MAS's admin API, as Nushell errors.

use nu_protocol::LabeledError;

use super::Blame;
use crate::error::MasAdminError;

/// How `matrix login` gets a session that may use the admin API.
pub(crate) const ADMIN_LOGIN: &str = "log in as an admin with `matrix login <user> --oauth \
    --admin` (MAS lets the users listed in its `policy.data.admin_users` ask for the admin scope)";

/// A refusal of MAS's admin API, by what it means for the user.
pub(super) fn refused(err: &MasAdminError, blame: &Blame) -> LabeledError {
    let title = err.title.as_deref().unwrap_or_default();
    let (message, label, help) = match (err.status, title) {
        (404, "") => (
            "MAS's admin API is not served here".to_owned(),
            format!("nothing at {}", err.url),
            "MAS serves it on the listeners that have the `adminapi` resource \
             (mas.yaml: `http.listeners[].resources`), at <issuer>api/admin/v1/; ask the \
             server's admin to add it where you can reach it"
                .to_owned(),
        ),
        (401, "Missing urn:mas:admin scope") => (
            "This session may not use MAS's admin API".to_owned(),
            "no urn:mas:admin scope".to_owned(),
            ADMIN_LOGIN.to_owned(),
        ),
        (401, "Invalid type of access token") => (
            "This session's token cannot use MAS's admin API".to_owned(),
            "not an OAuth 2.0 or personal token".to_owned(),
            format!(
                "a password login gives a compatibility token (mct_), which it refuses: {ADMIN_LOGIN}"
            ),
        ),
        (401, _) => (
            "MAS refused this session's token".to_owned(),
            title.to_owned(),
            format!("log in again: {ADMIN_LOGIN}"),
        ),
        // MAS answers 409 for more than one conflict: its title tells which.
        (409, _) if title.contains("already revoked") => (
            "This token is already revoked".to_owned(),
            title.to_owned(),
            "nothing to do: it no longer works (`matrix admin tokens` shows when it was revoked)"
                .to_owned(),
        ),
        (409, _) if title.contains("username") || title.contains("already exists") => (
            "MAS refused: the name is taken".to_owned(),
            title.to_owned(),
            "choose another user name, or use the existing user".to_owned(),
        ),
        (409, _) => (
            "MAS refused: it conflicts with what is there".to_owned(),
            title.to_owned(),
            format!("MAS said: {err}"),
        ),
        _ => (
            "MAS's admin API refused the request".to_owned(),
            format!("{err}"),
            format!("MAS said: {err}"),
        ),
    };
    LabeledError::new(message)
        .with_label(label, blame.head)
        .with_help(help)
        .with_code(format!("matrix::mas_admin::{}", err.status))
}
