//! `matrix login --oauth`: OAuth 2.0 login with the device authorization grant. The plugin
//! registers itself with the homeserver's OAuth 2.0 server, prints an address and a code on
//! stderr (and opens the address where a browser can appear), and polls until someone approves
//! the sign-in on any device, the code expires, the time-out passes or Ctrl-C comes.

use std::io::Write;
use std::time::{Duration, Instant};

use nu_plugin::EvaluatedCall;
use nu_protocol::{LabeledError, Spanned};

use crate::client::{Client, Interrupt};
use crate::error::Error;
use crate::oauth::{
    API_SCOPE, AuthMetadata, ClientMetadata, DEVICE_CODE_GRANT, MIN_DEVICE_ID_LEN, OAuthClient,
    device_scope, new_device_id,
};
use crate::plugin::MatrixPlugin;
use crate::plugin::config::duration;
use crate::plugin::errors::{self, Blame};
use crate::plugin::sso::{Opened, flag_span, open_browser};
use crate::session::Session;
use crate::store::StoreError;

/// What the OAuth 2.0 server shows of this program on its consent page.
const CLIENT_NAME: &str = "nu_plugin_matrix (Nushell)";
/// An https page about this program, for the consent page.
const CLIENT_URI: &str = "https://crates.io/crates/nu_plugin_matrix";

/// The options of `matrix login --oauth`.
pub(crate) struct OAuthOptions {
    /// How long to wait for the approval; `None`: until the code expires.
    wait: Option<Duration>,
    no_browser: bool,
    /// The server's metadata, when choosing OAuth 2.0 already asked for it.
    known: Option<AuthMetadata>,
}

impl OAuthOptions {
    /// The options of a call with `--oauth`, or `None` without it (then `--oauth-timeout` is an
    /// error).
    pub(crate) fn of(call: &EvaluatedCall) -> Result<Option<Self>, LabeledError> {
        let oauth = call.has_flag("oauth")?;
        let wait = call.get_flag_value("oauth-timeout");
        if !oauth {
            if let Some(wait) = wait {
                return Err(LabeledError::new("--oauth-timeout only goes with --oauth")
                    .with_label("needs --oauth", wait.span())
                    .with_help("add --oauth to log in with OAuth 2.0, or drop --oauth-timeout"));
            }
            return Ok(None);
        }
        let wait = wait
            .map(|value| {
                duration(&value).ok_or_else(|| {
                    LabeledError::new("The time to wait for the sign-in is zero")
                        .with_label("no time to sign in", value.span())
                        .with_help("give it some minutes, e.g. --oauth-timeout 10min")
                })
            })
            .transpose()?;
        Ok(Some(Self {
            wait,
            no_browser: call.has_flag("no-browser")?,
            known: None,
        }))
    }
}

impl OAuthOptions {
    /// The options when OAuth 2.0 was chosen for the user (no password was given, and the
    /// server logs in with it).
    pub(crate) fn chosen(
        call: &EvaluatedCall,
        metadata: AuthMetadata,
    ) -> Result<Self, LabeledError> {
        Ok(Self {
            wait: None,
            no_browser: call.has_flag("no-browser")?,
            known: Some(metadata),
        })
    }
}

/// Checks a `--device-id` for an OAuth 2.0 login: MAS wants at least 10 characters.
pub(crate) fn check_device_id(device_id: &Spanned<String>) -> Result<(), LabeledError> {
    if device_id.item.chars().count() >= MIN_DEVICE_ID_LEN {
        return Ok(());
    }
    Err(
        LabeledError::new("This device ID is too short for an OAuth 2.0 login")
            .with_label(
                format!("{} characters", device_id.item.chars().count()),
                device_id.span,
            )
            .with_help(format!(
                "OAuth 2.0 servers such as matrix-authentication-service want device IDs of at \
             least {MIN_DEVICE_ID_LEN} characters; leave --device-id out for a fresh one"
            )),
    )
}

