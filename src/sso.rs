//! Single sign-on from a program: the browser signs in at the homeserver (and whatever identity
//! provider it uses), and the homeserver hands a login token back to a listener on this machine.
//!
//! 1. [`SsoListener::bind`] listens on `127.0.0.1` on a free port and makes a fresh random nonce.
//! 2. [`Client::sso_url`] is the URL to open in the browser; it carries the listener's
//!    [`SsoListener::redirect_url`] (with the nonce) as `redirectUrl`.
//! 3. [`SsoListener::wait`] waits for the browser to come back with `loginToken`. A request
//!    without the right nonce is answered with an error page and does not end the wait.
//! 4. [`LoginRequest::token`] exchanges the login token for a session.
//!
//! Synapse sends the browser back at once only to URLs that start with an entry of
//! `sso.client_whitelist`; to others it first shows a page asking to continue.
//!
//! ```no_run
//! use std::time::Duration;
//! use nu_plugin_matrix::{Client, LoginRequest, sso::SsoListener};
//!
//! # fn main() -> Result<(), nu_plugin_matrix::Error> {
//! let client = Client::new("https://matrix.example.org")?;
//! let listener = SsoListener::bind()?;
//! println!("Sign in at: {}", client.sso_url(None, listener.redirect_url()));
//! let login_token = listener.wait(Duration::from_secs(300), &|| false)?;
//! let session = client.login(&LoginRequest::token(login_token))?;
//! # Ok(()) }
//! ```
//!
//! Spec: <https://spec.matrix.org/v1.16/client-server-api/#client-login-via-sso>
//!
//! [`Client::sso_url`]: crate::Client::sso_url
//! [`LoginRequest::token`]: crate::LoginRequest::token

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use crate::client::Client;
use crate::error::Error;
use crate::http::POLL;

pub use crate::error::SsoError;
use crate::secret::{AccessToken, random_hex};

/// The path the browser is sent back to.
const CALLBACK_PATH: &str = "/callback";
/// The largest request head read from the browser.
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How long one browser connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A listener on `127.0.0.1` waiting for the browser to come back from a single sign-on.
#[derive(Debug)]
pub struct SsoListener {
    listener: TcpListener,
    nonce: String,
    redirect_url: String,
}

impl SsoListener {
    /// Listens on `127.0.0.1` on a port the system picks, with a fresh random nonce.
    pub fn bind() -> Result<Self, Error> {
        let listen_error = |err: std::io::Error| {
            Error::Sso(SsoError::Listen {
                detail: err.to_string(),
            })
        };
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(listen_error)?;
        listener.set_nonblocking(true).map_err(listen_error)?;
        let port = listener.local_addr().map_err(listen_error)?.port();
        let nonce = random_hex::<16>().map_err(|err| {
            Error::Sso(SsoError::Listen {
                detail: format!("no randomness for the nonce: {err}"),
            })
        })?;
        let redirect_url = format!("http://127.0.0.1:{port}{CALLBACK_PATH}?nonce={nonce}");
        Ok(Self {
            listener,
            nonce,
            redirect_url,
        })
    }

    /// Where the homeserver sends the browser back to: `http://127.0.0.1:<port>/callback?nonce=…`.
    pub fn redirect_url(&self) -> &str {
        &self.redirect_url
    }

    /// The port listened on.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|addr| addr.port())
            .unwrap_or_default()
    }

    /// Waits for the browser to arrive with the nonce and a `loginToken`, at most `timeout`,
    /// looking at `interrupted` every 50 ms ([`Error::Interrupted`] when it says so). The
    /// browser gets a short page that says whether to close it. Requests without the right
    /// nonce, or without a login token, are answered with an error page and waiting goes on.
    pub fn wait(
        &self,
        timeout: Duration,
        interrupted: &dyn Fn() -> bool,
    ) -> Result<AccessToken, Error> {
        let started = Instant::now();
        let mut rejected = 0;
        // Each connection is read on a thread of its own: a browser may open connections it
        // sends nothing on (preconnects), which must not hold up the one that matters.
        let (sender, results) = mpsc::channel();
        loop {
            while let Ok(result) = results.try_recv() {
                match result {
                    Callback::Token(token) => return Ok(token),
                    Callback::Rejected => rejected += 1,
                    Callback::Ignored => {}
                }
            }
            match self.listener.accept() {
                Ok((stream, _)) => {
                    let sender = sender.clone();
                    let nonce = self.nonce.clone();
                    std::thread::spawn(move || {
                        let _ = sender.send(answer(stream, &nonce));
                    });
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => {
                    if interrupted() {
                        return Err(Error::Interrupted {
                            url: self.redirect_url.clone(),
                        });
                    }
                    if started.elapsed() >= timeout {
                        return Err(Error::Sso(SsoError::TimedOut {
                            waited: timeout,
                            rejected,
                        }));
                    }
                    std::thread::sleep(POLL);
                }
                // A connection that failed before it was accepted: wait for the next.
                Err(_) => std::thread::sleep(POLL),
            }
        }
    }
}

