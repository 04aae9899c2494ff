//! The transport: one HTTP exchange with a homeserver, and nothing of what it means.
//!
//! A [`Transport`] holds one connection pool (a `ureq::Agent`), so consecutive requests reuse
//! the same keep-alive connection. Every request has finite time-outs, carries a token only in
//! the `Authorization: Bearer` header, and never follows a redirect (the caller decides what a
//! 3xx means: an error for API calls, the next hop for discovery). A rate limit (429) that asks
//! for a short wait is waited out once. Ctrl-C is honoured through an [`Interrupt`] check.
//!
//! [`Transport::send`] is the one way out to the network: it takes a [`Request`] (method, URL,
//! optional bearer token, a JSON or form-encoded body, a read limit) and gives the answer as it
//! came ([`Raw`]), whatever its status.

mod pool;
mod wire;

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value as JsonValue;
use zeroize::Zeroizing;

use crate::answer::{Raw, retry_hint, retry_hint_from};
use crate::error::{Error, TransportKind, UnexpectedResponse};
use crate::secret::{AccessToken, Password};

use pool::Connections;
use wire::{Exchanged, Work, transport_error};

/// The largest answer body read, in bytes. Matrix answers to these calls are tiny; this bound
/// keeps a misbehaving server from filling memory.
pub const MAX_BODY_BYTES: u64 = 1024 * 1024;

/// The largest answer body [`crate::Client::request`] reads, in bytes: any endpoint may be asked
/// there (an unfiltered `/sync`, a long admin listing).
pub const MAX_API_BODY_BYTES: u64 = 64 * 1024 * 1024;

/// How long to wait before the one retry of a 429 that says nothing of how long to wait (MAS).
pub const NO_HINT_WAIT: Duration = Duration::from_secs(1);

/// How often an interrupt check is polled (by the transport and the single sign-on wait).
pub(crate) const POLL: Duration = Duration::from_millis(50);

/// A check that says whether the user asked to stop (Ctrl-C).
pub type Interrupt = Arc<dyn Fn() -> bool + Send + Sync>;

/// Time-outs and other settings of a [`crate::Client`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientConfig {
    /// How long to wait for a connection, TLS included. Default 10 s.
    pub connect_timeout: Duration,
    /// How long to wait for the answer (headers and body) after the request went out.
    /// Default 30 s.
    pub timeout: Duration,
    /// Accept plain-http homeservers on any host. Default: only on this machine (loopback).
    pub allow_http: bool,
    /// A PEM file of CA certificates to trust instead of the system's roots (for homeservers
    /// with certificates from a private CA). Default: the system's roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// When rate-limited (429), wait and retry once if the server asks for at most this long
    /// (or gives no hint: then [`NO_HINT_WAIT`]). Default 10 s; zero never retries.
    pub max_rate_limit_wait: Duration,
}

impl ClientConfig {
    /// Sets the answer time-out; the connect time-out becomes no longer than it.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
        self.connect_timeout = self.connect_timeout.min(timeout);
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            allow_http: false,
            ca_file: None,
            max_rate_limit_wait: Duration::from_secs(10),
        }
    }
}

/// An HTTP method of the client-server API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST` (with a JSON body, `{}` when none is given)
    Post,
    /// `PUT` (with a JSON body, `{}` when none is given)
    Put,
    /// `DELETE` (with a JSON body only when one is given)
    Delete,
}

impl Method {
    /// Parses `get`, `POST`, ... (any case).
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_uppercase().as_str() {
            "GET" => Some(Self::Get),
            "POST" => Some(Self::Post),
            "PUT" => Some(Self::Put),
            "DELETE" => Some(Self::Delete),
            _ => None,
        }
    }
}

/// How long past its hold a held request (a `/sync` long-poll) may take to answer before the
/// server is taken for gone.
pub const HELD_GRACE: Duration = Duration::from_secs(10);

/// The longest URL sent: the HTTP stack (the `http` crate's `Uri`) takes none over 65,534 bytes,
/// and would fail as if the server could not be reached; a longer one is refused here, before
/// any request, as the argument it is. (Servers and proxies may take less: their refusal says so.)
pub const MAX_URL_BYTES: usize = 65_000;

/// A request body, encoded and wiped from memory when dropped (it may hold a password).
#[derive(Clone)]
pub(crate) enum Body {
    /// `application/json`
    Json(Zeroizing<Vec<u8>>),
    /// `application/x-www-form-urlencoded`: what OAuth 2.0 token endpoints take.
    Form(Zeroizing<Vec<u8>>),
    /// A file's bytes (an upload), of this content type; shared, not copied, between tries.
    Bytes {
        content_type: String,
        bytes: Arc<[u8]>,
    },
}

