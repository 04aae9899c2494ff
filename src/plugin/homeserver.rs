//! Where a request goes: the homeserver named by `--homeserver`, the configured default, or the
//! one that server discovery finds from a user ID.

use nu_plugin::{EngineInterface, EvaluatedCall};
use nu_protocol::{LabeledError, Span, Spanned};

use crate::ids::{UserArg, homeserver_url};
use crate::plugin::MatrixPlugin;
use crate::plugin::config::PluginConfig;
use crate::plugin::errors::{self, Blame};

/// What a command knows when it looks for the homeserver of a request.
#[derive(Clone, Copy)]
pub(crate) struct HomeserverLookup<'a> {
    pub(crate) plugin: &'a MatrixPlugin,
    pub(crate) engine: &'a EngineInterface,
    pub(crate) call: &'a EvaluatedCall,
    pub(crate) config: &'a PluginConfig,
    /// `--homeserver`, if given.
    pub(crate) flag: Option<&'a Spanned<String>>,
    /// The user argument, parsed and as typed.
    pub(crate) user: Option<(&'a UserArg, &'a Spanned<String>)>,
    /// The command's name, for the help text.
    pub(crate) command: &'a str,
}

/// Where to send a user's request: `--homeserver`, else the configured default, else the
/// homeserver that discovery finds from the user ID's server name. Returns the base URL, the
/// span to blame for it, and whether discovery found it.
pub(crate) fn resolve_homeserver(
    lookup: &HomeserverLookup<'_>,
) -> Result<(String, Span, bool), LabeledError> {
    let HomeserverLookup {
        plugin,
        engine,
        call,
        config,
        flag,
        user,
        command,
    } = *lookup;
    let user_span = user.map_or(call.head, |(_, user)| user.span);
    match (flag, &config.homeserver) {
        (Some(flag), _) => Ok((
            homeserver_url(&flag.item).map_err(|err| errors::input(err, flag.span))?,
            flag.span,
            false,
        )),
        (None, Some(default)) => Ok((default.item.clone(), user_span, false)),
        (None, None) => match user {
            Some((user_arg, user)) => match user_arg.server_name() {
                Some(server) => {
                    let blame = Blame::session(call.head, user.span, &user.item);
                    let found = plugin
                        .discovery(&config.client, plugin.interrupt_of(engine))
                        .and_then(|discovery| discovery.discover(server))
                        .map_err(|err| errors::request(err, &blame))?;
                    Ok((found.homeserver, user.span, true))
                }
                None => Err(LabeledError::new("Which homeserver?")
                    .with_label("a user name without a server", user.span)
                    .with_help(format!(
                        "give the full user ID (@{}:example.org) or the homeserver: \
                         `{command} {} --homeserver https://matrix.example.org`",
                        user.item, user.item
                    ))),
            },
            None => Err(LabeledError::new("Which homeserver?")
                .with_label("no user ID and no --homeserver", call.head)
                .with_help(format!(
                    "name a user ID (`{command} @me:example.org ...`), whose server is looked \
                     up, or the homeserver: `{command} --homeserver https://matrix.example.org ...`"
                ))),
        },
    }
}
