//! `matrix login --oauth` with the device authorization grant: the plugin prints an address and
//! a code on stderr (and opens the address where a browser can appear), and polls until someone
//! approves the sign-in on any device, the code expires, the time-out passes or Ctrl-C comes.

use std::io::Write;
use std::time::{Duration, Instant};

use nu_protocol::LabeledError;

use crate::client::{Client, Interrupt};
use crate::error::Error;
use crate::oauth::{AuthMetadata, OAuthTokens};
use crate::plugin::browser::{Opened, open_browser};
use crate::plugin::errors::{self, Blame};
use crate::plugin::oauth_registry::{Registry, Wait};

/// Signs in with the device code, as the kept client (registered again, once, when the server
/// refuses it) or a new registration. Returns the client_id and the tokens.
pub(crate) fn with_device_code(
    client: &Client,
    metadata: &AuthMetadata,
    registry: &Registry<'_>,
    scope: &str,
    wait: &Wait,
    interrupt: &Interrupt,
    blame: &Blame,
) -> Result<(String, OAuthTokens), LabeledError> {
    let failed = |err: Error| errors::login(err, blame);
    let remembered = registry.remembered();
    let mut client_id = match &remembered {
        Some(id) => id.clone(),
        None => registry.register()?,
    };
    let device = match client.request_device_code(metadata, &client_id, scope) {
        // The server forgot this program's registration: register again, once.
        Err(Error::OAuth(err)) if err.error == "invalid_client" && remembered.is_some() => {
            client_id = registry.register()?;
            client.request_device_code(metadata, &client_id, scope)
        }
        other => other,
    }
    .map_err(failed)?;
    let page = device
        .verification_uri_complete
        .as_deref()
        .unwrap_or(&device.verification_uri);
    let opened = if wait.no_browser {
        Opened::NotAsked
    } else {
        open_browser(page)
    };
    let left = device.expires_at.saturating_duration_since(Instant::now());
    let limit = wait.limit.map_or(left, |limit| limit.min(left));
    tell(
        client.homeserver(),
        &device.verification_uri,
        page,
        &device.user_code,
        &opened,
        limit,
    );
    let started = Instant::now();
    let tokens = client
        .wait_for_device_token(metadata, &client_id, &device, limit, &|| interrupt())
        .map_err(|err| match err {
            Error::OAuth(err) if err.error == "access_denied" => {
                LabeledError::new("The sign-in was refused")
                    .with_label("refused on the approval page", wait.flag)
                    .with_help("run the command again and approve the device this time")
            }
            Error::OAuth(err) if err.error == "expired_token" => {
                LabeledError::new("Nobody approved the sign-in in time")
                    .with_label(
                        format!("waited {} s", started.elapsed().as_secs()),
                        wait.flag,
                    )
                    .with_help(
                        "run the command again and enter the code sooner (--oauth-timeout \
                         waits longer, up to the code's own expiry)",
                    )
            }
            other => errors::login(other, blame),
        })?;
    Ok((client_id, tokens))
}

/// Tells the user, on stderr (the plugin's stdout talks to Nushell), where to approve the
/// sign-in and with which code.
fn tell(homeserver: &str, short: &str, page: &str, code: &str, opened: &Opened, wait: Duration) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "OAuth 2.0 sign-in at {homeserver}");
    if let Opened::No(why) = opened {
        let _ = writeln!(stderr, "(Could not open a browser: {why}.)");
    }
    let _ = writeln!(
        stderr,
        "On any device (a phone will do), open\n\n  {page}\n\nand enter the code: {code}\n"
    );
    if page != short {
        let _ = writeln!(stderr, "(or open {short} and type the code there)");
    }
    let _ = writeln!(
        stderr,
        "Waiting up to {} min for the approval; Ctrl-C stops.",
        wait.as_secs().div_ceil(60)
    );
}
