//! `matrix login --sso`: the browser side of a single sign-on, as the user sees it in the
//! terminal. The plugin's stdout is Nushell's protocol channel, so everything said while
//! waiting goes to stderr, which is the terminal's.

use std::io::Write;
use std::time::Duration;

use nu_plugin::{DynamicCompletionCall, EngineInterface, EvaluatedCall};
use nu_protocol::{DynamicSuggestion, LabeledError, Span, Spanned};

use crate::client::{Client, Interrupt};
use crate::error::Error;
use crate::ids::{UserArg, homeserver_url};
use crate::login::LoginFlow;
use crate::plugin::MatrixPlugin;
use crate::plugin::browser::{DEFAULT_WAIT, Opened, human, open_browser, tell};
use crate::plugin::config::{PluginConfig, duration};
use crate::plugin::errors::{self, Blame};
use crate::secret::AccessToken;
use crate::sso::SsoListener;

/// How long a completion of `--idp` waits for the homeserver.
const COMPLETION_TIMEOUT: Duration = Duration::from_secs(3);

/// What `--sso` and its flags asked for.
pub(crate) struct SsoOptions {
    pub idp: Option<Spanned<String>>,
    pub no_browser: bool,
    pub wait: Duration,
}

impl SsoOptions {
    /// The options of a call with `--sso`, or `None` without it; the SSO-only flags without
    /// `--sso` are an error.
    pub fn of(call: &EvaluatedCall) -> Result<Option<Self>, LabeledError> {
        let sso = call.has_flag("sso")?;
        let idp: Option<Spanned<String>> = call.get_flag("idp")?;
        let no_browser = call.has_flag("no-browser")?;
        let wait = call.get_flag_value("sso-timeout");
        if !sso {
            // (`--no-browser` alone is for Way::of to judge: OAuth 2.0 may be chosen.)
            let stray = match (&idp, &wait) {
                (Some(idp), _) => Some(("--idp", idp.span)),
                (None, Some(wait)) => Some(("--sso-timeout", wait.span())),
                (None, None) => None,
            };
            if let Some((name, span)) = stray {
                return Err(LabeledError::new(format!("{name} only goes with --sso"))
                    .with_label("needs --sso", span)
                    .with_help(format!(
                        "add --sso to sign in in the browser, or drop {name}"
                    )));
            }
            return Ok(None);
        }
        if let Some(idp) = &idp
            && idp.item.trim().is_empty()
        {
            return Err(LabeledError::new("The identity provider ID is empty")
                .with_label("empty --idp", idp.span)
                .with_help("`matrix flows` lists the identity providers and their IDs"));
        }
        let wait = match wait {
            Some(value) => duration(&value).ok_or_else(|| {
                LabeledError::new("The time to wait for the browser is zero")
                    .with_label("no time to sign in", value.span())
                    .with_help("give the browser some minutes, e.g. --sso-timeout 5min")
            })?,
            None => DEFAULT_WAIT,
        };
        Ok(Some(Self {
            idp,
            no_browser,
            wait,
        }))
    }
}

/// Where a flag was written, or the command's span.
pub(crate) fn flag_span(call: &EvaluatedCall, name: &str) -> Span {
    call.named
        .iter()
        .find(|(flag, _)| flag.item == name)
        .map_or(call.head, |(flag, _)| flag.span)
}

/// Runs the browser part of a single sign-on and returns the login token it brought back.
pub(crate) fn sign_in(
    client: &Client,
    options: &SsoOptions,
    interrupt: &Interrupt,
    blame: &Blame,
) -> Result<AccessToken, LabeledError> {
    let flows = client
        .login_flows()
        .map_err(|err| errors::request(err, blame))?;
    check_offered(&flows, options.idp.as_ref(), blame)?;
    let listener = SsoListener::bind().map_err(|err| errors::request(err, blame))?;
    let idp = options.idp.as_ref().map(|idp| idp.item.as_str());
    let url = client.sso_url(idp, listener.redirect_url());
    let opened = if options.no_browser {
        Opened::NotAsked
    } else {
        open_browser(&url)
    };
    tell(
        &format!("Single sign-on at {}", client.homeserver()),
        &url,
        &opened,
        &format!(
            "Waiting up to {} for the browser to come back to http://127.0.0.1:{} (Ctrl-C stops).",
            human(options.wait),
            listener.port()
        ),
    );
    let token = listener.wait(options.wait, &|| interrupt());
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(
        stderr,
        "{}",
        match &token {
            Ok(_) => "Signed in in the browser; logging in.",
            Err(_) => "Stopped waiting for the browser.",
        }
    );
    token.map_err(|err| match err {
        Error::Sso(crate::error::SsoError::TimedOut { .. }) => LabeledError::new(format!(
            "The browser did not come back within {}",
            human(options.wait)
        ))
        .with_label("no sign-in arrived", blame.head)
        .with_help(format!(
            "run it again and finish signing in sooner, or give more time with --sso-timeout. \
             The browser must run on this machine: it is sent back to http://127.0.0.1:{}. If \
             it runs on another machine, its last page does not load; copy the loginToken=… \
             value from its address bar and log in with `matrix login --login-token (input -s) \
             --homeserver {}`",
            listener.port(),
            client.homeserver()
        ))
        .with_code("matrix::sso_timeout"),
        other => errors::request(other, blame),
    })
}

