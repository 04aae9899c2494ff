//! The client of one homeserver: its base URL, how a path becomes a URL, and how a call's
//! answer becomes a value or an [`Error`]. The network itself is the transport's (`http.rs`);
//! the endpoints are grouped by the spec's sections in the modules beside this one.
//!
//! Every call sends JSON with `Content-Type: application/json` (POST and PUT send `{}` when
//! they have nothing to say), uses the spec's v3 paths and carries a token only in the
//! `Authorization: Bearer` header. Redirects are never followed: see [`Error::Redirect`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value as JsonValue, json};

use crate::answer::{Answer, Fields, Raw, UiaChallenge, matrix_error, scrub_list};
use crate::error::{Error, InputError};
use crate::http::{Body, Request, Transport};
use crate::ids::{UserArg, UserId, homeserver_url, http_allowed};
use crate::secret::{AccessToken, Password};
use crate::session::{Device, Refreshed, Session, WhoAmI};

pub use crate::http::{
    ClientConfig, Interrupt, MAX_API_BODY_BYTES, MAX_BODY_BYTES, Method, NO_HINT_WAIT,
};

/// A client for one homeserver base URL.
///
/// ```no_run
/// use nu_plugin_matrix::{Client, LoginRequest, Password, UserArg};
///
/// let client = Client::new("https://matrix.example.org")?;
/// let user = UserArg::parse("@bot:example.org")?;
/// let password = Password::new(std::env::var("BOT_PASSWORD").unwrap_or_default());
/// let session = client.login(&LoginRequest::password(user, password).device_id("BOT1"))?;
/// println!("{} on device {}", session.user_id, session.device_id);
/// // The token prints masked, e.g. `syt_…a1B2`; `session.access_token.reveal()` gives the text.
/// println!("{:?}", session.access_token);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Client {
    homeserver: String,
    /// Shared by the clones, so that [`Client::interrupt`] reaches their requests.
    transport: Transport,
    allow_http: bool,
}
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            homeserver,
            transport,
            allow_http,
        } = self;
        f.debug_struct("Client")
            .field("homeserver", homeserver)
            .field("allow_http", allow_http)
            .field("interruptible", &transport.interruptible())
            .finish()
    }
}

impl Client {
    /// A client with the default [`ClientConfig`]. `homeserver` is a base URL such as
    /// `https://matrix.example.org`; it is checked and a trailing slash dropped.
    pub fn new(homeserver: &str) -> Result<Self, Error> {
        Self::with_config(homeserver, &ClientConfig::default())
    }

    /// A client with the given time-outs.
    pub fn with_config(homeserver: &str, config: &ClientConfig) -> Result<Self, Error> {
        let homeserver = homeserver_url(homeserver)?;
        if !http_allowed(&homeserver, config.allow_http) {
            return Err(Error::Input(InputError {
                problem: format!("{homeserver} is plain http to a host that is not this machine"),
                hint: "use https:// (plain http would send the password and token readable to \
                       anyone on the way); for a trusted network, allow it explicitly with \
                       allow_http"
                    .into(),
            }));
        }
        Ok(Self {
            homeserver,
            transport: Transport::new(config)?,
            allow_http: config.allow_http,
        })
    }

    /// The base URL, without a trailing slash.
    pub fn homeserver(&self) -> &str {
        &self.homeserver
    }

    /// The same client, whose calls give up with [`Error::Interrupted`] when `interrupted`
    /// says so.
    ///
    /// A request that needs a new connection runs on a thread of its own while the check is
    /// polled every 50 ms (name lookup and connecting cannot be cut short otherwise; the
    /// abandoned request ends in the background, at its time-out at the latest), and so does a
    /// wait for a rate limit. A request on a connection kept alive from an answer of the last
    /// 10 s goes out on the calling thread, sparing the hand-over between threads: whoever sees
    /// the interrupt first (a Ctrl-C handler) stops it with [`Client::interrupt`].
    pub fn with_interrupt(&self, interrupted: Interrupt) -> Self {
        Self {
            transport: self.transport.with_interrupt(interrupted),
            ..self.clone()
        }
    }

    /// Stops every request of this client and its clones that is in flight: each fails at once
    /// ([`Error::Interrupted`] when its interrupt check says so, else a transport error). The
    /// kept-alive connections are closed; the next request opens a new one. Safe to call from
    /// any thread, e.g. a Ctrl-C handler.
    pub fn interrupt(&self) {
        self.transport.interrupt();
    }

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
        session_from(&answer, &self.homeserver, self.allow_http)
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

    /// `GET /_matrix/client/v3/devices`: the user's devices.
    ///
    /// Spec: <https://spec.matrix.org/v1.16/client-server-api/#get_matrixclientv3devices>
    pub fn devices(&self, token: &AccessToken) -> Result<Vec<Device>, Error> {
        let answer = self.call(Method::Get, &["devices"], Some(token), None, &[])?;
        devices_from(&answer)
    }