/// Reads one request and answers it.
fn answer(mut stream: TcpStream, expected_nonce: &str) -> Callback {
    let request =
        read_head(&mut stream).map_or(Request::Bad, |head| parse_request(&head, expected_nonce));
    let (status, title, text, callback) = match request {
        Request::Bad => (
            400,
            "Bad request",
            "This is not a request this page understands.",
            Callback::Ignored,
        ),
        Request::OtherPath => (404, "Not found", "Nothing here.", Callback::Ignored),
        Request::WrongNonce => (
            403,
            "Not this sign-in",
            "This link does not belong to the sign-in the terminal is waiting for, so it was \
             refused. Start the sign-in again from the terminal.",
            Callback::Rejected,
        ),
        Request::NoToken => (
            400,
            "No login token",
            "The homeserver sent the browser back without a login token. Look at the \
             terminal, and try again.",
            Callback::Rejected,
        ),
        Request::Token(token) => (
            200,
            "Signed in",
            "The terminal has the login. You can close this tab.",
            Callback::Token(token),
        ),
    };
    respond(&mut stream, status, title, text);
    callback
}

/// What a request meant for the wait.
enum Callback {
    Token(AccessToken),
    /// The right path, but not the right nonce or no token.
    Rejected,
    /// Something else (a favicon, a malformed request).
    Ignored,
}

/// What one request to the listener is.
pub(crate) enum Request {
    /// Not a `GET` of a path, or unreadable.
    Bad,
    /// Another path (a favicon).
    OtherPath,
    /// The callback, without this sign-in's nonce.
    WrongNonce,
    /// The callback with the nonce but no login token.
    NoToken,
    /// The callback with the nonce and a login token.
    Token(AccessToken),
}

/// Reads a request head (up to [`MAX_HEAD_BYTES`], within [`READ_TIMEOUT`]).
fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(READ_TIMEOUT)).ok()?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        if head.len() >= MAX_HEAD_BYTES {
            return None;
        }
        let read = stream.read(&mut chunk).ok()?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..read]);
    }
    Some(head)
}

/// Reads a request head: only `GET /callback?nonce=<expected>&loginToken=…` brings a token.
pub(crate) fn parse_request(head: &[u8], expected_nonce: &str) -> Request {
    let target = head
        .split(|byte| *byte == b'\n')
        .next()
        .and_then(|line| std::str::from_utf8(line).ok())
        .and_then(|line| {
            let mut parts = line.trim_end().split(' ');
            let (method, target) = (parts.next()?, parts.next()?);
            // A request target is visible ASCII; the URL parser would silently drop tabs and
            // line breaks inside it (`n\ronce=` read as `nonce=`).
            (method == "GET"
                && target.starts_with('/')
                && target.bytes().all(|byte| byte.is_ascii_graphic()))
            .then_some(target)
        });
    let Some(url) =
        target.and_then(|target| url::Url::parse(&format!("http://127.0.0.1{target}")).ok())
    else {
        return Request::Bad;
    };
    if url.path() != CALLBACK_PATH {
        return Request::OtherPath;
    }
    let mut nonce = None;
    let mut login_token = None;
    // The names are matched as written (`%6Eonce` is not `nonce`): the homeserver appends
    // `loginToken` to the address this listener made, so both appear literally.
    for pair in url.query().unwrap_or_default().split('&') {
        let name = pair.split_once('=').map_or(pair, |(name, _)| name);
        let Some((_, value)) = url::form_urlencoded::parse(pair.as_bytes()).next() else {
            continue;
        };
        match name {
            "nonce" => nonce = Some(value.into_owned()),
            "loginToken" => login_token = Some(AccessToken::new(value.into_owned())),
            _ => {}
        }
    }
    let nonce_ok =
        nonce.is_some_and(|nonce| bool::from(nonce.as_bytes().ct_eq(expected_nonce.as_bytes())));
    match login_token.filter(|token| !token.reveal().is_empty()) {
        _ if !nonce_ok => Request::WrongNonce,
        Some(token) => Request::Token(token),
        None => Request::NoToken,
    }
}

