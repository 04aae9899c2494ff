//! `matrix login --oauth`: OAuth 2.0 login with the device authorization grant. The plugin
//! registers itself with the homeserver's OAuth 2.0 server, prints an address and a code on
//! stderr (and opens the address where a browser can appear), and polls until someone approves
//! the sign-in on any device, the code expires, the time-out passes or Ctrl-C comes.

use std::time::Duration;

use nu_plugin::EvaluatedCall;
use nu_protocol::{LabeledError, Span, Spanned};

use crate::client::{Client, Interrupt};
use crate::error::Error;
use crate::mas_admin::ADMIN_SCOPE;
use crate::oauth::{
    API_SCOPE, AuthMetadata, MIN_DEVICE_ID_LEN, OAuthClient, device_scope, new_device_id,
};
use crate::plugin::MatrixPlugin;
use crate::plugin::config::duration;
use crate::plugin::errors::{self, Blame};
use crate::plugin::oauth_browser::in_browser;
use crate::plugin::oauth_device::with_device_code;
use crate::plugin::oauth_registry::{Registry, Wait};
use crate::plugin::sso::flag_span;
use crate::session::Session;

/// An https page about this program, for the consent page, unless
/// `$env.config.plugins.matrix.oauth_client_uri` names another.
pub(crate) const CLIENT_URI: &str = "https://crates.io/crates/nu_plugin_matrix";

/// The options of `matrix login --oauth` and `--oauth-browser`.
pub(crate) struct OAuthOptions {
    /// How long to wait for the approval; `None`: until the device code expires, or the
    /// browser's default.
    wait: Option<Duration>,
    no_browser: bool,
    /// `--oauth-browser`: the authorization code grant even where the device code is offered.
    browser: bool,
    /// `--admin`: MAS's admin scope as well.
    admin: bool,
    /// Where OAuth 2.0 was asked for: the flag, or the command when it was chosen for the user.
    flag: Span,
    /// The server's metadata, when choosing OAuth 2.0 already asked for it.
    known: Option<AuthMetadata>,
}

impl OAuthOptions {
    /// The options of a call with `--oauth` or `--oauth-browser`, or `None` without them (then
    /// `--oauth-timeout` is an error).
    pub(crate) fn of(call: &EvaluatedCall) -> Result<Option<Self>, LabeledError> {
        let browser = call.has_flag("oauth-browser")?;
        let oauth = browser || call.has_flag("oauth")?;
        let wait = call.get_flag_value("oauth-timeout");
        let admin = call.has_flag("admin")?;
        if !oauth {
            if admin {
                return Err(LabeledError::new("--admin only goes with --oauth")
                    .with_label("needs --oauth", flag_span(call, "admin"))
                    .with_help(
                        "MAS's admin scope comes with an OAuth 2.0 login: add --oauth (or \
                         --oauth-browser)",
                    ));
            }
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
            browser,
            admin,
            flag: flag_span(call, if browser { "oauth-browser" } else { "oauth" }),
            known: None,
        }))
    }

    /// The options when OAuth 2.0 was chosen for the user (no password was given, and the
    /// server logs in with it).
    pub(crate) fn chosen(
        call: &EvaluatedCall,
        metadata: AuthMetadata,
    ) -> Result<Self, LabeledError> {
        Ok(Self {
            wait: None,
            no_browser: call.has_flag("no-browser")?,
            browser: false,
            admin: false,
            flag: call.head,
            known: Some(metadata),
        })
    }

    /// Where OAuth 2.0 was asked for.
    pub(crate) fn flag(&self) -> Span {
        self.flag
    }

    /// The flag that asked for OAuth 2.0, as written.
    pub(crate) fn flag_name(&self) -> &'static str {
        if self.browser {
            "--oauth-browser"
        } else {
            "--oauth"
        }
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

/// Signs in with OAuth 2.0 and returns the session (with what refreshing and revoking it
/// need): with the device authorization grant, or in the browser (`--oauth-browser`, or when the
/// server does not offer the device code). `device_id` reuses a device; without it, a fresh one
/// is made.
pub(crate) fn sign_in(
    plugin: &MatrixPlugin,
    client: &Client,
    client_uri: Option<&str>,
    device_id: Option<&str>,
    options: OAuthOptions,
    interrupt: &Interrupt,
    blame: &Blame,
) -> Result<Session, LabeledError> {
    let oauth_flag = options.flag;
    let failed = |err: Error| errors::login(err, blame);
    let metadata = match options.known.clone() {
        Some(metadata) => Some(metadata),
        None => client.auth_metadata().map_err(failed)?,
    };
    let Some(metadata) = metadata else {
        return Err(
            LabeledError::new("This homeserver does not log in with OAuth 2.0")
                .with_label("asked for OAuth 2.0", oauth_flag)
                .with_help(format!(
                    "{} has no OAuth 2.0 server (no /_matrix/client/v1/auth_metadata): log in with \
                 the password, or --sso; `matrix flows` lists the ways",
                    client.homeserver()
                )),
        );
    };
    let registry = Registry {
        client,
        metadata: &metadata,
        store: plugin.store().ok(),
        client_uri: client_uri.unwrap_or(CLIENT_URI),
        flag: oauth_flag,
        blame,
    };
    let device_id = match device_id {
        Some(id) => id.to_owned(),
        None => new_device_id().map_err(failed)?,
    };
    let mut scope = format!("{API_SCOPE} {}", device_scope(&device_id));
    if options.admin {
        scope = format!("{scope} {ADMIN_SCOPE}");
    }
    let wait = Wait {
        limit: options.wait,
        no_browser: options.no_browser,
        flag: oauth_flag,
    };
    let (client_id, tokens) = if options.browser || !metadata.offers_device_code() {
        // A kept client_id is checked first: a server that forgot it would show the browser an
        // error page, and the terminal would wait in vain.
        let client_id = match registry.remembered() {
            Some(id) if client.oauth_client_known(&metadata, &id).map_err(failed)? => id,
            _ => registry.register()?,
        };
        let tokens = in_browser(
            client, &metadata, &client_id, &scope, &wait, interrupt, blame,
        )?;
        (client_id, tokens)
    } else {
        with_device_code(
            client, &metadata, &registry, &scope, &wait, interrupt, blame,
        )?
    };
    client
        .oauth_session(tokens, OAuthClient::new(&metadata, client_id), &device_id)
        .map_err(failed)
}
