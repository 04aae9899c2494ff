//! `matrix login --oauth-browser` (and `--oauth` where the server offers no device code): the
//! authorization code grant with PKCE. The browser, on this machine, signs in on the OAuth 2.0
//! server's page and is sent back to a listener on `127.0.0.1` with a code, which the plugin
//! exchanges for the tokens.

use std::io::Write;

use nu_protocol::LabeledError;

use crate::client::{Client, Interrupt};
use crate::error::{Error, SsoError};
use crate::oauth::{AuthMetadata, OAuthClient, OAuthTokens};
use crate::plugin::browser::{DEFAULT_WAIT, Opened, human, open_browser, tell};
use crate::plugin::errors::{self, Blame};
use crate::plugin::oauth_registry::Wait;

/// Signs in in the browser as the client `client_id` and returns the tokens.
pub(crate) fn in_browser(
    client: &Client,
    metadata: &AuthMetadata,
    client_id: &str,
    scope: &str,
    wait: &Wait,
    interrupt: &Interrupt,
    blame: &Blame,
) -> Result<OAuthTokens, LabeledError> {
    let sign_in = client
        .start_browser_sign_in(metadata, client_id, scope)
        .map_err(|err| errors::login(err, blame))?;
    let opened = if wait.no_browser {
        Opened::NotAsked
    } else {
        open_browser(sign_in.url())
    };
    let limit = wait.limit.unwrap_or(DEFAULT_WAIT);
    tell(
        &format!("OAuth 2.0 sign-in at {}", client.homeserver()),
        sign_in.url(),
        &opened,
        &format!(
            "Waiting up to {} for the browser to come back (Ctrl-C stops).",
            human(limit)
        ),
    );
    let code = sign_in.wait_for_code(limit, &|| interrupt());
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(
        stderr,
        "{}",
        match &code {
            Ok(_) => "Signed in in the browser; getting the tokens.",
            Err(_) => "Stopped waiting for the browser.",
        }
    );
    drop(stderr);
    let device_code_instead = if metadata.offers_device_code() {
        "; on another machine (over SSH, say), use `matrix login --oauth`: it signs in with a \
         code on any device"
    } else {
        ""
    };
    let code = code.map_err(|err| match err {
        Error::Sso(SsoError::TimedOut { .. }) => LabeledError::new(format!(
            "The browser did not come back within {}",
            human(limit)
        ))
        .with_label("no sign-in arrived", wait.flag)
        .with_help(format!(
            "run it again and finish signing in sooner, or give more time with --oauth-timeout. \
             The browser must run on this machine: it is sent back to {}{device_code_instead}",
            sign_in.redirect_uri()
        ))
        .with_code("matrix::oauth::browser_timeout"),
        Error::Sso(SsoError::NoCode) => {
            LabeledError::new("The OAuth 2.0 server sent the browser back without a code")
                .with_label("no code, no error", wait.flag)
                .with_help(
                    "run the command again; if it happens again, the OAuth 2.0 server is at \
                     fault: tell its admin",
                )
                .with_code("matrix::oauth::no_code")
        }
        Error::OAuth(err) if err.error == "access_denied" => {
            LabeledError::new("The sign-in was refused")
                .with_label("refused in the browser", wait.flag)
                .with_help("run the command again and allow the access this time")
                .with_code("matrix::oauth::access_denied")
        }
        Error::OAuth(err) => LabeledError::new("The OAuth 2.0 server did not finish the sign-in")
            .with_label(err.error.clone(), wait.flag)
            .with_help(format!("the server said: {err}"))
            .with_code(format!("matrix::oauth::{}", err.error)),
        other => errors::login(other, blame),
    })?;
    let oauth = OAuthClient::new(metadata, client_id);
    client
        .exchange_code(&oauth, &sign_in, &code)
        .map_err(|err| match err {
            Error::OAuth(err) if err.error == "invalid_grant" => {
                LabeledError::new("The OAuth 2.0 server refused the sign-in's code")
                    .with_label("code used already, or expired", wait.flag)
                    .with_help(format!(
                        "a code works once, for a short time: run the command again; the \
                         server said: {err}"
                    ))
                    .with_code("matrix::oauth::invalid_grant")
            }
            other => errors::login(other, blame),
        })
}
