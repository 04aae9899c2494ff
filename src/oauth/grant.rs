//! Getting tokens from the OAuth 2.0 server: dynamic client registration (RFC 7591) and the
//! device authorization grant (RFC 8628, spec v1.18): "open this address on any device and
//! enter this code", for a tool on a machine without a browser.
//!
//! Spec: <https://spec.matrix.org/v1.18/client-server-api/#device-authorization-flow>

use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use super::{AuthMetadata, DEVICE_CODE_GRANT};
use crate::answer::Fields;
use crate::client::Client;
use crate::error::{Error, InputError};
use crate::http::{Body, POLL};
use crate::secret::{AccessToken, Password, random_hex};
use crate::session::{OAuthClient, Session};

/// The scope of the whole client API.
pub const API_SCOPE: &str = "urn:matrix:client:api:*";

/// The scope that binds the tokens to a device: `urn:matrix:client:device:<device ID>`.
pub fn device_scope(device_id: &str) -> String {
    format!("urn:matrix:client:device:{device_id}")
}

/// The shortest device ID MAS accepts in a device scope.
pub const MIN_DEVICE_ID_LEN: usize = 10;

/// A fresh device ID: 12 random upper-case letters and digits (MAS wants at least 10).
pub fn new_device_id() -> Result<String, Error> {
    let hex = random_hex::<12>().map_err(|err| {
        Error::Input(InputError::new(
            format!("the system gave no random bytes ({err})"),
            "give a device ID with --device-id",
        ))
    })?;
    Ok(hex[..12].to_ascii_uppercase())
}

/// What this program says of itself when it registers as an OAuth 2.0 client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMetadata {
    /// Its name, shown on the consent page.
    pub client_name: String,
    /// An https page about it (the server shows it; MAS requires one).
    pub client_uri: String,
    /// Where the browser comes back after an authorization code grant (loopback addresses).
    pub redirect_uris: Vec<String>,
    /// The grants it will use.
    pub grant_types: Vec<String>,
}

/// What the device authorization endpoint answered: the code to show the user, and the device
/// code to poll with.
#[derive(Debug, Clone)]
pub struct DeviceAuthorization {
    /// The secret the token endpoint is polled with. Masked in `Debug`.
    pub device_code: AccessToken,
    /// The short code the user types on the verification page.
    pub user_code: String,
    /// The page to open on any device.
    pub verification_uri: String,
    /// The same page with the code filled in, when the server gives it.
    pub verification_uri_complete: Option<String>,
    /// When the codes stop working.
    pub expires_at: Instant,
    /// How long to wait between two polls.
    pub interval: Duration,
}

/// The tokens a grant gives.
#[derive(Debug, Clone)]
pub struct OAuthTokens {
    /// The access token for the client API.
    pub access_token: AccessToken,
    /// The refresh token, when the client registered the `refresh_token` grant.
    pub refresh_token: Option<AccessToken>,
    /// When the access token expires (MAS: after 5 minutes).
    pub expires_at: Option<SystemTime>,
    /// The scope granted.
    pub scope: Option<String>,
}

impl OAuthClient {
    /// The client `client_id` of the server `metadata` describes.
    pub fn new(metadata: &AuthMetadata, client_id: impl Into<String>) -> Self {
        Self {
            issuer: metadata.issuer.clone(),
            client_id: client_id.into(),
            token_endpoint: metadata.token_endpoint.clone(),
            revocation_endpoint: metadata.revocation_endpoint.clone(),
        }
    }
}

/// Which token a revocation names (RFC 7009 `token_type_hint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An access token.
    Access,
    /// A refresh token: revoking it ends the whole session on most servers.
    Refresh,
}

/// One poll of the token endpoint during a device authorization grant.
#[derive(Debug)]
pub enum DevicePoll {
    /// Not approved yet: poll again after the interval.
    Pending,
    /// Polling too fast: the interval grows by 5 s.
    SlowDown,
    /// Approved: the tokens.
    Granted(OAuthTokens),
}

/// RFC 8628: the wait between polls grows by this on `slow_down`.
const SLOW_DOWN: Duration = Duration::from_secs(5);

/// How long a registration that failed on the server's side waits before its one retry.
const REGISTRATION_RETRY_PAUSE: Duration = Duration::from_millis(250);

