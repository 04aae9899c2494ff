//! Finding the homeserver of a server name, as the spec's client-side server discovery says.
//!
//! Spec: <https://spec.matrix.org/v1.16/client-server-api/#server-discovery>. From the server
//! name (the part of a user ID after the colon) the hostname is taken, without a port, and
//! `https://<hostname>/.well-known/matrix/client` is fetched:
//!
//! - 404: no delegation. The server name itself is then tried as the homeserver, checked with
//!   `/_matrix/client/versions`.
//! - any other failure to get a JSON object with `m.homeserver.base_url` is the spec's
//!   FAIL_PROMPT: discovery found nothing, ask the user for the homeserver;
//! - a `base_url` that is not a URL, or that does not answer `/versions` like a homeserver, is
//!   FAIL_ERROR: the delegation is broken.
//!
//! Redirects of the well-known request are followed (spec v1.20), up to five, never in a loop and
//! never from https down to http. `/.well-known/matrix/server` is for federation and not used.

use std::fmt;
use std::time::Duration;

use serde_json::Value as JsonValue;

use crate::answer::Raw;
use crate::answer::excerpt;
use crate::error::{Error, TransportKind};
use crate::http::{ClientConfig, Interrupt, MAX_BODY_BYTES, Method, Request, Transport};

pub use crate::error::{DiscoveryError, Outcome};
use crate::ids::{InputError, UserId, check_server_name, homeserver_url, http_allowed};

/// How many redirects of the well-known request are followed.
const MAX_REDIRECTS: usize = 5;

/// Where a homeserver was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Delegated by `/.well-known/matrix/client`.
    WellKnown,
    /// No delegation (404): the server name itself is the homeserver.
    ServerName,
}

impl Source {
    /// `well-known` or `server name`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WellKnown => "well-known",
            Self::ServerName => "server name",
        }
    }
}

/// What discovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The server name discovery started from.
    pub server_name: String,
    /// The homeserver's base URL, without a trailing slash.
    pub homeserver: String,
    /// The identity server's base URL, if the well-known names one.
    pub identity_server: Option<String>,
    /// The spec versions the homeserver supports, from `/_matrix/client/versions`.
    pub versions: Vec<String>,
    /// Where the homeserver was found.
    pub source: Source,
}

/// Runs server discovery.
#[derive(Clone)]
pub struct Discovery {
    transport: Transport,
    origin: Option<String>,
    allow_http: bool,
}

impl fmt::Debug for Discovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Discovery")
            .field("origin", &self.origin)
            .field("allow_http", &self.allow_http)
            .finish_non_exhaustive()
    }
}

/// Why a step of discovery ended without an answer to read.
enum Miss {
    /// A failure to report as the spec's outcome: what was wrong and, when the request got no
    /// HTTP answer at all, what kind of failure that was.
    Problem(String, Option<TransportKind>),
    /// Interrupted, or unusable settings: passed on as it is.
    Abort(Box<Error>),
}

impl Miss {
    fn problem(text: impl Into<String>) -> Self {
        Self::Problem(text.into(), None)
    }

    /// The same miss, its problem put in a sentence.
    fn context(self, sentence: impl FnOnce(String) -> String) -> Self {
        match self {
            Self::Problem(text, kind) => Self::Problem(sentence(text), kind),
            abort => abort,
        }
    }
}

impl From<Error> for Miss {
    fn from(err: Error) -> Self {
        match err {
            Error::Transport(err) => {
                let text = match err.kind {
                    TransportKind::Timeout => "no answer in time".to_owned(),
                    TransportKind::HostNotFound => "host not found".to_owned(),
                    TransportKind::ConnectionRefused => "connection refused".to_owned(),
                    _ => err.detail,
                };
                Self::Problem(text, Some(err.kind))
            }
            Error::UnexpectedResponse(err) => Self::problem(err.problem),
            other => Self::Abort(Box::new(other)),
        }
    }
}

impl Discovery {
    /// Discovery with these time-outs. Plain-http homeservers are accepted only on loopback
    /// addresses unless [`Discovery::allow_http`] says otherwise.
    pub fn new(config: &ClientConfig) -> Result<Self, Error> {
        Ok(Self {
            transport: Transport::new(config)?,
            origin: None,
            allow_http: false,
        })
    }

    /// Give up as soon as `interrupted` says so: see [`crate::Client::with_interrupt`].
    pub fn with_interrupt(mut self, interrupted: Interrupt) -> Self {
        self.transport = self.transport.with_interrupt(interrupted);
        self
    }

