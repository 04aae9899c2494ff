//! What the OAuth 2.0 sign-ins share: how long and how to wait for the user, and this program's
//! registrations as an OAuth 2.0 client, one per server.

use std::time::Duration;

use nu_protocol::{LabeledError, Span};

use crate::client::Client;
use crate::error::Error;
use crate::oauth::{AuthMetadata, ClientMetadata, DEVICE_CODE_GRANT, LOOPBACK_REDIRECT_URI};
use crate::plugin::errors::{self, Blame};
use crate::store::{SessionStore, StoreError};

/// What the OAuth 2.0 server shows of this program on its consent page.
const CLIENT_NAME: &str = "nu_plugin_matrix (Nushell)";

/// How long and how to wait for the user.
pub(crate) struct Wait {
    /// `--oauth-timeout`.
    pub(crate) limit: Option<Duration>,
    pub(crate) no_browser: bool,
    /// Where OAuth 2.0 was asked for (the flag, or the command).
    pub(crate) flag: Span,
}

/// This program's registrations as an OAuth 2.0 client, one per server, kept in the session
/// file by issuer.
pub(crate) struct Registry<'a> {
    pub(crate) client: &'a Client,
    pub(crate) metadata: &'a AuthMetadata,
    pub(crate) store: Option<SessionStore>,
    /// The page about this program that consent pages link to.
    pub(crate) client_uri: &'a str,
    /// Where OAuth 2.0 was asked for, and what else errors point at.
    pub(crate) flag: Span,
    pub(crate) blame: &'a Blame,
}

impl Registry<'_> {
    /// The client_id kept for this server, if any.
    pub(crate) fn remembered(&self) -> Option<String> {
        let saved = self.store.as_ref()?.load().ok()?;
        saved.oauth_clients.get(&self.metadata.issuer).cloned()
    }

    /// Registers this program with the server (for every grant it may use there) and keeps the
    /// client_id. A refusal says what the server's admin can allow.
    pub(crate) fn register(&self) -> Result<String, LabeledError> {
        let mut grant_types = vec!["authorization_code".to_owned(), "refresh_token".to_owned()];
        if self.metadata.offers_device_code() {
            grant_types.push(DEVICE_CODE_GRANT.to_owned());
        }
        let client_id = self.client.register_oauth_client(
            self.metadata,
            &ClientMetadata {
                client_name: CLIENT_NAME.into(),
                client_uri: self.client_uri.into(),
                redirect_uris: vec![LOOPBACK_REDIRECT_URI.to_owned()],
                grant_types,
            },
        );
        let client_id = client_id.map_err(|err| match err {
            Error::OAuth(err) => {
                LabeledError::new("The OAuth 2.0 server refused to register this program")
                    .with_label(format!("registration refused: {}", err.error), self.flag)
                    .with_help(format!(
                        "{} must allow dynamic registration of native clients (MAS: its policy \
                         decides); if it wants another page about the client, set \
                         $env.config.plugins.matrix.oauth_client_uri. The server said: {err}",
                        self.metadata.issuer
                    ))
                    .with_code("matrix::oauth::registration_refused")
            }
            other => errors::login(other, self.blame),
        })?;
        // Not kept (a session file that cannot be written): the next login registers again.
        if let Some(store) = &self.store {
            let _ = store.update(|saved| {
                saved
                    .oauth_clients
                    .insert(self.metadata.issuer.clone(), client_id.clone());
                Ok::<_, StoreError>(())
            });
        }
        Ok(client_id)
    }
}
