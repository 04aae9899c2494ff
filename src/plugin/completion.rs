//! Completions answered from local data, without the network: the names of the saved sessions
//! (and saved MAS admin clients), for `--session` and the `matrix session` commands.

use nu_protocol::DynamicSuggestion;
use nu_protocol::engine::ArgType;

use crate::plugin::MatrixPlugin;

/// Which argument takes a saved session's name.
#[derive(Clone, Copy)]
pub(crate) enum SessionArg {
    /// `--session`.
    Flag,
    /// The first positional argument (`matrix session use|get|remove`).
    First,
}

impl SessionArg {
    fn is(self, arg: &ArgType<'_>) -> bool {
        match (self, arg) {
            (Self::Flag, ArgType::Flag(name)) => name == "session",
            (Self::First, ArgType::Positional(0)) => true,
            _ => false,
        }
    }
}

/// The saved sessions' names, with whose each is (and which is the default), when `arg` is the
/// argument `wanted` names. `None` (Nushell's own completion) otherwise, or when the session
/// file cannot be read.
pub(crate) fn saved_sessions(
    plugin: &MatrixPlugin,
    arg: &ArgType<'_>,
    wanted: SessionArg,
) -> Option<Vec<DynamicSuggestion>> {
    if !wanted.is(arg) {
        return None;
    }
    let saved = plugin.store().ok()?.load().ok()?;
    let users = saved
        .sessions
        .iter()
        .map(|(name, session)| (name, session.user_id.to_string()));
    let admins = saved
        .admin_clients
        .iter()
        .map(|(name, admin)| (name, format!("MAS admin client {}", admin.client_id)));
    let suggestions = users
        .chain(admins)
        .map(|(name, whose)| {
            let default = saved.default.as_ref() == Some(name);
            DynamicSuggestion {
                value: name.clone(),
                description: Some(if default {
                    format!("{whose} (default)")
                } else {
                    whose
                }),
                append_whitespace: true,
                ..DynamicSuggestion::default()
            }
        })
        .collect();
    Some(suggestions)
}