impl Client {
    /// Registers this program as an OAuth 2.0 client at the server's registration endpoint
    /// (RFC 7591): a native application without a secret (`token_endpoint_auth_method: none`).
    /// Returns the `client_id`.
    pub fn register_oauth_client(
        &self,
        metadata: &AuthMetadata,
        client: &ClientMetadata,
    ) -> Result<String, Error> {
        let mut body = json!({
            "application_type": "native",
            "client_name": client.client_name,
            "client_uri": client.client_uri,
            "grant_types": client.grant_types,
            "response_types": if client.grant_types.iter().any(|g| g == "authorization_code") {
                json!(["code"])
            } else {
                json!([])
            },
            "token_endpoint_auth_method": "none",
        });
        // A client of the device grant alone has no redirect URI.
        if !client.redirect_uris.is_empty() {
            body["redirect_uris"] = json!(client.redirect_uris);
        }
        let register = || self.post_oauth(&metadata.registration_endpoint, Body::json(&body), &[]);
        let answer = match register() {
            // MAS keeps one client per set of metadata: two identical registrations at the same
            // moment make it fail the second with a 500 (its unique index on the metadata's
            // digest), and asking again gives the client the first one made.
            Err(Error::OAuth(err)) if err.status >= 500 => {
                std::thread::sleep(REGISTRATION_RETRY_PAUSE);
                register()?
            }
            other => other?,
        };
        Fields::new(&answer).string("client_id")
    }

    /// Asks the device authorization endpoint for a user code, for `scope`.
    pub fn request_device_code(
        &self,
        metadata: &AuthMetadata,
        client_id: &str,
        scope: &str,
    ) -> Result<DeviceAuthorization, Error> {
        let Some(endpoint) = metadata
            .device_authorization_endpoint
            .as_deref()
            .filter(|_| metadata.offers_device_code())
        else {
            return Err(Error::Input(InputError::new(
                "the OAuth 2.0 server does not offer the device authorization grant",
                "sign in in a browser on this machine instead",
            )));
        };
        let form = Body::form([("client_id", client_id), ("scope", scope)]);
        let answer = self.post_oauth(endpoint, form, &[])?;
        let fields = Fields::new(&answer);
        Ok(DeviceAuthorization {
            device_code: AccessToken::new(fields.string("device_code")?),
            user_code: fields.string("user_code")?,
            verification_uri: fields.string("verification_uri")?,
            verification_uri_complete: fields.optional_string("verification_uri_complete")?,
            expires_at: Instant::now()
                + Duration::from_secs(fields.optional_u64("expires_in")?.unwrap_or(600)),
            interval: Duration::from_secs(fields.optional_u64("interval")?.unwrap_or(5).max(1)),
        })
    }

    /// Polls the token endpoint once for the tokens of an approved device authorization.
    /// `authorization_pending` and `slow_down` are [`DevicePoll`]s; a refusal
    /// (`access_denied`, `expired_token`) is an [`Error::OAuth`].
    pub fn poll_device_token(
        &self,
        metadata: &AuthMetadata,
        client_id: &str,
        device: &DeviceAuthorization,
    ) -> Result<DevicePoll, Error> {
        let form = Body::form([
            ("grant_type", DEVICE_CODE_GRANT),
            ("device_code", device.device_code.reveal()),
            ("client_id", client_id),
        ]);
        let secret = device.device_code.reveal();
        match self.post_oauth(&metadata.token_endpoint, form, &[secret]) {
            Ok(answer) => tokens_from(&Fields::new(&answer)).map(DevicePoll::Granted),
            Err(Error::OAuth(err)) if err.error == "authorization_pending" => {
                Ok(DevicePoll::Pending)
            }
            Err(Error::OAuth(err)) if err.error == "slow_down" => Ok(DevicePoll::SlowDown),
            Err(err) => Err(err),
        }
    }

    /// Polls until the user approves (or refuses) the device authorization, at the server's
    /// interval (5 s more after each `slow_down`), until the codes expire or `timeout` passes
    /// ([`Error::OAuth`] `expired_token` either way), looking at `interrupted` meanwhile.
    pub fn wait_for_device_token(
        &self,
        metadata: &AuthMetadata,
        client_id: &str,
        device: &DeviceAuthorization,
        timeout: Duration,
        interrupted: &dyn Fn() -> bool,
    ) -> Result<OAuthTokens, Error> {
        let deadline = device.expires_at.min(Instant::now() + timeout);
        let mut interval = device.interval;
        loop {
            let next = Instant::now() + interval;
            while Instant::now() < next {
                if interrupted() {
                    return Err(Error::Interrupted {
                        url: metadata.token_endpoint.clone(),
                    });
                }
                if Instant::now() >= deadline {
                    return Err(Error::OAuth(crate::error::OAuthError {
                        status: 400,
                        error: "expired_token".into(),
                        description: Some("nobody approved the sign-in in time".into()),
                    }));
                }
                std::thread::sleep(POLL);
            }
            match self.poll_device_token(metadata, client_id, device)? {
                DevicePoll::Granted(tokens) => return Ok(tokens),
                DevicePoll::Pending => {}
                DevicePoll::SlowDown => interval += SLOW_DOWN,
            }
        }
    }
}

