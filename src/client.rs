//! The client of one homeserver: its base URL, how a path becomes a URL, and how a call's
//! answer becomes a value or an [`Error`]. The network itself is the transport's (`http/`);
//! the endpoints are grouped by the spec's sections in the modules beside this one.
//!
//! Every call sends JSON with `Content-Type: application/json` (POST and PUT send `{}` when
//! they have nothing to say), uses the spec's v3 paths and carries a token only in the
//! `Authorization: Bearer` header. Redirects are never followed: see [`Error::Redirect`].

use std::time::Duration;

use serde_json::{Value as JsonValue, json};

use crate::answer::{Answer, Raw, oauth_error, scrub_list};
use crate::error::{Error, InputError};
use crate::http::{Body, Request, Transport};
use crate::ids::{homeserver_url, http_allowed};
use crate::secret::{AccessToken, Password};

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

    /// Whether plain-http homeservers on any host are accepted ([`ClientConfig::allow_http`]).
    pub(crate) fn allows_http(&self) -> bool {
        self.allow_http
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
        self.transfer(method, &url, token, body, MAX_BODY_BYTES, Duration::ZERO)?
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
        self.transfer(method, url, token, body, MAX_API_BODY_BYTES, Duration::ZERO)?
            .success(&scrub)
    }

    /// Sends one request to `url` with `body` as it is (an upload's bytes, or nothing) and
    /// returns a 2xx answer as it came, its body up to `limit` bytes (a download); other
    /// answers become errors.
    pub(crate) fn call_bytes(
        &self,
        method: Method,
        url: &str,
        token: &AccessToken,
        body: Option<Body>,
        limit: u64,
    ) -> Result<Raw, Error> {
        let request = Request {
            method,
            url,
            bearer: Some(token),
            basic: None,
            body,
            limit,
            held: Duration::ZERO,
        };
        self.transport
            .send(&request)?
            .not_redirected()?
            .success(&scrub_list(&[], Some(token)))
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

    /// POSTs to an OAuth 2.0 endpoint (a whole URL: the registration, device authorization or
    /// token endpoint; a form, or JSON for registration) and returns the JSON object of a 2xx
    /// answer; an OAuth 2.0 error answer becomes [`Error::OAuth`]. `secrets` are scrubbed from
    /// any excerpt of the answer kept in an error.
    pub(crate) fn post_oauth(
        &self,
        url: &str,
        body: Body,
        secrets: &[&str],
    ) -> Result<Answer, Error> {
        self.post_oauth_as(url, body, secrets, None)
    }

    /// [`Client::post_oauth`] as a confidential client: `client` (ID and secret) goes in the
    /// `Authorization: Basic` header (`client_secret_basic`).
    pub(crate) fn post_oauth_as(
        &self,
        url: &str,
        body: Body,
        secrets: &[&str],
        client: Option<(&str, &Password)>,
    ) -> Result<Answer, Error> {
        let request = Request {
            method: Method::Post,
            url,
            bearer: None,
            basic: client,
            body: Some(body),
            limit: MAX_BODY_BYTES,
            held: Duration::ZERO,
        };
        let raw = self.transport.send(&request)?.not_redirected()?;
        // A revocation endpoint may answer 200 with nothing (RFC 7009).
        if (200..300).contains(&raw.status) && raw.body.is_empty() {
            return Ok(raw.empty_answer());
        }
        let answer = raw.parse(secrets)?;
        if (200..300).contains(&answer.status) {
            Ok(answer)
        } else {
            Err(oauth_error(answer))
        }
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
        self.transfer(method, &url, token, body, MAX_BODY_BYTES, Duration::ZERO)?
            .parse(&scrub_list(secrets, token))
    }

    /// Sends one request to a whole URL of another API of the deployment (MAS's admin API) and
    /// returns its answer whatever its status. No answer and a redirect are errors.
    pub(crate) fn send_to(
        &self,
        method: Method,
        url: &str,
        token: &AccessToken,
        body: Option<JsonValue>,
    ) -> Result<Raw, Error> {
        self.transfer(
            method,
            url,
            Some(token),
            body,
            MAX_BODY_BYTES,
            Duration::ZERO,
        )
    }

    /// `GET /_matrix/client/v3/<path>?<query>`, which the server may hold up to `held` before
    /// it answers (a `/sync` long-poll): the JSON object of a 2xx answer; other answers become
    /// errors.
    pub(crate) fn get_held(
        &self,
        token: &AccessToken,
        path: &[&str],
        query: &[(&str, &str)],
        held: Duration,
    ) -> Result<Answer, Error> {
        let mut url = self.url_of(true, path.iter().copied());
        url.query_pairs_mut().extend_pairs(query);
        let scrub = scrub_list(&[], Some(token));
        self.transfer(
            Method::Get,
            url.as_str(),
            Some(token),
            None,
            MAX_API_BODY_BYTES,
            held,
        )?
        .success(&scrub)?
        .parse(&scrub)
    }

    /// Sends one request to `url` through the transport (a short rate limit waited out once)
    /// and reads the answer's body (at most `limit` bytes), whatever its status; the server
    /// may hold it `held` longer than the time-out. No answer and a redirect are errors. POST
    /// and PUT without a body send `{}`.
    fn transfer(
        &self,
        method: Method,
        url: &str,
        token: Option<&AccessToken>,
        body: Option<JsonValue>,
        limit: u64,
        held: Duration,
    ) -> Result<Raw, Error> {
        let body = match (method, body) {
            (Method::Get | Method::Delete, None) => None,
            (_, body) => Some(Body::json(&body.unwrap_or_else(|| json!({})))),
        };
        let request = Request {
            method,
            url,
            bearer: token,
            basic: None,
            body,
            limit,
            held,
        };
        self.transport.send(&request)?.not_redirected()
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