    /// `PUT /_matrix/client/v3/devices/{deviceId}`: sets a device's display name.
    ///
    /// Spec: <https://spec.matrix.org/v1.16/client-server-api/#put_matrixclientv3devicesdeviceid>
    pub fn rename_device(
        &self,
        token: &AccessToken,
        device_id: &str,
        display_name: &str,
    ) -> Result<(), Error> {
        let body = json!({"display_name": display_name});
        self.call(
            Method::Put,
            &["devices", device_id],
            Some(token),
            Some(body),
            &[],
        )
        .map(drop)
    }

    /// `POST /_matrix/client/v3/delete_devices`: deletes devices (and logs out their tokens).
    ///
    /// The server asks for user-interactive authentication; this answers its password stage
    /// with `user_id` and `password`. Without a password, or when the server offers no password
    /// stage, the result is [`Error::AuthRequired`]. A wrong password is a Matrix error
    /// (`M_FORBIDDEN`) and deletes nothing.
    ///
    /// Spec: <https://spec.matrix.org/v1.16/client-server-api/#post_matrixclientv3delete_devices>
    pub fn delete_devices(
        &self,
        token: &AccessToken,
        device_ids: &[String],
        user_id: &str,
        password: Option<&Password>,
    ) -> Result<(), Error> {
        let body = json!({"devices": device_ids});
        self.with_password_auth(&["delete_devices"], token, body, user_id, password)
            .map(drop)
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
        user_id: &str,
        password: Option<&Password>,
    ) -> Result<LoginToken, Error> {
        let path = ["_matrix", "client", "v1", "login", "get_token"];
        let answer = self.with_password_auth(&path, token, json!({}), user_id, password)?;
        let fields = Fields::new(&answer);
        let login_token = AccessToken::new(fields.string("login_token")?);
        let expires_at = fields.optional_expiry("expires_in_ms")?;
        Ok(LoginToken {
            token: login_token,
            expires_at,
        })
    }

    /// POSTs `body` and answers a user-interactive auth challenge with the password stage
    /// (`user_id` and `password`). Without a password, or when the server offers no password
    /// stage, the result is [`Error::AuthRequired`]; a wrong password is a Matrix error
    /// (`M_FORBIDDEN`).
    fn with_password_auth(
        &self,
        path: &[&str],
        token: &AccessToken,
        body: JsonValue,
        user_id: &str,
        password: Option<&Password>,
    ) -> Result<Answer, Error> {
        let first = self.send(Method::Post, path, Some(token), Some(body.clone()), &[])?;
        if (200..300).contains(&first.status) {
            return Ok(first);
        }
        let challenge = match UiaChallenge::from_answer(&first) {
            Some(challenge) => challenge,
            None => return Err(matrix_error(first, None)),
        };
        let Some(password) = password.filter(|_| password_completes(&challenge.flows)) else {
            return Err(Error::AuthRequired {
                flows: challenge.flows,
            });
        };
        let mut body = body;
        body["auth"] = json!({
            "type": PASSWORD_STAGE,
            "identifier": {"type": "m.id.user", "user": user_id},
            "password": password.expose(),
            "session": challenge.session,
        });
        let second = self.send(
            Method::Post,
            path,
            Some(token),
            Some(body),
            &[password.expose()],
        )?;
        if (200..300).contains(&second.status) {
            return Ok(second);
        }
        // A failed stage comes back as a new challenge that carries the errcode.
        Err(matrix_error(second, None))
    }

    /// `GET /_matrix/client/v3/account/whoami`: who a token belongs to.
    ///
    /// Spec: <https://spec.matrix.org/v1.16/client-server-api/#get_matrixclientv3accountwhoami>
    pub fn whoami(&self, token: &AccessToken) -> Result<WhoAmI, Error> {
        let answer = self.call(Method::Get, &["account", "whoami"], Some(token), None, &[])?;
        whoami_from(&answer)
    }

    /// Sends one request to `/_matrix/client/v3/<path>` and returns the JSON object of a 2xx
    /// answer; other answers become errors. `secrets` are scrubbed from any excerpt of the
    /// answer kept in an error.
    pub(crate) fn call(
        &self,
        method: Method,
        path: &[&str],
        token: Option<&AccessToken>,
        body: Option<JsonValue>,
        secrets: &[&str],
    ) -> Result<Answer, Error> {
        let url = self.endpoint(path);
        let scrub = scrub_list(secrets, token);
        self.transfer(method, &url, token, body, MAX_BODY_BYTES)?
            .success(&scrub)?
            .parse(&scrub)
    }

    /// Sends one request to `url` and returns a 2xx answer as it came; other answers become
    /// errors.
    pub(crate) fn call_url(
        &self,
        method: Method,
        url: &str,
        token: Option<&AccessToken>,
        body: Option<JsonValue>,
    ) -> Result<Raw, Error> {
        let scrub = scrub_list(&[], token);
        self.transfer(method, url, token, body, MAX_API_BODY_BYTES)?
            .success(&scrub)
    }

