//! A listener on `127.0.0.1` for a browser that comes back to this program: after a single
//! sign-on (with a login token) or an OAuth 2.0 authorization (with a code). It answers each
//! request with a short page and hands the callback's query to a judge, which says whether the
//! wait is over. Used by [`crate::sso`] and [`crate::oauth`].

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use crate::error::{Error, SsoError};
use crate::http::POLL;

/// The path the browser is sent back to.
pub(crate) const CALLBACK_PATH: &str = "/callback";
/// The largest request head read from the browser.
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How long one browser connection may take to send its request.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The page the browser is shown.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page {
    pub status: u16,
    pub title: &'static str,
    pub text: &'static str,
}

/// The page of a callback that belongs to another sign-in (a forged or stale link).
pub(crate) const NOT_THIS_SIGN_IN: Page = Page {
    status: 403,
    title: "Not this sign-in",
    text: "This link does not belong to the sign-in the terminal is waiting for, so it was \
           refused. Start the sign-in again from the terminal.",
};

/// What a judge makes of one callback.
pub(crate) enum Verdict<T> {
    /// The wait is over with this; the browser is shown the page.
    Done(T, Page),
    /// Not this sign-in (a forged or stale link): the browser is shown the page, and waiting
    /// goes on.
    Rejected(Page),
}

/// Decides what a callback means for the wait.
pub(crate) type Judge<T> = Arc<dyn Fn(&Params) -> Verdict<T> + Send + Sync>;

/// The query of a callback: names as written (`%6Eonce` is not `nonce`: the server appends its
/// parameters to the address this program made, so they appear literally), values decoded.
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// The value of `name`, when it appears exactly once (a repeated name is not trusted).
    pub fn get(&self, name: &str) -> Option<&str> {
        let mut found = self.0.iter().filter(|(key, _)| key == name);
        match (found.next(), found.next()) {
            (Some((_, value)), None) => Some(value),
            _ => None,
        }
    }

    /// Whether `name` appears exactly once with a value equal to `expected`, compared in
    /// constant time.
    pub fn matches(&self, name: &str, expected: &str) -> bool {
        self.get(name)
            .is_some_and(|value| bool::from(value.as_bytes().ct_eq(expected.as_bytes())))
    }
}

/// What one request to the listener is.
pub(crate) enum Arrival {
    /// Not a `GET` of a path, or unreadable.
    Bad,
    /// Another path (a favicon).
    OtherPath,
    /// The callback, with its query.
    Callback(Params),
}

/// A listener on `127.0.0.1`, on a port the system picks.
#[derive(Debug)]
pub(crate) struct Loopback {
    listener: TcpListener,
}

impl Loopback {
    /// Listens on `127.0.0.1` on a free port.
    pub fn bind() -> Result<Self, Error> {
        let listen_error = |err: std::io::Error| {
            Error::Sso(SsoError::Listen {
                detail: err.to_string(),
            })
        };
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(listen_error)?;
        listener.set_nonblocking(true).map_err(listen_error)?;
        Ok(Self { listener })
    }

    /// The port listened on.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|addr| addr.port())
            .unwrap_or_default()
    }

    /// `http://127.0.0.1:<port>/callback`.
    pub fn callback_url(&self) -> String {
        format!("http://127.0.0.1:{}{CALLBACK_PATH}", self.port())
    }

    /// Waits for a callback the judge ends the wait with, at most `timeout`, looking at
    /// `interrupted` every 50 ms ([`Error::Interrupted`] when it says so).
    pub fn wait<T: Send + 'static>(
        &self,
        timeout: Duration,
        interrupted: &dyn Fn() -> bool,
        judge: Judge<T>,
    ) -> Result<T, Error> {
        let started = Instant::now();
        let mut rejected = 0;
        // Each connection is read on a thread of its own: a browser may open connections it
        // sends nothing on (preconnects), which must not hold up the one that matters.
        let (sender, results) = mpsc::channel();
        loop {
            while let Ok(result) = results.try_recv() {
                match result {
                    Outcome::Done(value) => return Ok(value),
                    Outcome::Rejected => rejected += 1,
                    Outcome::Ignored => {}
                }
            }
            match self.listener.accept() {
                Ok((stream, _)) => {
                    let sender = sender.clone();
                    let judge = Arc::clone(&judge);
                    std::thread::spawn(move || {
                        let _ = sender.send(answer(stream, judge.as_ref()));
                    });
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => {
                    if interrupted() {
                        return Err(Error::Interrupted {
                            url: self.callback_url(),
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

/// What a request meant for the wait.
enum Outcome<T> {
    Done(T),
    Rejected,
    /// Not the callback (a favicon, a malformed request).
    Ignored,
}

/// Reads one request, judges it and answers it.
fn answer<T>(
    mut stream: TcpStream,
    judge: &(dyn Fn(&Params) -> Verdict<T> + Send + Sync),
) -> Outcome<T> {
    let arrival = read_head(&mut stream).map_or(Arrival::Bad, |head| read_request(&head));
    let (page, outcome) = match arrival {
        Arrival::Bad => (
            Page {
                status: 400,
                title: "Bad request",
                text: "This is not a request this page understands.",
            },
            Outcome::Ignored,
        ),
        Arrival::OtherPath => (
            Page {
                status: 404,
                title: "Not found",
                text: "Nothing here.",
            },
            Outcome::Ignored,
        ),
        Arrival::Callback(params) => match judge(&params) {
            Verdict::Done(value, page) => (page, Outcome::Done(value)),
            Verdict::Rejected(page) => (page, Outcome::Rejected),
        },
    };
    respond(&mut stream, page);
    outcome
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

/// Reads a request head: only a `GET` of `/callback` is a callback.
pub(crate) fn read_request(head: &[u8]) -> Arrival {
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
        return Arrival::Bad;
    };
    if url.path() != CALLBACK_PATH {
        return Arrival::OtherPath;
    }
    let params = url
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| {
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            let (_, value) = url::form_urlencoded::parse(pair.as_bytes()).next()?;
            Some((name.to_owned(), value.into_owned()))
        })
        .collect();
    Arrival::Callback(Params(params))
}

/// A small HTML page, not cached, that sends no referrer on.
fn respond(stream: &mut TcpStream, page: Page) {
    let Page {
        status,
        title,
        text,
    } = page;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn params(target: &str) -> Params {
        match read_request(format!("GET {target} HTTP/1.1\r\n\r\n").as_bytes()) {
            Arrival::Callback(params) => params,
            _ => panic!("not a callback: {target}"),
        }
    }

    #[test]
    fn names_are_read_as_written_and_repeated_ones_are_not_trusted() {
        let query = params("/callback?state=a%20b&%73tate=x&code=c&code=d");
        assert_eq!(query.get("state"), Some("a b"));
        assert!(query.matches("state", "a b"));
        assert!(!query.matches("state", "a c"));
        assert_eq!(query.get("code"), None, "given twice");
        assert!(matches!(
            read_request(b"GET /favicon.ico HTTP/1.1\r\n\r\n"),
            Arrival::OtherPath
        ));
        assert!(matches!(
            read_request(b"GET /callback?n\tonce=x HTTP/1.1\r\n\r\n"),
            Arrival::Bad
        ));
    }
}
