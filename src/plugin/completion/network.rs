//! Completions that ask the homeserver: the user's devices, and the joined rooms. Each asks with
//! the session the command line names (`--session`, else the saved default) and gives up
//! quietly past a short bound; rooms are kept for a little while per session.

use std::time::{Duration, Instant};

use nu_plugin::{DynamicCompletionCall, EngineInterface};
use nu_protocol::DynamicSuggestion;

use crate::client::Client;
use crate::plugin::MatrixPlugin;
use crate::plugin::config::PluginConfig;
use crate::session::Session;

/// The longest a completion waits for the homeserver: a slow or silent one gives nothing.
pub(crate) const NETWORK_BOUND: Duration = Duration::from_millis(700);

/// How long the rooms of a session are kept for completions.
pub(crate) const ROOMS_KEPT: Duration = Duration::from_secs(60);

/// The session and client a completion asks with: `--session` as written, else the default.
fn session_and_client(
    plugin: &MatrixPlugin,
    engine: &EngineInterface,
    call: &DynamicCompletionCall,
) -> Option<(Session, Client)> {
    let store = plugin.store().ok()?;
    let saved = store.load().ok()?;
    let named = call
        .call
        .get_flag_expr("session")
        .and_then(|expr| expr.as_string());
    let (name, entry) = match named {
        Some(name) => {
            let entry = saved.sessions.get(&name)?;
            (name, entry)
        }
        None => {
            let (name, entry) = saved.default_session()?;
            (name.to_owned(), entry)
        }
    };
    let session = store.open(&name, entry).ok()?;
    let mut config = PluginConfig::read(engine).ok()?;
    config.client.set_timeout(NETWORK_BOUND);
    let client = plugin
        .client(
            &session.homeserver,
            &config.client,
            plugin.interrupt_of(engine),
        )
        .ok()?;
    Some((session, client))
}

fn suggestion(value: String, description: String) -> DynamicSuggestion {
    DynamicSuggestion {
        value,
        description: Some(description).filter(|text| !text.is_empty()),
        append_whitespace: true,
        ..DynamicSuggestion::default()
    }
}

/// The user's devices: their IDs, described by display name and when they were last seen.
pub(crate) fn devices(
    plugin: &MatrixPlugin,
    engine: &EngineInterface,
    call: &DynamicCompletionCall,
) -> Option<Vec<DynamicSuggestion>> {
    let (session, client) = session_and_client(plugin, engine, call)?;
    let devices = client.devices(&session.access_token).ok()?;
    Some(
        devices
            .into_iter()
            .map(|device| {
                let seen = device
                    .last_seen
                    .map(|at| {
                        let date: chrono::DateTime<chrono::Utc> = at.into();
                        format!("last seen {}", date.format("%Y-%m-%d"))
                    })
                    .unwrap_or_default();
                let name = device.display_name.unwrap_or_default();
                let current = if device.device_id == session.device_id {
                    "this session"
                } else {
                    ""
                };
                let description = [name.as_str(), seen.as_str(), current]
                    .into_iter()
                    .filter(|part| !part.is_empty())
                    .collect::<Vec<_>>()
                    .join(", ");
                suggestion(device.device_id, description)
            })
            .collect(),
    )
}

/// The joined rooms: their IDs, described by name and alias; kept [`ROOMS_KEPT`] per session.
pub(crate) fn rooms(
    plugin: &MatrixPlugin,
    engine: &EngineInterface,
    call: &DynamicCompletionCall,
) -> Option<Vec<DynamicSuggestion>> {
    let (session, client) = session_and_client(plugin, engine, call)?;
    let key = format!("{} {}", session.homeserver, session.user_id);
    if let Some((at, kept)) = plugin.kept_rooms(&key)
        && at.elapsed() < ROOMS_KEPT
    {
        return Some(kept);
    }
    let rooms = client.rooms(&session.access_token).ok()?;
    let suggestions: Vec<DynamicSuggestion> = rooms
        .into_iter()
        .map(|room| {
            let description = match (room.name, room.canonical_alias) {
                (Some(name), Some(alias)) => format!("{name} ({alias})"),
                (Some(name), None) => name,
                (None, Some(alias)) => alias,
                (None, None) => String::new(),
            };
            suggestion(room.room_id, description)
        })
        .collect();
    plugin.keep_rooms(key, Instant::now(), suggestions.clone());
    Some(suggestions)
}