/// Signs in with the device authorization grant and returns the session (with what refreshing
/// and revoking it need). `device_id` reuses a device; without it, a fresh one is made.
pub(crate) fn sign_in(
    plugin: &MatrixPlugin,
    client: &Client,
    call: &EvaluatedCall,
    device_id: Option<&str>,
    options: OAuthOptions,
    interrupt: &Interrupt,
    blame: &Blame,
) -> Result<Session, LabeledError> {
    let oauth_flag = flag_span(call, "oauth");
    let failed = |err: Error| errors::login(err, blame);
    let metadata = match options.known {
        Some(metadata) => Some(metadata),
        None => client.auth_metadata().map_err(failed)?,
    };
    let Some(metadata) = metadata else {
        return Err(
            LabeledError::new("This homeserver does not log in with OAuth 2.0")
                .with_label("asked for --oauth", oauth_flag)
                .with_help(format!(
                    "{} has no OAuth 2.0 server (no /_matrix/client/v1/auth_metadata): log in with \
                 the password, or --sso; `matrix flows` lists the ways",
                    client.homeserver()
                )),
        );
    };
    if !metadata.offers_device_code() {
        return Err(LabeledError::new(
            "This OAuth 2.0 server does not offer the device code sign-in",
        )
        .with_label("no device authorization grant", oauth_flag)
        .with_help(format!(
            "{} does not list {DEVICE_CODE_GRANT}; sign in with the password, or --sso",
            metadata.issuer
        )));
    }
    // Registered once per server: the client_id is kept in the session file, by issuer.
    let store = plugin.store().ok();
    let remembered = store
        .as_ref()
        .and_then(|store| store.load().ok())
        .and_then(|saved| saved.oauth_clients.get(&metadata.issuer).cloned());
    let register = || -> Result<String, Error> {
        let client_id = client.register_oauth_client(
            &metadata,
            &ClientMetadata {
                client_name: CLIENT_NAME.into(),
                client_uri: CLIENT_URI.into(),
                redirect_uris: Vec::new(),
                grant_types: vec![DEVICE_CODE_GRANT.into(), "refresh_token".into()],
            },
        )?;
        // Not kept (a session file that cannot be written): the next login registers again.
        if let Some(store) = &store {
            let _ = store.update(|saved| {
                saved
                    .oauth_clients
                    .insert(metadata.issuer.clone(), client_id.clone());
                Ok::<_, StoreError>(())
            });
        }
        Ok(client_id)
    };
    let device_id = match device_id {
        Some(id) => id.to_owned(),
        None => new_device_id().map_err(failed)?,
    };
    let scope = format!("{API_SCOPE} {}", device_scope(&device_id));
    let mut client_id = match &remembered {
        Some(id) => id.clone(),
        None => register().map_err(failed)?,
    };
    let device = match client.request_device_code(&metadata, &client_id, &scope) {
        // The server forgot this program's registration: register again, once.
        Err(Error::OAuth(err)) if err.error == "invalid_client" && remembered.is_some() => {
            client_id = register().map_err(failed)?;
            client.request_device_code(&metadata, &client_id, &scope)
        }
        other => other,
    }
    .map_err(failed)?;
    let page = device
        .verification_uri_complete
        .as_deref()
        .unwrap_or(&device.verification_uri);
    let opened = if options.no_browser {
        Opened::NotAsked
    } else {
        open_browser(page)
    };
    let left = device.expires_at.saturating_duration_since(Instant::now());
    let wait = options.wait.map_or(left, |wait| wait.min(left));
    tell(
        client.homeserver(),
        &device.verification_uri,
        page,
        &device.user_code,
        &opened,
        wait,
    );
    let tokens = client
        .wait_for_device_token(&metadata, &client_id, &device, wait, &|| interrupt())
        .map_err(|err| match err {
            Error::OAuth(err) if err.error == "access_denied" => {
                LabeledError::new("The sign-in was refused")
                    .with_label("refused on the approval page", oauth_flag)
                    .with_help("run the command again and approve the device this time")
            }
            Error::OAuth(err) if err.error == "expired_token" => {
                LabeledError::new("Nobody approved the sign-in in time")
                    .with_label(format!("waited {} s", wait.as_secs()), oauth_flag)
                    .with_help(
                        "run the command again and enter the code sooner (--oauth-timeout \
                         waits longer, up to the code's own expiry)",
                    )
            }
            other => errors::login(other, blame),
        })?;
    client
        .oauth_session(tokens, OAuthClient::new(&metadata, client_id), &device_id)
        .map_err(failed)
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
