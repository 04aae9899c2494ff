//! `matrix rooms`: the joined rooms, each with its name, alias, joined members and encryption,
//! in one request however many there are. Synapse's simplified sliding sync (MSC4186)
//! answers it about four times faster than a filtered `/sync` (measured by `scripts/bench
//! --scale`); a server without it gets the `/sync`.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use serde_json::{Value as JsonValue, json};

use super::{
    Hero, Room, fresh_initial_timeout, heroes_of_sync, members_of_sync, name_from_heroes,
    quiet_sync_filter,
};
use crate::client::{Client, Method};
use crate::error::{Error, ErrorCode};
use crate::secret::AccessToken;

/// The state `matrix rooms` shows.
const STATE: [&str; 3] = ["m.room.name", "m.room.canonical_alias", "m.room.encryption"];

/// Homeservers that answered that they have no simplified sliding sync, so that each
/// listing there costs one request, not two.
static WITHOUT_SLIDING_SYNC: Mutex<Option<HashSet<String>>> = Mutex::new(None);

impl Client {
    /// The rooms the user has joined (not those invited to), sorted by room ID, with name,
    /// alias, member count and encryption: from one simplified sliding sync where the server
    /// has it, else from one `/sync` filtered down to those (no messages, no members).
    pub fn rooms(&self, token: &AccessToken) -> Result<Vec<Room>, Error> {
        let known_without = WITHOUT_SLIDING_SYNC
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|servers| servers.contains(self.homeserver()));
        let mut rooms = if known_without {
            self.rooms_by_sync(token)?
        } else {
            match self.rooms_by_sliding_sync(token) {
                Err(Error::Matrix(err))
                    if err.errcode == ErrorCode::Unrecognized
                        || matches!(err.status, 404 | 405) =>
                {
                    WITHOUT_SLIDING_SYNC
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .get_or_insert_with(HashSet::new)
                        .insert(self.homeserver().to_owned());
                    self.rooms_by_sync(token)?
                }
                other => other?,
            }
        };
        rooms.sort_by(|a, b| a.room_id.cmp(&b.room_id));
        Ok(rooms)
    }

    /// One simplified sliding sync (MSC4186) whose one list holds every joined room, with only
    /// the state shown.
    fn rooms_by_sliding_sync(&self, token: &AccessToken) -> Result<Vec<Room>, Error> {
        let required: Vec<[&str; 2]> = STATE.iter().map(|kind| [*kind, ""]).collect();
        let body = json!({
            "lists": {"joined": {
                "ranges": [[0, 1_000_000]],
                "required_state": required,
                "timeline_limit": 0,
                "filters": {"is_invite": false},
            }},
        });
        let path = [
            "_matrix",
            "client",
            "unstable",
            "org.matrix.simplified_msc3575",
            "sync",
        ];
        let answer = self.call(Method::Post, &path, Some(token), Some(body), &[])?;
        let rooms = answer.object.get("rooms").and_then(JsonValue::as_object);
        Ok(rooms
            .into_iter()
            .flatten()
            .map(|(room_id, room)| {
                let heroes: Vec<Hero> = room["heroes"]
                    .as_array()
                    .map_or(&[][..], Vec::as_slice)
                    .iter()
                    .filter_map(|hero| {
                        Some(Hero {
                            user_id: hero["user_id"].as_str()?.to_owned(),
                            displayname: hero["displayname"].as_str().map(str::to_owned),
                        })
                    })
                    .collect();
                let members = room["joined_count"]
                    .as_u64()
                    .map(|joined| joined + room["invited_count"].as_u64().unwrap_or(0));
                room_of(
                    room_id,
                    &room["required_state"],
                    room["joined_count"].as_u64(),
                    name_from_heroes(&heroes, members),
                )
            })
            .collect())
    }

    /// One `/sync` filtered down to the state shown. The filter keeps each room's
    /// `m.room.create` too: a room none of whose filtered state is set (no name, alias or
    /// encryption) is otherwise left out of the answer by Synapse.
    fn rooms_by_sync(&self, token: &AccessToken) -> Result<Vec<Room>, Error> {
        let mut types = vec!["m.room.create"];
        types.extend(STATE);
        let filter = quiet_sync_filter(json!({
            "timeline": {"limit": 0},
            "state": {"types": types, "lazy_load_members": true},
        }));
        let query = [
            ("filter".to_owned(), filter.to_string()),
            ("timeout".to_owned(), fresh_initial_timeout()),
        ];
        let answer = self
            .request_at(token, Method::Get, &["sync"], &query, None)?
            .json()?;
        Ok(answer["rooms"]["join"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(room_id, room)| {
                let summary = &room["summary"];
                let heroes = heroes_of_sync(summary, &room["state"]["events"]);
                room_of(
                    room_id,
                    &room["state"]["events"],
                    summary["m.joined_member_count"].as_u64(),
                    name_from_heroes(&heroes, members_of_sync(summary)),
                )
            })
            .collect())
    }
}

/// A room from its state events (as either sync gives them), member count and the name its
/// heroes give it.
fn room_of(
    room_id: &str,
    state: &JsonValue,
    members: Option<u64>,
    by_heroes: Option<String>,
) -> Room {
    let content_of = |kind: &str| {
        state.as_array().and_then(|events| {
            events
                .iter()
                .find(|event| event["type"] == kind && event["state_key"] == "")
                .map(|event| &event["content"])
        })
    };
    let text = |kind: &str, field: &str| {
        content_of(kind)
            .and_then(|content| content[field].as_str())
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    Room {
        room_id: room_id.to_owned(),
        name: text("m.room.name", "name").or(by_heroes),
        canonical_alias: text("m.room.canonical_alias", "alias"),
        members,
        encrypted: content_of("m.room.encryption").is_some(),
    }
}
