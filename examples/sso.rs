//! Single sign-on with the library: prints the page to open in a browser on this machine,
//! waits (at most 5 minutes) for the browser to come back with a login token, logs in with it
//! and prints the session, its token masked.
//!
//! ```sh
//! cargo run --example sso -- https://matrix.example.org [identity provider ID]
//! ```

use std::process::ExitCode;
use std::time::Duration;

use nu_plugin_matrix::sso::SsoListener;
use nu_plugin_matrix::{Client, Error, LoginRequest, Session};

#[allow(dead_code)] // the tests call `sign_in` directly
fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(homeserver) = args.next() else {
        eprintln!("usage: sso <homeserver URL> [identity provider ID]");
        return ExitCode::FAILURE;
    };
    let idp = args.next();
    let shown = sign_in(&homeserver, idp.as_deref(), |url| {
        eprintln!("Open this page in a browser on this machine and sign in:\n\n  {url}\n");
    });
    match shown {
        Ok(session) => {
            println!("{session:#?}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Signs in through the browser: `show` gets the URL to open.
pub fn sign_in(
    homeserver: &str,
    idp: Option<&str>,
    show: impl FnOnce(&str),
) -> Result<Session, Error> {
    let client = Client::new(homeserver)?;
    let listener = SsoListener::bind()?;
    show(&client.sso_url(idp, listener.redirect_url()));
    // No Ctrl-C check here: the process ends on Ctrl-C anyway.
    let login_token = listener.wait(Duration::from_secs(300), &|| false)?;
    client.login(&LoginRequest::token(login_token).device_name("sso example"))
}