    /// Accept plain-http homeservers on any host.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Look for the well-known document (and fall back to) this origin instead of
    /// `https://<hostname>`. For test servers on loopback addresses only: any other origin is
    /// refused, so that the production path stays the spec's.
    pub fn with_loopback_origin(mut self, origin: &str) -> Result<Self, Error> {
        let origin = homeserver_url(origin)?;
        if !http_allowed(&origin, false) || !origin.starts_with("http://") {
            return Err(Error::Input(InputError {
                problem: format!("'{origin}' is not a loopback http origin"),
                hint: "the discovery origin may only be replaced for test servers on 127.0.0.1"
                    .into(),
            }));
        }
        self.origin = Some(origin);
        Ok(self)
    }

    /// Finds the homeserver of a server name (`example.org`) or user ID (`@bot:example.org`).
    pub fn discover(&self, name: &str) -> Result<Discovered, Error> {
        let server_name = if name.starts_with('@') {
            UserId::parse(name)?.server_name().to_owned()
        } else {
            check_server_name(name)?;
            name.to_owned()
        };
        let hostname = hostname_of(&server_name);
        let origin = self
            .origin
            .clone()
            .unwrap_or_else(|| format!("https://{hostname}"));
        let well_known = format!("{origin}/.well-known/matrix/client");
        let fail = |outcome: Outcome, url: &str, miss: Miss| match miss {
            Miss::Abort(err) => *err,
            Miss::Problem(problem, transport) => Error::Discovery(DiscoveryError {
                outcome,
                server_name: server_name.clone(),
                url: url.to_owned(),
                problem,
                transport,
            }),
        };
        let fetched = self
            .fetch_following(&well_known)
            .map_err(|(url, miss)| fail(Outcome::FailPrompt, &url, miss))?;
        if fetched.status == 404 {
            // No delegation: the server name itself may be the homeserver.
            let base = self
                .origin
                .clone()
                .unwrap_or_else(|| format!("https://{server_name}"));
            let versions = self.versions(&base).map_err(|miss| {
                let miss = miss.context(|problem| {
                    format!(
                        "there is no delegation (404), and {base} is not a homeserver either ({problem})"
                    )
                });
                fail(Outcome::FailPrompt, &fetched.url, miss)
            })?;
            return Ok(Discovered {
                server_name: server_name.clone(),
                homeserver: base,
                identity_server: None,
                versions,
                source: Source::ServerName,
            });
        }
        if fetched.status != 200 {
            let mut problem = format!("it answered HTTP {}", fetched.status);
            let text = excerpt(&fetched.body, &[]);
            if !text.is_empty() {
                problem.push_str(&format!(" (\"{text}\")"));
            }
            return Err(fail(
                Outcome::FailPrompt,
                &fetched.url,
                Miss::problem(problem),
            ));
        }
        let (homeserver, identity_server) = read_well_known(&fetched.body, self.allow_http)
            .map_err(|(outcome, problem)| fail(outcome, &fetched.url, Miss::problem(problem)))?;
        let versions = self.versions(&homeserver).map_err(|miss| {
            let miss = miss.context(|problem| {
                format!("its m.homeserver.base_url {homeserver} is not a homeserver ({problem})")
            });
            fail(Outcome::FailError, &fetched.url, miss)
        })?;
        Ok(Discovered {
            server_name,
            homeserver,
            identity_server,
            versions,
            source: Source::WellKnown,
        })
    }

    /// `GET <base>/_matrix/client/versions`: the spec versions, or why this is no homeserver.
    fn versions(&self, base: &str) -> Result<Vec<String>, Miss> {
        let url = format!("{base}/_matrix/client/versions");
        let fetched = self
            .fetch(&url)
            .map_err(|miss| miss.context(|problem| format!("{url}: {problem}")))?;
        if fetched.status != 200 {
            return Err(Miss::problem(format!(
                "{url} answered HTTP {}",
                fetched.status
            )));
        }
        let versions = serde_json::from_slice::<JsonValue>(&fetched.body)
            .ok()
            .and_then(|answer| answer.get("versions").cloned())
            .and_then(|versions| {
                versions.as_array().map(|list| {
                    list.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect::<Vec<_>>()
                })
            });
        match versions {
            Some(versions) if !versions.is_empty() => Ok(versions),
            _ => Err(Miss::problem(format!(
                "{url} did not list any spec versions"
            ))),
        }
    }

