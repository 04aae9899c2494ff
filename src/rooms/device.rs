//! What a `/sync` tells the device's end-to-end encryption (to-device events, changed device
//! lists, one-time key counts), and the device's own `/sync` with no room in it.

use std::time::Duration;

use serde_json::{Map, Value as JsonValue, json};

use super::{fresh_initial_timeout, next_batch, quiet_sync_filter};
use crate::client::Client;
use crate::error::Error;
use crate::secret::AccessToken;

/// What one sync told the device's end-to-end encryption, as the server sent it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CryptoChanges {
    /// To-device events (room keys, Olm messages).
    pub to_device: Vec<JsonValue>,
    /// `device_lists`: users whose devices changed, or who left the user's encrypted rooms.
    pub device_lists: JsonValue,
    /// `device_one_time_keys_count`.
    pub one_time_keys_count: JsonValue,
    /// `device_unused_fallback_key_types`, when the server sent it.
    pub unused_fallback_key_types: Option<JsonValue>,
    /// Rooms whose encryption the answer told of (joined rooms with `m.room.encryption`).
    pub encrypted_rooms: Vec<String>,
    /// The sync's `next_batch`.
    pub next_batch: String,
}

impl CryptoChanges {
    /// Whether the sync brought anything the device must take: to-device events, or changed
    /// device lists.
    pub fn has_news(&self) -> bool {
        let changed = |field: &str| {
            self.device_lists[field]
                .as_array()
                .is_some_and(|users| !users.is_empty())
        };
        !self.to_device.is_empty() || changed("changed") || changed("left")
    }

    /// What the `/sync` answer `answer` (whose `next_batch` it is) told the device.
    pub(crate) fn from_sync(answer: &Map<String, JsonValue>, next_batch: &str) -> Self {
        let field = |key: &str| answer.get(key).unwrap_or(&JsonValue::Null);
        let encrypted_rooms = field("rooms")["join"]
            .as_object()
            .map(|joined| {
                joined
                    .iter()
                    .filter(|(_, room)| {
                        [&room["state"]["events"], &room["timeline"]["events"]]
                            .iter()
                            .filter_map(|events| events.as_array())
                            .flatten()
                            .any(|event| event["type"] == "m.room.encryption")
                    })
                    .map(|(room_id, _)| room_id.clone())
                    .collect()
            })
            .unwrap_or_default();
        Self {
            to_device: field("to_device")["events"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            device_lists: field("device_lists").clone(),
            one_time_keys_count: field("device_one_time_keys_count").clone(),
            unused_fallback_key_types: answer.get("device_unused_fallback_key_types").cloned(),
            encrypted_rooms,
            next_batch: next_batch.to_owned(),
        }
    }
}

impl Client {
    /// One `/sync` for the device alone, from `since` (none: the first), answered at once: its
    /// to-device events, changed device lists and one-time key counts, and no room at all.
    pub fn sync_device(
        &self,
        token: &AccessToken,
        since: Option<&str>,
    ) -> Result<CryptoChanges, Error> {
        let filter = quiet_sync_filter(json!({"rooms": [], "timeline": {"limit": 0}})).to_string();
        let timeout = match since {
            Some(_) => "0".to_owned(),
            None => fresh_initial_timeout(),
        };
        let mut query = vec![("filter", filter.as_str()), ("timeout", timeout.as_str())];
        if let Some(since) = since {
            query.push(("since", since));
        }
        let answer = self.get_held(token, &["sync"], &query, Duration::ZERO)?;
        let next_batch = next_batch(&answer)?;
        Ok(CryptoChanges::from_sync(&answer.object, &next_batch))
    }
}
