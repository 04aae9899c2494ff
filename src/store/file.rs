//! The session file's JSON form, and its conversion to and from [`SavedSessions`].
//!
//! Format 1 has every session's tokens in the file. Format 2 adds sessions whose tokens are in
//! the system keyring: such a session has a `keyring` key (its item's key) instead of tokens,
//! and so may a saved admin client instead of its secret. A file is written as format 2 only
//! while it has such an entry, so that older versions of this plugin keep reading files that do
//! not need the new form.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::keyring::Tokens;
use super::{Kept, Listened, SavedAdminClient, SavedSession, SavedSessions, Secrets};
use crate::ids::UserId;
use crate::secret::{AccessToken, Password};
use crate::session::OAuthClient;
use crate::unix_ms;

/// The newest format this code reads and writes.
pub(super) const FORMAT_VERSION: u32 = 2;
/// The format of a file with no session in the keyring.
const FORMAT_ALL_IN_FILE: u32 = 1;

#[derive(Serialize, Deserialize)]
pub(super) struct StoredFile {
    pub version: u32,
    default: Option<String>,
    sessions: BTreeMap<String, StoredSession>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    oauth_clients: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    needs_login: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    admin_clients: BTreeMap<String, StoredAdminClient>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    listened: BTreeMap<String, Listened>,
}

#[derive(Serialize, Deserialize)]
struct StoredSession {
    user_id: UserId,
    device_id: String,
    home_server: String,
    homeserver: String,
    /// Absent when the tokens are in the keyring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_token: Option<Zeroizing<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<Zeroizing<String>>,
    /// The key of the device's crypto store, once it has one (with the tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crypto_store_key: Option<Zeroizing<String>>,
    /// The key of the keyring item that holds the tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keyring: Option<String>,
    #[serde(default)]
    expires_at_ms: Option<u64>,
    /// What refresh and revocation need, for sessions of an OAuth 2.0 login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    oauth: Option<OAuthClient>,
}

/// A saved admin client as the file holds it.
#[derive(PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct StoredAdminClient {
    homeserver: String,
    home_server: String,
    issuer: String,
    token_endpoint: String,
    client_id: String,
    /// Absent when the secret is in the keyring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret: Option<Zeroizing<String>>,
    /// The key of the keyring item that holds the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keyring: Option<String>,
}

impl SavedAdminClient {
    pub(super) fn stored(&self) -> StoredAdminClient {
        StoredAdminClient {
            homeserver: self.homeserver.clone(),
            home_server: self.home_server.clone(),
            issuer: self.issuer.clone(),
            token_endpoint: self.token_endpoint.clone(),
            client_id: self.client_id.clone(),
            client_secret: match &self.client_secret {
                Kept::File(secret) => Some(Zeroizing::new(secret.expose().to_owned())),
                Kept::Keyring { .. } => None,
            },
            keyring: match &self.client_secret {
                Kept::File(_) => None,
                Kept::Keyring { key } => Some(key.clone()),
            },
        }
    }
}

impl StoredAdminClient {
    /// `None` when the entry has neither a secret nor a keyring key.
    fn into_saved(self) -> Option<SavedAdminClient> {
        let client_secret = match (self.client_secret, self.keyring) {
            (Some(secret), _) => Kept::File(Password::new(secret.to_string())),
            (None, Some(key)) => Kept::Keyring { key },
            (None, None) => return None,
        };
        Some(SavedAdminClient {
            homeserver: self.homeserver,
            home_server: self.home_server,
            issuer: self.issuer,
            token_endpoint: self.token_endpoint,
            client_id: self.client_id,
            client_secret,
        })
    }
}

impl StoredFile {
    /// The file form of `saved`.
    pub(super) fn of(saved: &SavedSessions) -> Self {
        let in_keyring = saved
            .sessions
            .values()
            .any(|session| matches!(session.secrets, Secrets::Keyring { .. }))
            || saved
                .admin_clients
                .values()
                .any(|admin| matches!(admin.client_secret, Kept::Keyring { .. }));
        Self {
            version: if in_keyring {
                FORMAT_VERSION
            } else {
                FORMAT_ALL_IN_FILE
            },
            default: saved.default.clone(),
            sessions: saved
                .sessions
                .iter()
                .map(|(name, session)| (name.clone(), StoredSession::of(session)))
                .collect(),
            oauth_clients: saved.oauth_clients.clone(),
            needs_login: saved.needs_login.clone(),
            admin_clients: saved
                .admin_clients
                .iter()
                .map(|(name, admin)| (name.clone(), admin.stored()))
                .collect(),
            listened: saved.listened.clone(),
        }
    }

    /// The saved sessions; an error names the session whose entry is not whole.
    pub(super) fn into_saved(self) -> Result<SavedSessions, String> {
        let mut sessions = BTreeMap::new();
        for (name, stored) in self.sessions {
            let session = stored.into_saved().ok_or_else(|| {
                format!("has neither tokens nor a keyring reference for session '{name}'")
            })?;
            sessions.insert(name, session);
        }
        let mut admin_clients = BTreeMap::new();
        for (name, stored) in self.admin_clients {
            let admin = stored.into_saved().ok_or_else(|| {
                format!("has neither a secret nor a keyring reference for admin client '{name}'")
            })?;
            admin_clients.insert(name, admin);
        }
        let needs_login = self
            .needs_login
            .into_iter()
            .filter(|name| sessions.contains_key(name))
            .collect();
        let listened = self
            .listened
            .into_iter()
            .filter(|(name, _)| sessions.contains_key(name))
            .collect();
        Ok(SavedSessions {
            default: self.default,
            sessions,
            oauth_clients: self.oauth_clients,
            needs_login,
            admin_clients,
            listened,
        })
    }
}

impl StoredSession {
    fn of(session: &SavedSession) -> Self {
        let reveal = |token: &AccessToken| Zeroizing::new(token.reveal().to_owned());
        let (access_token, refresh_token, crypto_store_key, keyring) = match &session.secrets {
            Secrets::File(tokens) => (
                Some(reveal(&tokens.access_token)),
                tokens.refresh_token.as_ref().map(reveal),
                tokens
                    .crypto_store_key
                    .as_ref()
                    .map(|key| Zeroizing::new(key.expose().to_owned())),
                None,
            ),
            Secrets::Keyring { key } => (None, None, None, Some(key.clone())),
        };
        Self {
            user_id: session.user_id.clone(),
            device_id: session.device_id.clone(),
            home_server: session.home_server.clone(),
            homeserver: session.homeserver.clone(),
            access_token,
            refresh_token,
            crypto_store_key,
            keyring,
            expires_at_ms: session.expires_at.map(unix_ms::from_time),
            oauth: session.oauth.clone(),
        }
    }

    /// `None` when the entry has neither tokens nor a keyring key.
    fn into_saved(self) -> Option<SavedSession> {
        let wrap = |token: Zeroizing<String>| AccessToken::new(token.to_string());
        let secrets = match (self.access_token, self.keyring) {
            (Some(access_token), _) => Secrets::File(Tokens {
                access_token: wrap(access_token),
                refresh_token: self.refresh_token.map(wrap),
                crypto_store_key: self
                    .crypto_store_key
                    .map(|key| Password::new(key.to_string())),
            }),
            (None, Some(key)) => Secrets::Keyring { key },
            (None, None) => return None,
        };
        Some(SavedSession {
            user_id: self.user_id,
            device_id: self.device_id,
            home_server: self.home_server,
            homeserver: self.homeserver,
            expires_at: self.expires_at_ms.map(unix_ms::to_time),
            oauth: self.oauth,
            secrets,
        })
    }
}
