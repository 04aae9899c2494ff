//! Completions. From local data, without the network: the names of the saved sessions (and saved
//! MAS admin clients), for `--session` and the `matrix session` commands; the methods and common
//! paths of `matrix api`. From the homeserver, bounded (`network`): devices and rooms.

mod network;

use nu_protocol::DynamicSuggestion;
use nu_protocol::engine::ArgType;

use crate::plugin::MatrixPlugin;

pub(crate) use network::{devices, rooms};

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

/// The methods `matrix api --method` takes.
const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];

/// Common endpoints of the client API and Synapse's admin API, for `matrix api <path>`, with
/// what each answers.
const API_PATHS: [(&str, &str); 12] = [
    ("account/whoami", "who the token belongs to"),
    ("joined_rooms", "the rooms joined"),
    ("devices", "the user's devices"),
    ("capabilities", "what the server allows"),
    ("pushrules/", "the push rules"),
    ("user/{user_id}/filter", "POST: make a sync filter"),
    ("rooms/{room_id}/state", "a room's state"),
    ("rooms/{room_id}/members", "a room's members"),
    ("profile/{user_id}", "a user's profile"),
    ("/_matrix/client/versions", "the spec versions served"),
    (
        "/_synapse/admin/v1/server_version",
        "Synapse's version (admin)",
    ),
    ("/_synapse/admin/v2/users", "the users (admin)"),
];

/// What `matrix api` completes: `--method`, and the path (its first argument).
pub(crate) fn api(arg: &ArgType<'_>) -> Option<Vec<DynamicSuggestion>> {
    let suggestion = |value: &str, description: Option<&str>| DynamicSuggestion {
        value: value.to_owned(),
        description: description.map(str::to_owned),
        append_whitespace: true,
        ..DynamicSuggestion::default()
    };
    match arg {
        ArgType::Flag(name) if name == "method" => Some(
            METHODS
                .iter()
                .map(|method| suggestion(method, None))
                .collect(),
        ),
        ArgType::Positional(0) => Some(
            API_PATHS
                .iter()
                .map(|(path, what)| suggestion(path, Some(what)))
                .collect(),
        ),
        _ => None,
    }
}
