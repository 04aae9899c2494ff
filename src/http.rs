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

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value as JsonValue;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, parse_pem};
use zeroize::Zeroizing;

use crate::answer::{Raw, retry_hint, retry_hint_from};
use crate::error::{Error, InputError, TransportError, TransportKind, UnexpectedResponse};
use crate::secret::AccessToken;

/// The largest answer body read, in bytes. Matrix answers to these calls are tiny; this bound
/// keeps a misbehaving server from filling memory.
pub const MAX_BODY_BYTES: u64 = 1024 * 1024;

/// The largest answer body [`crate::Client::request`] reads, in bytes: any endpoint may be asked
/// there (an unfiltered `/sync`, a long admin listing).
pub const MAX_API_BODY_BYTES: u64 = 64 * 1024 * 1024;

/// How long to wait before the one retry of a 429 that says nothing of how long to wait (MAS).
pub const NO_HINT_WAIT: Duration = Duration::from_secs(1);

/// How often an interrupt check is polled.
pub(crate) const POLL: Duration = Duration::from_millis(50);

/// How long after an answer a kept-alive connection is taken to be there still (ureq keeps an
/// idle one for 15 s). Within it, a request goes out on the calling thread.
const WARM_FOR: Duration = Duration::from_secs(10);

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

/// A request body, encoded and wiped from memory when dropped (it may hold a password).
#[derive(Clone)]
pub(crate) enum Body {
    /// `application/json`
    Json(Zeroizing<Vec<u8>>),
    /// `application/x-www-form-urlencoded`: what OAuth 2.0 token endpoints take.
    #[allow(dead_code)] // the OAuth 2.0 token requests are its first users
    Form(Zeroizing<Vec<u8>>),
}

impl Body {
    /// A JSON body.
    pub(crate) fn json(value: &JsonValue) -> Self {
        Self::Json(Zeroizing::new(
            serde_json::to_vec(value).expect("a serde_json::Value always serialises"),
        ))
    }

    /// A form-encoded body of these name-value pairs.
    #[allow(dead_code)] // the OAuth 2.0 token requests are its first users
    pub(crate) fn form<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut encoder = url::form_urlencoded::Serializer::new(String::new());
        encoder.extend_pairs(pairs);
        Self::Form(Zeroizing::new(encoder.finish().into_bytes()))
    }

    fn content_type(&self) -> &'static str {
        match self {
            Self::Json(_) => "application/json",
            Self::Form(_) => "application/x-www-form-urlencoded",
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Self::Json(bytes) | Self::Form(bytes) => bytes,
        }
    }
}