impl Body {
    /// A JSON body.
    pub(crate) fn json(value: &JsonValue) -> Self {
        Self::Json(Zeroizing::new(
            serde_json::to_vec(value).expect("a serde_json::Value always serialises"),
        ))
    }

    /// A form-encoded body of these name-value pairs.
    pub(crate) fn form<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut encoder = url::form_urlencoded::Serializer::new(String::new());
        encoder.extend_pairs(pairs);
        Self::Form(Zeroizing::new(encoder.finish().into_bytes()))
    }

    fn content_type(&self) -> &str {
        match self {
            Self::Json(_) => "application/json",
            Self::Form(_) => "application/x-www-form-urlencoded",
            Self::Bytes { content_type, .. } => content_type,
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Self::Json(bytes) | Self::Form(bytes) => bytes,
            Self::Bytes { bytes, .. } => bytes,
        }
    }
}

/// One request: where, how, with what.
pub(crate) struct Request<'a> {
    pub(crate) method: Method,
    pub(crate) url: &'a str,
    /// Sent as `Authorization: Bearer …`.
    pub(crate) bearer: Option<&'a AccessToken>,
    /// A client's ID and secret, sent as `Authorization: Basic …` (RFC 6749 section 2.3.1:
    /// each form-encoded, then joined by `:` and base64-encoded). Only when `bearer` is `None`.
    pub(crate) basic: Option<(&'a str, &'a Password)>,
    pub(crate) body: Option<Body>,
    /// The most bytes of the answer's body read.
    pub(crate) limit: u64,
    /// How long the server may hold the request before it answers, on top of the configured
    /// time-out: a `/sync` long-poll's wait.
    pub(crate) held: Duration,
}

/// The `Authorization` header of a request, if it has one.
fn authorization(request: &Request<'_>) -> Option<Zeroizing<String>> {
    if let Some(token) = request.bearer {
        return Some(Zeroizing::new(format!("Bearer {}", token.reveal())));
    }
    let (id, secret) = request.basic?;
    let encode =
        |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    let pair = Zeroizing::new(format!("{}:{}", encode(id), encode(secret.expose())));
    Some(Zeroizing::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
    )))
}

/// The network side of a client: a connection pool, an interrupt check and the rate-limit rule.
/// Clones share the pool, so that [`Transport::interrupt`] reaches their requests.
#[derive(Clone)]
pub(crate) struct Transport {
    connections: Arc<Connections>,
    interrupt: Option<Interrupt>,
}

impl Transport {
    /// A transport with these settings; fails only on an unreadable `ca_file`.
    pub(crate) fn new(config: &ClientConfig) -> Result<Self, Error> {
        Ok(Self {
            connections: Arc::new(Connections::new(config)?),
            interrupt: None,
        })
    }

    /// The same transport, whose requests give up when `interrupted` says so.
    pub(crate) fn with_interrupt(&self, interrupted: Interrupt) -> Self {
        Self {
            interrupt: Some(interrupted),
            ..self.clone()
        }
    }

    /// Whether requests are watched by an interrupt check.
    pub(crate) fn interruptible(&self) -> bool {
        self.interrupt.is_some()
    }

    /// Stops every request in flight on this pool; see [`crate::Client::interrupt`].
    pub(crate) fn interrupt(&self) {
        self.connections.shut_down();
    }