    /// The URL of `/_matrix/client/v3/<segments>`, each segment percent-encoded.
    /// Paths that start with `_synapse` or `_matrix` are taken as they are.
    pub(crate) fn endpoint(&self, segments: &[&str]) -> String {
        let absolute = matches!(segments.first(), Some(&"_synapse" | &"_matrix"));
        self.url_of(!absolute, segments.iter().copied()).into()
    }

    /// The homeserver's base URL (its own path kept) with `segments` appended, each
    /// percent-encoded, under `/_matrix/client/v3` when `client_v3`.
    pub(crate) fn url_of<'a>(
        &self,
        client_v3: bool,
        segments: impl IntoIterator<Item = &'a str>,
    ) -> url::Url {
        let mut url = url::Url::parse(&self.homeserver).expect("checked when the client was made");
        let mut path = url.path_segments_mut().expect("http(s) URLs have a path");
        path.pop_if_empty();
        if client_v3 {
            path.extend(["_matrix", "client", "v3"]);
        }
        path.extend(segments);
        drop(path);
        url
    }

    /// Sends one request and returns the JSON object of any answer that has one, whatever its
    /// status. No answer, a redirect and a non-JSON body are errors. `secrets` are scrubbed from
    /// any excerpt of the answer kept in an error.
    pub(crate) fn send(
        &self,
        method: Method,
        path: &[&str],
        token: Option<&AccessToken>,
        body: Option<JsonValue>,
        secrets: &[&str],
    ) -> Result<Answer, Error> {
        let url = self.endpoint(path);
        self.transfer(method, &url, token, body, MAX_BODY_BYTES)?
            .parse(&scrub_list(secrets, token))
    }

    /// Sends one request to `url` through the transport (a short rate limit waited out once)
    /// and reads the answer's body (at most `limit` bytes), whatever its status. No answer and
    /// a redirect are errors. POST and PUT without a body send `{}`.
    fn transfer(
        &self,
        method: Method,
        url: &str,
        token: Option<&AccessToken>,
        body: Option<JsonValue>,
        limit: u64,
    ) -> Result<Raw, Error> {
        let body = match (method, body) {
            (Method::Get | Method::Delete, None) => None,
            (_, body) => Some(Body::json(&body.unwrap_or_else(|| json!({})))),
        };
        let request = Request {
            method,
            url,
            bearer: token,
            body,
            limit,
        };
        self.transport.send(&request)?.not_redirected()
    }
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
    let user_id = fields.string("user_id")?;
    let device_id = fields.string("device_id")?;
    let parsed = UserId::parse(&user_id).map_err(|err| {
        answer.unexpected(format!(
            "the field `user_id` is not a user ID ({})",
            err.problem
        ))
    })?;
    // `home_server` is deprecated and MAS leaves it out: the user ID says the same.
    let home_server = fields
        .optional_string("home_server")?
        .unwrap_or_else(|| parsed.server_name().to_owned());
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
            })
        })
        .collect())
}

/// The devices of a `GET /devices` answer.
pub(crate) fn devices_from(answer: &Answer) -> Result<Vec<Device>, Error> {
    let Some(JsonValue::Array(list)) = answer.object.get("devices") else {
        return Err(answer.unexpected("the field `devices` is missing or not a list"));
    };
    let mut devices = Vec::with_capacity(list.len());
    for item in list {
        let JsonValue::Object(object) = item else {
            return Err(answer.unexpected("a device is not an object"));
        };
        let entry = Answer {
            object: object.clone(),
            ..answer.without_object()
        };
        let fields = Fields::new(&entry);
        devices.push(Device {
            device_id: fields.string("device_id")?,
            display_name: fields.optional_string("display_name")?,
            last_seen_ip: fields.optional_string("last_seen_ip")?,
            last_seen: fields
                .optional_u64("last_seen_ts")?
                .map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
        });
    }
    Ok(devices)
}

/// What a `GET /account/whoami` answer says.
pub(crate) fn whoami_from(answer: &Answer) -> Result<WhoAmI, Error> {
    let fields = Fields::new(answer);
    Ok(WhoAmI {
        user_id: fields.string("user_id")?,
        device_id: fields.optional_string("device_id")?,
        is_guest: fields.optional_bool("is_guest")?.unwrap_or(false),
    })
}

/// The stage type of a password in user-interactive authentication.
const PASSWORD_STAGE: &str = "m.login.password";

/// True when a password alone completes one of these user-interactive auth flows: the only
/// case [`Client::delete_devices`] and [`Client::login_token`] can answer (others end in
/// [`Error::AuthRequired`]).
pub fn password_completes(flows: &[Vec<String>]) -> bool {
    flows
        .iter()
        .any(|flow| flow.len() == 1 && flow[0] == PASSWORD_STAGE)
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
    /// sign-on hands back (see [`crate::sso`]), or one that [`Client::login_token`] asked for.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_homeserver_is_normalised_and_checked() {
        let client = Client::new("https://matrix.example.org/").expect("valid");
        assert_eq!(client.homeserver(), "https://matrix.example.org");
        assert!(matches!(
            Client::new("matrix.example.org"),
            Err(Error::Input(_))
        ));
    }
}
