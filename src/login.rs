//! Logging in and out, and what a token says about itself: the spec's "Client authentication"
//! section (`/login`, `/refresh`, `/logout`, `/account/whoami`, `/login/get_token`).
//!
//! Spec: <https://spec.matrix.org/v1.16/client-server-api/#client-authentication>

use std::time::SystemTime;

use serde_json::{Value as JsonValue, json};

use crate::answer::{Answer, Fields};
use crate::client::{Client, Method};
use crate::error::Error;
use crate::ids::{UserArg, UserId, homeserver_url, http_allowed};
use crate::secret::{AccessToken, Password};
use crate::session::{Refreshed, Session, WhoAmI};
use crate::uia::Stages;

impl Client {
    /// `POST /_matrix/client/v3/login`: logs in and returns the new session. A login token
    /// that was used once, or has expired, is refused (`M_FORBIDDEN`).
    ///
    /// Spec: <https://spec.matrix.org/v1.16/client-server-api/#post_matrixclientv3login>
    pub fn login(&self, request: &LoginRequest) -> Result<Session, Error> {
        let (mut body, secret) = match &request.credential {
            Credential::Password { user, password } => (
                json!({
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": user.as_str()},
                    "password": password.expose(),
                }),
                password.expose(),
            ),
            Credential::Token(token) => (
                json!({"type": "m.login.token", "token": token.reveal()}),
                token.reveal(),
            ),
        };
        if let Some(device_id) = &request.device_id {
            body["device_id"] = json!(device_id);
        }
        if let Some(name) = &request.device_name {
            body["initial_device_display_name"] = json!(name);
        }
        if request.refresh_token {
            body["refresh_token"] = json!(true);
        }
        let answer = self.call(Method::Post, &["login"], None, Some(body), &[secret])?;
        session_from(&answer, self.homeserver(), self.allows_http())
    }

    /// `GET /_matrix/client/v3/login`: the login types the server offers.
    ///
    /// Spec: <https://spec.matrix.org/v1.16/client-server-api/#get_matrixclientv3login>
    pub fn login_flows(&self) -> Result<Vec<LoginFlow>, Error> {
        let answer = self.call(Method::Get, &["login"], None, None, &[])?;
        flows_from(&answer)
    }

    /// `POST /_matrix/client/v3/refresh`: exchanges a refresh token for a new access token (and
    /// usually a new refresh token; the old one must not be used again after that).
    ///
    /// Spec: <https://spec.matrix.org/v1.16/client-server-api/#post_matrixclientv3refresh>
    pub fn refresh(&self, refresh_token: &AccessToken) -> Result<Refreshed, Error> {
        let body = json!({"refresh_token": refresh_token.reveal()});
        let answer = self.call(
            Method::Post,
            &["refresh"],
            None,
            Some(body),
            &[refresh_token.reveal()],
        )?;
        let fields = Fields::new(&answer);
        Ok(Refreshed {
            access_token: AccessToken::new(fields.string("access_token")?),
            refresh_token: fields
                .optional_string("refresh_token")?
                .map(AccessToken::new),
            expires_at: fields.optional_expiry("expires_in_ms")?,
        })
    }

    /// `POST /_matrix/client/v3/logout`: revokes this token and deletes its device.
    ///
    /// Spec: <https://spec.matrix.org/v1.16/client-server-api/#post_matrixclientv3logout>
    pub fn logout(&self, token: &AccessToken) -> Result<(), Error> {
        self.call(Method::Post, &["logout"], Some(token), None, &[])
            .map(drop)
    }

    /// `POST /_matrix/client/v3/logout/all`: revokes every token of the user, on every device.
    ///
    /// Spec: <https://spec.matrix.org/v1.16/client-server-api/#post_matrixclientv3logoutall>
    pub fn logout_all(&self, token: &AccessToken) -> Result<(), Error> {
        self.call(Method::Post, &["logout", "all"], Some(token), None, &[])
            .map(drop)
    }

    /// `GET /_matrix/client/v3/account/whoami`: who a token belongs to.
    ///
    /// Spec: <https://spec.matrix.org/v1.16/client-server-api/#get_matrixclientv3accountwhoami>
    pub fn whoami(&self, token: &AccessToken) -> Result<WhoAmI, Error> {
        let answer = self.call(Method::Get, &["account", "whoami"], Some(token), None, &[])?;
        whoami_from(&answer)
    }

    /// `POST /_matrix/client/v1/login/get_token`: a single-use login token for the user of
    /// `token`, to log in elsewhere without a password ([`LoginRequest::token`]). The server
    /// usually asks to confirm with the password first, like [`Client::delete_devices`]. A
    /// server that does not offer it answers `M_UNRECOGNIZED` (Synapse:
    /// `login_via_existing_session` is off by default).
    ///
    /// Spec: <https://spec.matrix.org/v1.16/client-server-api/#post_matrixclientv1loginget_token>
    pub fn login_token(
        &self,
        token: &AccessToken,
        user_id: &UserId,
        password: Option<&Password>,
    ) -> Result<LoginToken, Error> {
        let path = ["_matrix", "client", "v1", "login", "get_token"];
        let stages = Stages::password(user_id, password);
        let answer = self.with_auth(&path, Some(token), json!({}), &stages, &[])?;
        let fields = Fields::new(&answer);
        let login_token = AccessToken::new(fields.string("login_token")?);
        let expires_at = fields.optional_expiry("expires_in_ms")?;
        Ok(LoginToken {
            token: login_token,
            expires_at,
        })
    }
}

/// What to log in with.
#[derive(Debug, Clone)]
pub struct LoginRequest {
    credential: Credential,
    device_id: Option<String>,
    device_name: Option<String>,
    refresh_token: bool,
}

