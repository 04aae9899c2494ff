//! What a login gives, and what a token says about itself.

use crate::secret::AccessToken;

/// A logged-in session: who, on which device, at which homeserver, with which token.
///
/// `Debug` prints the token masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The full user ID, `@bot:example.org`.
    pub user_id: String,
    /// The device this session's token belongs to.
    pub device_id: String,
    /// The server name (the part of the user ID after the colon).
    pub home_server: String,
    /// The base URL the session talks to, e.g. `https://matrix.example.org`.
    pub homeserver: String,
    /// The access token.
    pub access_token: AccessToken,
}

/// The answer of `GET /account/whoami`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhoAmI {
    /// The user the token belongs to.
    pub user_id: String,
    /// The device, absent for application-service tokens.
    pub device_id: Option<String>,
    /// Whether the user is a guest.
    pub is_guest: bool,
}