impl Client {
    /// The session of the tokens a grant gave: who they belong to and on which device (asked
    /// with whoami; `device_id` is the one the grant asked for, should the server not say),
    /// with `oauth`, what refreshing and revoking them need.
    pub fn oauth_session(
        &self,
        tokens: OAuthTokens,
        oauth: OAuthClient,
        device_id: &str,
    ) -> Result<Session, Error> {
        let me = self.whoami(&tokens.access_token)?;
        Ok(Session {
            home_server: me.user_id.server_name().to_owned(),
            user_id: me.user_id,
            device_id: me.device_id.unwrap_or_else(|| device_id.to_owned()),
            homeserver: self.homeserver().to_owned(),
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            expires_at: tokens.expires_at,
            oauth: Some(oauth),
        })
    }

    /// Exchanges a refresh token at the token endpoint (`grant_type=refresh_token`). The server
    /// usually rotates it: the answer's refresh token replaces the old one, which must not be
    /// used again (MAS refuses it with `invalid_grant`).
    pub fn refresh_oauth(
        &self,
        oauth: &OAuthClient,
        refresh_token: &AccessToken,
    ) -> Result<OAuthTokens, Error> {
        let form = Body::form([
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.reveal()),
            ("client_id", oauth.client_id.as_str()),
        ]);
        let answer = self.post_oauth(&oauth.token_endpoint, form, &[refresh_token.reveal()])?;
        tokens_from(&Fields::new(&answer))
    }

    /// The client credentials grant (RFC 6749 section 4.4): a token for the confidential client
    /// `client_id` itself (no user), for `scope`, its secret sent as `client_secret_basic`. On
    /// MAS, a client listed under `clients:` in its configuration gets `urn:mas:admin` this way
    /// (where MAS's policy lists it in `admin_clients`).
    pub fn client_credentials(
        &self,
        metadata: &AuthMetadata,
        client_id: &str,
        secret: &Password,
        scope: &str,
    ) -> Result<OAuthTokens, Error> {
        self.client_credentials_at(&metadata.token_endpoint, client_id, secret, scope)
    }

    /// [`Client::client_credentials`] at a known token endpoint.
    pub fn client_credentials_at(
        &self,
        token_endpoint: &str,
        client_id: &str,
        secret: &Password,
        scope: &str,
    ) -> Result<OAuthTokens, Error> {
        let form = Body::form([("grant_type", "client_credentials"), ("scope", scope)]);
        let answer = self.post_oauth_as(
            token_endpoint,
            form,
            &[secret.expose()],
            Some((client_id, secret)),
        )?;
        tokens_from(&Fields::new(&answer))
    }

    /// Whether the server still knows the client `client_id`, asked without side effects: a
    /// refresh with a token that is none. A server that forgot the client answers
    /// `invalid_client`; one that knows it refuses the token (`invalid_grant`).
    pub fn oauth_client_known(
        &self,
        metadata: &AuthMetadata,
        client_id: &str,
    ) -> Result<bool, Error> {
        let form = Body::form([
            ("grant_type", "refresh_token"),
            ("refresh_token", "not-a-refresh-token"),
            ("client_id", client_id),
        ]);
        match self.post_oauth(&metadata.token_endpoint, form, &[]) {
            Err(Error::OAuth(err)) => Ok(err.error != "invalid_client"),
            Ok(_) => Ok(true),
            Err(err) => Err(err),
        }
    }

    /// Revokes a token at the revocation endpoint (RFC 7009). A token the server no longer knows
    /// counts as revoked.
    pub fn revoke_oauth(
        &self,
        oauth: &OAuthClient,
        token: &AccessToken,
        kind: TokenKind,
    ) -> Result<(), Error> {
        let hint = match kind {
            TokenKind::Access => "access_token",
            TokenKind::Refresh => "refresh_token",
        };
        let form = Body::form([
            ("token", token.reveal()),
            ("token_type_hint", hint),
            ("client_id", oauth.client_id.as_str()),
        ]);
        self.post_oauth(&oauth.revocation_endpoint, form, &[token.reveal()])
            .map(drop)
    }
}

/// The tokens of a token endpoint answer.
pub(super) fn tokens_from(fields: &Fields<'_>) -> Result<OAuthTokens, Error> {
    Ok(OAuthTokens {
        access_token: AccessToken::new(fields.string("access_token")?),
        refresh_token: fields
            .optional_string("refresh_token")?
            .map(AccessToken::new),
        expires_at: fields.optional_expiry_secs("expires_in")?,
        scope: fields.optional_string("scope")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids_are_long_enough_for_mas_and_fresh() {
        let (a, b) = (
            new_device_id().expect("random"),
            new_device_id().expect("random"),
        );
        assert_eq!(a.len(), 12);
        assert!(a.len() >= MIN_DEVICE_ID_LEN);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
            "{a}"
        );
        assert_ne!(a, b);
        assert_eq!(
            device_scope("ABCDEFGHIJKL"),
            "urn:matrix:client:device:ABCDEFGHIJKL"
        );
    }
}