#[derive(Debug, Clone)]
enum Credential {
    Password {
        user: UserArg,
        password: Password,
    },
    /// A single-use login token: from single sign-on or from [`Client::login_token`].
    Token(AccessToken),
}

impl LoginRequest {
    /// A password login (`m.login.password` with an `m.id.user` identifier).
    pub fn password(user: UserArg, password: Password) -> Self {
        Self::with(Credential::Password { user, password })
    }

    /// A login with a single-use login token (`m.login.token`): the `loginToken` a single
    /// sign-on hands back (see the `sso` module), or one that [`Client::login_token`] asked for.
    /// The token says who logs in.
    pub fn token(token: AccessToken) -> Self {
        Self::with(Credential::Token(token))
    }

    fn with(credential: Credential) -> Self {
        Self {
            credential,
            device_id: None,
            device_name: None,
            refresh_token: false,
        }
    }

    /// Ask for a refresh token. Servers that issue them then give access tokens that expire.
    pub fn refresh_token(mut self, wanted: bool) -> Self {
        self.refresh_token = wanted;
        self
    }

    /// Log in as this device ID (reusing it if it exists) instead of a new random one.
    pub fn device_id(mut self, device_id: impl Into<String>) -> Self {
        self.device_id = Some(device_id.into());
        self
    }

    /// The display name of a new device (`initial_device_display_name`).
    pub fn device_name(mut self, name: impl Into<String>) -> Self {
        self.device_name = Some(name.into());
        self
    }
}

/// A single-use login token from [`Client::login_token`].
#[derive(Debug, Clone)]
pub struct LoginToken {
    /// The token, for [`LoginRequest::token`]. Masked in `Debug`.
    pub token: AccessToken,
    /// When the server stops accepting it, if it said.
    pub expires_at: Option<SystemTime>,
}

/// A login type the server offers, from `GET /login`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginFlow {
    /// `m.login.password`, `m.login.sso`, `m.login.token`, ...
    pub kind: String,
    /// For `m.login.sso`: the identity providers to pick from.
    pub identity_providers: Vec<IdentityProvider>,
    /// For `m.login.sso`: the server would rather clients log in with OAuth 2.0 (its
    /// `oauth_aware_preferred`, set by servers whose accounts an OAuth 2.0 server runs).
    pub oauth_aware_preferred: bool,
}

/// An SSO identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityProvider {
    /// Its ID, for `/login/sso/redirect/{idpId}`.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Its brand, e.g. `github`, if the server gives one.
    pub brand: Option<String>,
}

/// The session a successful login answer describes. `homeserver` is the base URL asked;
/// the answer's `well_known` may name another.
pub(crate) fn session_from(
    answer: &Answer,
    homeserver: &str,
    allow_http: bool,
) -> Result<Session, Error> {
    let fields = Fields::new(answer);
    let token = fields.string("access_token")?;
    let user_id = fields.user_id("user_id")?;
    let device_id = fields.string("device_id")?;
    // `home_server` is deprecated and MAS leaves it out: the user ID says the same.
    let home_server = fields
        .optional_string("home_server")?
        .unwrap_or_else(|| user_id.server_name().to_owned());
    let refresh_token = fields.optional_string("refresh_token")?;
    let expires_at = fields.optional_expiry("expires_in_ms")?;
    // The server may say where clients should talk to it from now on (`well_known`).
    let homeserver = answer
        .object
        .get("well_known")
        .and_then(|known| known.get("m.homeserver"))
        .and_then(|homeserver| homeserver.get("base_url"))
        .and_then(JsonValue::as_str)
        .and_then(|url| homeserver_url(url).ok())
        .filter(|url| http_allowed(url, allow_http))
        .unwrap_or_else(|| homeserver.to_owned());
    Ok(Session {
        user_id,
        device_id,
        home_server,
        homeserver,
        access_token: AccessToken::new(token),
        refresh_token: refresh_token.map(AccessToken::new),
        expires_at,
        oauth: None,
    })
}

/// The login types of a `GET /login` answer.
pub(crate) fn flows_from(answer: &Answer) -> Result<Vec<LoginFlow>, Error> {
    let Some(JsonValue::Array(flows)) = answer.object.get("flows") else {
        return Err(answer.unexpected("the field `flows` is missing or not a list"));
    };
    let text = |value: &JsonValue, key: &str| {
        value
            .get(key)
            .and_then(JsonValue::as_str)
            .map(str::to_owned)
    };
    Ok(flows
        .iter()
        .filter_map(|flow| {
            Some(LoginFlow {
                kind: text(flow, "type")?,
                identity_providers: flow
                    .get("identity_providers")
                    .and_then(JsonValue::as_array)
                    .map(|providers| {
                        providers
                            .iter()
                            .filter_map(|idp| {
                                Some(IdentityProvider {
                                    id: text(idp, "id")?,
                                    name: text(idp, "name").unwrap_or_default(),
                                    brand: text(idp, "brand"),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                oauth_aware_preferred: flow
                    .get("oauth_aware_preferred")
                    .and_then(JsonValue::as_bool)
                    .unwrap_or(false),
            })
        })
        .collect())
}

/// What a `GET /account/whoami` answer says.
pub(crate) fn whoami_from(answer: &Answer) -> Result<WhoAmI, Error> {
    let fields = Fields::new(answer);
    Ok(WhoAmI {
        user_id: fields.user_id("user_id")?,
        device_id: fields.optional_string("device_id")?,
        is_guest: fields.optional_bool("is_guest")?.unwrap_or(false),
    })
}