/// A small HTML page, not cached, that sends no referrer on.
fn respond(stream: &mut TcpStream, status: u16, title: &str, text: &str) {
    let reason = match status {
        200 => "OK",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         </head><body style=\"font-family: sans-serif; max-width: 36em; margin: 4em auto\">\
         <h1>{title}</h1><p>{text}</p><p><small>nu_plugin_matrix</small></p></body></html>"
    );
    let answer = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes());
    let _ = stream.flush();
}

impl Client {
    /// The URL to open in the browser for a single sign-on that comes back to `redirect_url`:
    /// `/_matrix/client/v3/login/sso/redirect[/<idp>]?redirectUrl=…`. With `idp` (an ID from
    /// [`Client::login_flows`]), the browser goes straight to that identity provider.
    pub fn sso_url(&self, idp: Option<&str>, redirect_url: &str) -> String {
        let mut url = self.url_of(true, ["login", "sso", "redirect"].into_iter().chain(idp));
        url.query_pairs_mut()
            .append_pair("redirectUrl", redirect_url);
        url.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends raw bytes to the listener and returns the answer's status line.
    fn ask(port: u16, raw: &[u8]) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.write_all(raw).expect("send");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer.lines().next().unwrap_or_default().to_owned()
    }

    #[test]
    fn only_a_get_with_the_nonce_and_a_token_ends_the_wait() {
        let listener = SsoListener::bind().expect("listen");
        let port = listener.port();
        let url = listener.redirect_url().to_owned();
        assert!(url.starts_with(&format!("http://127.0.0.1:{port}/callback?nonce=")));
        let nonce = url.split("nonce=").nth(1).unwrap().to_owned();
        assert_eq!(nonce.len(), 32);
        let browser = std::thread::spawn(move || {
            // A preconnect that sends nothing must not hold up the others.
            let _idle = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            [
                ask(
                    port,
                    format!("POST /callback?nonce={nonce}&loginToken=t HTTP/1.1\r\n\r\n")
                        .as_bytes(),
                ),
                ask(port, &[b'x'; 20_000]),
                ask(
                    port,
                    format!("GET /callback?n\tonce={nonce}&loginToken=t HTTP/1.1\r\n\r\n")
                        .as_bytes(),
                ),
                ask(
                    port,
                    format!("GET /callback?%6Eonce={nonce}&loginToken=t HTTP/1.1\r\n\r\n")
                        .as_bytes(),
                ),
                ask(
                    port,
                    b"GET /callback?nonce=wrong&loginToken=t HTTP/1.1\r\n\r\n",
                ),
                ask(
                    port,
                    format!("GET /callback?nonce={nonce} HTTP/1.1\r\n\r\n").as_bytes(),
                ),
                ask(
                    port,
                    format!(
                        "GET /callback?nonce={nonce}&loginToken=syl_ok HTTP/1.1\r\nHost: x\r\n\r\n"
                    )
                    .as_bytes(),
                ),
            ]
        });
        let started = Instant::now();
        let token = listener
            .wait(Duration::from_secs(20), &|| false)
            .expect("a token");
        assert_eq!(token.reveal(), "syl_ok");
        assert!(
            started.elapsed() < READ_TIMEOUT,
            "held up by the idle connection"
        );
        let statuses = browser.join().expect("the browser");
        assert_eq!(
            statuses.map(|status| status.split(' ').nth(1).unwrap_or_default().to_owned()),
            ["400", "400", "400", "403", "403", "400", "200"].map(str::to_owned)
        );
    }

    #[test]
    fn the_wait_ends_at_the_time_out_or_when_interrupted() {
        let listener = SsoListener::bind().expect("listen");
        let port = listener.port();
        let browser = std::thread::spawn(move || {
            ask(
                port,
                b"GET /callback?nonce=forged&loginToken=t HTTP/1.1\r\n\r\n",
            )
        });
        // Give the forged request time to land before the wait ends.
        std::thread::sleep(Duration::from_millis(100));
        let err = listener
            .wait(Duration::from_millis(500), &|| false)
            .expect_err("nothing valid came");
        browser.join().expect("the browser");
        let text = err.to_string();
        assert!(text.contains("did not come back within 0 s"), "{text}");
        assert!(
            text.contains("1 request(s) without the right nonce"),
            "{text}"
        );
        let err = listener
            .wait(Duration::from_secs(60), &|| true)
            .expect_err("interrupted");
        assert!(matches!(err, Error::Interrupted { .. }), "{err:?}");
    }
}