    /// GETs a URL, following redirects: never in a loop, never from https to http.
    fn fetch_following(&self, start: &str) -> Result<Raw, (String, Miss)> {
        let mut seen = vec![start.to_owned()];
        let mut url = start.to_owned();
        loop {
            let fetched = self.fetch(&url).map_err(|miss| (url.clone(), miss))?;
            if !(300..400).contains(&fetched.status) {
                return Ok(fetched);
            }
            let refuse = |url: &str, problem: String| (url.to_owned(), Miss::problem(problem));
            let location = fetched.location.clone().ok_or_else(|| {
                refuse(
                    &url,
                    format!("a redirect (HTTP {}) without a Location", fetched.status),
                )
            })?;
            let next = url::Url::parse(&url)
                .and_then(|base| base.join(&location))
                .map_err(|_| refuse(&url, "a redirect to an invalid URL".to_owned()))?;
            if url.starts_with("https:") && next.scheme() == "http" {
                return Err(refuse(
                    &url,
                    format!("a redirect from https down to http ({next})"),
                ));
            }
            let next = next.to_string();
            if seen.contains(&next) {
                seen.push(next);
                return Err(refuse(
                    &url,
                    format!("a redirect loop: {}", seen.join(" -> ")),
                ));
            }
            if seen.len() > MAX_REDIRECTS {
                return Err(refuse(&url, format!("more than {MAX_REDIRECTS} redirects")));
            }
            seen.push(next.clone());
            url = next;
        }
    }

    /// One GET through the transport: its status, `Location` and body (bounded).
    fn fetch(&self, url: &str) -> Result<Raw, Miss> {
        let request = Request {
            method: Method::Get,
            url,
            bearer: None,
            basic: None,
            body: None,
            limit: MAX_BODY_BYTES,
            held: Duration::ZERO,
        };
        Ok(self.transport.send(&request)?)
    }
}

/// The homeserver and identity server a well-known document names, or which failure it is
/// (before the homeserver is checked with `/versions`).
pub(crate) fn read_well_known(
    body: &[u8],
    allow_http: bool,
) -> Result<(String, Option<String>), (Outcome, String)> {
    let prompt = |problem: String| (Outcome::FailPrompt, problem);
    let error = |problem: String| (Outcome::FailError, problem);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(prompt("the document is empty".into()));
    }
    let Ok(JsonValue::Object(document)) = serde_json::from_slice::<JsonValue>(body) else {
        return Err(prompt(format!(
            "the document is not a JSON object (\"{}\")",
            excerpt(body, &[])
        )));
    };
    let Some(base_url) = document
        .get("m.homeserver")
        .and_then(|homeserver| homeserver.get("base_url"))
        .and_then(JsonValue::as_str)
    else {
        return Err(prompt("it has no m.homeserver.base_url".into()));
    };
    let homeserver = homeserver_url(base_url).map_err(|err| {
        error(format!(
            "its m.homeserver.base_url is not a valid URL: {}",
            err.problem
        ))
    })?;
    if !http_allowed(&homeserver, allow_http) {
        return Err(error(format!(
            "its m.homeserver.base_url {homeserver} is plain http, refused for a host that is \
             not on this machine"
        )));
    }
    let identity_server = match document.get("m.identity_server") {
        None => None,
        Some(identity) => {
            let Some(url) = identity.get("base_url").and_then(JsonValue::as_str) else {
                return Err(prompt("its m.identity_server has no base_url".into()));
            };
            Some(homeserver_url(url).map_err(|err| {
                error(format!(
                    "its m.identity_server.base_url is not a valid URL: {}",
                    err.problem
                ))
            })?)
        }
    };
    Ok((homeserver, identity_server))
}

/// The hostname of a server name: without a port, IPv6 literals kept in brackets.
fn hostname_of(server_name: &str) -> &str {
    if server_name.starts_with('[') {
        return server_name
            .find(']')
            .map_or(server_name, |end| &server_name[..=end]);
    }
    server_name
        .rsplit_once(':')
        .map_or(server_name, |(host, _)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_drop_the_port() {
        assert_eq!(hostname_of("example.org"), "example.org");
        assert_eq!(hostname_of("example.org:8448"), "example.org");
        assert_eq!(hostname_of("[::1]:8448"), "[::1]");
        assert_eq!(hostname_of("[::1]"), "[::1]");
    }

    #[test]
    fn only_loopback_origins_replace_the_spec_origin() {
        let discovery = Discovery::new(&ClientConfig::default()).expect("an agent");
        assert!(
            discovery
                .clone()
                .with_loopback_origin("http://127.0.0.1:8080")
                .is_ok()
        );
        assert!(
            discovery
                .clone()
                .with_loopback_origin("http://example.org")
                .is_err()
        );
        assert!(discovery.with_loopback_origin("https://127.0.0.1").is_err());
    }
}
