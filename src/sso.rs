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

use std::sync::Arc;
use std::time::Duration;

use crate::client::Client;
use crate::error::Error;
use crate::loopback::{Loopback, NOT_THIS_SIGN_IN, Page, Params, Verdict};

pub use crate::error::SsoError;
use crate::secret::{AccessToken, random_hex};

/// A listener on `127.0.0.1` waiting for the browser to come back from a single sign-on.
#[derive(Debug)]
pub struct SsoListener {
    loopback: Loopback,
    nonce: String,
    redirect_url: String,
}

impl SsoListener {
    /// Listens on `127.0.0.1` on a port the system picks, with a fresh random nonce.
    pub fn bind() -> Result<Self, Error> {
        let loopback = Loopback::bind()?;
        let nonce = random_hex::<16>().map_err(|err| {
            Error::Sso(SsoError::Listen {
                detail: format!("no randomness for the nonce: {err}"),
            })
        })?;
        let redirect_url = format!("{}?nonce={nonce}", loopback.callback_url());
        Ok(Self {
            loopback,
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
        self.loopback.port()
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
        let nonce = self.nonce.clone();
        self.loopback.wait(
            timeout,
            interrupted,
            Arc::new(move |params| judge(params, &nonce)),
        )
    }
}

/// What a callback brings to a single sign-on: only the nonce and a login token end the wait.
pub(crate) fn judge(params: &Params, nonce: &str) -> Verdict<AccessToken> {
    if !params.matches("nonce", nonce) {
        return Verdict::Rejected(NOT_THIS_SIGN_IN);
    }
    match params.get("loginToken").filter(|token| !token.is_empty()) {
        Some(token) => Verdict::Done(
            AccessToken::new(token.to_owned()),
            Page {
                status: 200,
                title: "Signed in",
                text: "The terminal has the login. You can close this tab.",
            },
        ),
        None => Verdict::Rejected(Page {
            status: 400,
            title: "No login token",
            text: "The homeserver sent the browser back without a login token. Look at the \
                   terminal, and try again.",
        }),
    }
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
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Instant;

    use super::*;
    use crate::loopback::READ_TIMEOUT;

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
            text.contains("1 request(s) that did not belong to this sign-in"),
            "{text}"
        );
        let err = listener
            .wait(Duration::from_secs(60), &|| true)
            .expect_err("interrupted");
        assert!(matches!(err, Error::Interrupted { .. }), "{err:?}");
    }
}
