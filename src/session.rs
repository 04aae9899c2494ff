//! What a login gives, and what a token says about itself.

use std::time::SystemTime;

use crate::ids::UserId;
use crate::secret::AccessToken;

/// A logged-in session: who, on which device, at which homeserver, with which token.
///
/// `Debug` prints the token masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The full user ID, `@bot:example.org`.
    pub user_id: UserId,
    /// The device this session's token belongs to.
    pub device_id: String,
    /// The server name (the part of the user ID after the colon).
    pub home_server: String,
    /// The base URL the session talks to, e.g. `https://matrix.example.org`.
    pub homeserver: String,
    /// The access token.
    pub access_token: AccessToken,
    /// The refresh token, when the login asked for one and the server issued it.
    pub refresh_token: Option<AccessToken>,
    /// When the access token expires; `None` when it does not.
    pub expires_at: Option<SystemTime>,
    /// For a session from an OAuth 2.0 login: what refreshing and revoking its tokens need.
    pub oauth: Option<OAuthClient>,
}

/// The answer of `POST /refresh`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refreshed {
    /// The new access token.
    pub access_token: AccessToken,
    /// The new refresh token; `None` means the old one stays valid.
    pub refresh_token: Option<AccessToken>,
    /// When the new access token expires.
    pub expires_at: Option<SystemTime>,
}

/// One of the user's devices, from `GET /devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The device ID.
    pub device_id: String,
    /// Its display name, if it has one.
    pub display_name: Option<String>,
    /// The IP address it was last seen from.
    pub last_seen_ip: Option<String>,
    /// When it was last seen.
    pub last_seen: Option<SystemTime>,
}

/// The answer of `GET /account/whoami`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhoAmI {
    /// The user the token belongs to.
    pub user_id: UserId,
    /// The device, absent for application-service tokens.
    pub device_id: Option<String>,
    /// Whether the user is a guest.
    pub is_guest: bool,
}

/// What refreshing and revoking the tokens of an OAuth 2.0 session need: the registered client
/// and the server's endpoints. Keep it with the session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OAuthClient {
    /// The server's issuer.
    pub issuer: String,
    /// This program's `client_id` there.
    pub client_id: String,
    /// Where refresh tokens become new tokens.
    pub token_endpoint: String,
    /// Where tokens are revoked.
    pub revocation_endpoint: String,
}