/// One request: where, how, with what.
pub(crate) struct Request<'a> {
    pub(crate) method: Method,
    pub(crate) url: &'a str,
    /// Sent as `Authorization: Bearer …`.
    pub(crate) bearer: Option<&'a AccessToken>,
    pub(crate) body: Option<Body>,
    /// The most bytes of the answer's body read.
    pub(crate) limit: u64,
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
        let agent = agent(config)?;
        Ok(Self {
            connections: Arc::new(Connections {
                config: config.clone(),
                state: Mutex::new(Pool {
                    agent: Some(agent),
                    warm_until: None,
                }),
            }),
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
        let raw = self.exchange(request)?;
        let max_wait = self.connections.config.max_rate_limit_wait;
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
            bearer: request
                .bearer
                .map(|token| Zeroizing::new(format!("Bearer {}", token.reveal()))),
            body: request.body.clone(),
            limit: request.limit,
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
            Err(err) => return Err(stopped(&err)),
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
pub(crate) fn run_interruptibly<T: Send + 'static>(
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

/// Everything one exchange needs, owned, so that it can run on a thread of its own.
struct Work {
    agent: ureq::Agent,
    method: Method,
    url: String,
    bearer: Option<Zeroizing<String>>,
    body: Option<Body>,
    limit: u64,
}

/// What came back from one HTTP exchange, before it is interpreted.
struct Exchanged {
    status: u16,
    content_type: Option<String>,
    retry_after: Option<String>,
    location: Option<String>,
    body: Result<Zeroizing<Vec<u8>>, ureq::Error>,
}

impl Work {
    /// Sends the request and reads its answer (up to `limit` bytes; nothing of a redirect's).
    fn run(self) -> Result<Exchanged, ureq::Error> {
        let Self {
            agent,
            method,
            url,
            bearer,
            body,
            limit,
        } = self;
        let result = match (method, body) {
            (Method::Get | Method::Delete, None) => {
                let mut request = match method {
                    Method::Delete => agent.delete(&url),
                    _ => agent.get(&url),
                };
                if let Some(bearer) = &bearer {
                    request = request.header("Authorization", bearer.as_str());
                }
                request.call()
            }
            (method, body) => {
                let mut request = match method {
                    Method::Put => agent.put(&url),
                    Method::Post => agent.post(&url),
                    Method::Delete => agent.delete(&url).force_send_body(),
                    Method::Get => agent.get(&url).force_send_body(),
                };
                if let Some(body) = &body {
                    request = request.header("Content-Type", body.content_type());
                }
                if let Some(bearer) = &bearer {
                    request = request.header("Authorization", bearer.as_str());
                }
                match &body {
                    Some(body) => request.send(body.bytes()),
                    None => request.send_empty(),
                }
            }
        };
        let mut response = result?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let status = response.status().as_u16();
        let content_type = header("content-type");
        let retry_after = header("retry-after");
        let location = header("location");
        let body = if (300..400).contains(&status) {
            Ok(Zeroizing::new(Vec::new()))
        } else {
            response
                .body_mut()
                .with_config()
                .limit(limit)
                .read_to_vec()
                .map(Zeroizing::new)
        };
        Ok(Exchanged {
            status,
            content_type,
            retry_after,
            location,
            body,
        })
    }
}

/// A client's connection pool (a `ureq::Agent`), replaced when interrupted.
struct Connections {
    config: ClientConfig,
    state: Mutex<Pool>,
}

struct Pool {
    /// `None` after [`Transport::interrupt`] shut it down; made again on the next request.
    agent: Option<ureq::Agent>,
    /// Until when the last answer suggests a kept-alive connection is at hand.
    warm_until: Option<Instant>,
}

impl Connections {
    fn lock(&self) -> MutexGuard<'_, Pool> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The agent to send with, and whether it likely holds an open connection.
    fn agent(&self) -> Result<(ureq::Agent, bool), Error> {
        let mut pool = self.lock();
        let warm = pool.warm_until.is_some_and(|until| Instant::now() < until);
        let agent = match &pool.agent {
            Some(agent) => agent.clone(),
            None => {
                let fresh = agent(&self.config)?;
                pool.agent = Some(fresh.clone());
                fresh
            }
        };
        Ok((agent, warm))
    }

    fn answered(&self) {
        self.lock().warm_until = Some(Instant::now() + WARM_FOR);
    }

    fn shut_down(&self) {
        let agent = {
            let mut pool = self.lock();
            pool.warm_until = None;
            pool.agent.take()
        };
        if let Some(agent) = agent {
            agent.shutdown();
        }
    }
}

/// An HTTP agent with these settings: finite time-outs, no redirects followed, status codes as
/// answers (not errors), and the system's trusted roots or the CAs of `ca_file`.
fn agent(config: &ClientConfig) -> Result<ureq::Agent, Error> {
    let roots = match &config.ca_file {
        None => RootCerts::PlatformVerifier,
        Some(path) => RootCerts::new_with_certs(&load_certificates(path)?),
    };
    Ok(ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_connect(Some(config.connect_timeout))
        .timeout_recv_response(Some(config.timeout))
        .timeout_recv_body(Some(config.timeout))
        .timeout_send_body(Some(config.timeout))
        .tls_config(TlsConfig::builder().root_certs(roots).build())
        .user_agent(concat!("nu_plugin_matrix/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent())
}

/// The certificates of a PEM file.
fn load_certificates(path: &std::path::Path) -> Result<Vec<Certificate<'static>>, Error> {
    let refuse = |problem: String| {
        Error::Input(InputError::new(
            problem,
            "ca_file must name a PEM file with the CA certificate(s) to trust",
        ))
    };
    let pem = std::fs::read(path).map_err(|err| {
        refuse(format!(
            "the CA file {} cannot be read: {err}",
            path.display()
        ))
    })?;
    let certificates: Vec<Certificate<'static>> = parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(certificate)) => Some(certificate),
            _ => None,
        })
        .collect();
    if certificates.is_empty() {
        return Err(refuse(format!(
            "the CA file {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certificates)
}

fn transport_error(url: &str, err: &ureq::Error) -> Error {
    Error::Transport(TransportError {
        url: url.to_owned(),
        kind: transport_kind(err),
        detail: err.to_string(),
    })
}

/// What kind of failure kept a request from getting an answer.
fn transport_kind(err: &ureq::Error) -> TransportKind {
    match err {
        ureq::Error::Timeout(_) => TransportKind::Timeout,
        ureq::Error::HostNotFound => TransportKind::HostNotFound,
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => TransportKind::Tls,
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => TransportKind::ConnectionRefused,
            std::io::ErrorKind::TimedOut => TransportKind::Timeout,
            // rustls reports a failed handshake through the I/O layer, the rustls error inside.
            _ if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()) =>
            {
                TransportKind::Tls
            }
            // The system resolver's failure has no kind of its own; its message is std's.
            _ if io.to_string().contains("lookup address") => TransportKind::HostNotFound,
            _ => TransportKind::Other,
        },
        _ => TransportKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_are_url_encoded() {
        let body = Body::form([("grant_type", "refresh_token"), ("token", "a b&c=d")]);
        assert_eq!(body.content_type(), "application/x-www-form-urlencoded");
        assert_eq!(body.bytes(), b"grant_type=refresh_token&token=a+b%26c%3Dd");
        let json = Body::json(&serde_json::json!({"a": 1}));
        assert_eq!(json.content_type(), "application/json");
        assert_eq!(json.bytes(), br#"{"a":1}"#);
    }

    #[test]
    fn a_rustls_error_inside_an_io_error_is_tls() {
        let inner = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, inner);
        assert_eq!(transport_kind(&ureq::Error::Io(io)), TransportKind::Tls);
        let plain = std::io::Error::new(std::io::ErrorKind::InvalidData, "certificate mumble");
        assert_eq!(
            transport_kind(&ureq::Error::Io(plain)),
            TransportKind::Other
        );
    }
}