    fn interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(|interrupted| interrupted())
    }

    /// Sends one request and reads the answer, whatever its status (a 3xx with an empty body).
    /// When rate-limited (429) and the server asks for a wait no longer than the configured
    /// `max_rate_limit_wait`, waits and sends it once more.
    pub(crate) fn send(&self, request: &Request<'_>) -> Result<Raw, Error> {
        if request.url.len() > MAX_URL_BYTES {
            return Err(Error::Input(crate::error::InputError::new(
                format!(
                    "an argument is too long: the request's URL would be {} bytes",
                    request.url.len()
                ),
                format!(
                    "servers take URLs of up to {MAX_URL_BYTES} bytes; check the room, event, \
                     user or path given"
                ),
            )));
        }
        let raw = self.exchange(request)?;
        let max_wait = self.connections.config().max_rate_limit_wait;
        if raw.status != 429 || max_wait.is_zero() {
            return Ok(raw);
        }
        // The hint may be in the body (`retry_after_ms`); an unreadable body gives none.
        let wait = match raw.parse(&[]) {
            Ok(answer) => retry_hint(&answer),
            Err(_) => retry_hint_from(raw.retry_after.as_deref(), &raw.empty_answer()),
        }
        .unwrap_or(NO_HINT_WAIT);
        if wait > max_wait {
            return Ok(raw);
        }
        self.pause(request.url, wait)?;
        self.exchange(request)
    }

    /// Sleeps, giving up early when interrupted.
    fn pause(&self, url: &str, wait: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + wait;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if self.interrupted() {
                return Err(Error::Interrupted {
                    url: url.to_owned(),
                });
            }
            std::thread::sleep(left.min(POLL));
        }
        Ok(())
    }

    /// One exchange. On a connection kept alive from a recent answer it runs on the calling
    /// thread; otherwise, when there is an interrupt check, on a thread of its own while the
    /// check is polled (name lookup and connecting cannot be cut short otherwise).
    fn exchange(&self, request: &Request<'_>) -> Result<Raw, Error> {
        let url = request.url.to_owned();
        let (agent, warm) = self.connections.agent()?;
        let work = Work {
            agent,
            method: request.method,
            url: url.clone(),
            authorization: authorization(request),
            body: request.body.clone(),
            limit: request.limit,
            // A held request (a long-poll) is answered within its hold and a short grace: a
            // server that froze is noticed then, not a whole time-out later.
            answer_within: (!request.held.is_zero())
                .then(|| self.connections.config().timeout.min(HELD_GRACE) + request.held),
        };
        let exchanged = if warm || self.interrupt.is_none() {
            if self.interrupted() {
                return Err(Error::Interrupted { url });
            }
            work.run()
        } else {
            run_interruptibly(self.interrupt.as_ref(), &url, move || work.run())?
        };
        let stopped = |err: &ureq::Error| {
            if self.interrupted() {
                Error::Interrupted { url: url.clone() }
            } else {
                transport_error(&url, err)
            }
        };
        let Exchanged {
            status,
            content_type,
            retry_after,
            location,
            body,
        } = exchanged.map_err(|err| stopped(&err))?;
        let body = match body {
            Ok(body) => body,
            Err(ureq::Error::BodyExceedsLimit(_)) => {
                return Err(Error::UnexpectedResponse(UnexpectedResponse {
                    url,
                    status,
                    content_type,
                    problem: format!("the answer is larger than {} bytes", request.limit),
                    excerpt: String::new(),
                }));
            }
            Err(err) => {
                // The status and headers came: a body that ends early is an answer cut short,
                // not a server out of reach (a time-out stays a time-out, a stop a stop).
                let mut err = stopped(&err);
                if let Error::Transport(failed) = &mut err
                    && failed.kind != TransportKind::Timeout
                {
                    failed.kind = TransportKind::CutShort;
                }
                return Err(err);
            }
        };
        self.connections.answered();
        Ok(Raw {
            url,
            status,
            content_type,
            retry_after,
            location,
            body,
        })
    }
}

/// Runs `work`, on a thread of its own when there is an interrupt check to poll meanwhile.
fn run_interruptibly<T: Send + 'static>(
    interrupt: Option<&Interrupt>,
    url: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    let Some(interrupted) = interrupt else {
        return Ok(work());
    };
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(work());
    });
    loop {
        match result.recv_timeout(POLL) {
            Ok(value) => return Ok(value),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !interrupted() => {}
            // Interrupted, or the worker died: either way, no answer is coming.
            Err(_) => {
                return Err(Error::Interrupted {
                    url: url.to_owned(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_secret_goes_form_encoded_in_basic() {
        let secret = Password::new("s p:é".to_owned());
        let request = Request {
            method: Method::Post,
            url: "https://auth.example/token",
            bearer: None,
            basic: Some(("01J:client", &secret)),
            body: None,
            limit: 1,
            held: Duration::ZERO,
        };
        let header = authorization(&request).expect("a header");
        let encoded = header.strip_prefix("Basic ").expect("basic");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64");
        assert_eq!(decoded, b"01J%3Aclient:s+p%3A%C3%A9");
    }

    #[test]
    fn form_bodies_are_url_encoded() {
        let body = Body::form([("grant_type", "refresh_token"), ("token", "a b&c=d")]);
        assert_eq!(body.content_type(), "application/x-www-form-urlencoded");
        assert_eq!(body.bytes(), b"grant_type=refresh_token&token=a+b%26c%3Dd");
        let json = Body::json(&serde_json::json!({"a": 1}));
        assert_eq!(json.content_type(), "application/json");
        assert_eq!(json.bytes(), br#"{"a":1}"#);
    }
}