/// The server must offer single sign-on, and the asked identity provider.
fn check_offered(
    flows: &[LoginFlow],
    idp: Option<&Spanned<String>>,
    blame: &Blame,
) -> Result<(), LabeledError> {
    let Some(sso) = flows.iter().find(|flow| flow.kind == "m.login.sso") else {
        let offered: Vec<&str> = flows.iter().map(|flow| flow.kind.as_str()).collect();
        return Err(
            LabeledError::new("This homeserver offers no single sign-on")
                .with_label(
                    format!("it offers: {}", offered.join(", ")),
                    blame.homeserver,
                )
                .with_help(if offered.contains(&"m.login.password") {
                    "log in with the password instead (drop --sso)"
                } else {
                    "`matrix flows` lists what it offers"
                })
                .with_code("matrix::no_sso"),
        );
    };
    let Some(idp) = idp else {
        return Ok(());
    };
    // A server may offer single sign-on without listing its providers: then any ID goes.
    if sso.identity_providers.is_empty()
        || sso
            .identity_providers
            .iter()
            .any(|known| known.id == idp.item)
    {
        return Ok(());
    }
    let known: Vec<String> = sso
        .identity_providers
        .iter()
        .map(|known| format!("{} ({})", known.id, known.name))
        .collect();
    Err(
        LabeledError::new(format!("No identity provider '{}' here", idp.item))
            .with_label("unknown identity provider", idp.span)
            .with_help(format!("this homeserver offers: {}", known.join(", ")))
            .with_code("matrix::unknown_idp"),
    )
}

/// The identity providers to offer as completions of `matrix login --idp`: those of the
/// homeserver the command line names (`--homeserver`, else the user ID's server, else the
/// configured one), asked with a short time-out. `None` when that fails.
#[allow(deprecated)] // Nushell marks the plugin completion API experimental
pub(crate) fn identity_providers(
    plugin: &MatrixPlugin,
    engine: &EngineInterface,
    call: &DynamicCompletionCall,
) -> Option<Vec<DynamicSuggestion>> {
    let literal = |expr: Option<&nu_protocol::ast::Expression>| expr.and_then(|e| e.as_string());
    let mut config = PluginConfig::read(engine).ok()?;
    config.client.set_timeout(COMPLETION_TIMEOUT);
    let interrupt = plugin.interrupt_of(engine);
    let homeserver = match literal(call.call.get_flag_expr("homeserver")) {
        Some(flag) => homeserver_url(&flag).ok()?,
        None => match literal(call.call.positional_nth(0))
            .and_then(|user| UserArg::parse(&user).ok())
            .and_then(|user| user.server_name().map(str::to_owned))
        {
            Some(server) if config.homeserver.is_none() => {
                plugin
                    .discovery(&config.client, interrupt.clone())
                    .and_then(|discovery| discovery.discover(&server))
                    .ok()?
                    .homeserver
            }
            _ => config.homeserver.as_ref()?.item.clone(),
        },
    };
    let flows = plugin
        .client(&homeserver, &config.client, interrupt)
        .and_then(|client| client.login_flows())
        .ok()?;
    let providers = flows
        .into_iter()
        .filter(|flow| flow.kind == "m.login.sso")
        .flat_map(|flow| flow.identity_providers)
        .map(|idp| DynamicSuggestion {
            value: idp.id,
            description: Some(idp.name).filter(|name| !name.is_empty()),
            append_whitespace: true,
            ..DynamicSuggestion::default()
        })
        .collect();
    Some(providers)
}
