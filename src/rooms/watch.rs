//! What a sender must know about a room before each message, kept so that a run of messages
//! costs one request each: the room an alias names, and whether the room is encrypted.
//!
//! Encryption is the one fact that must never be stale: a message sent in the clear to a room
//! that became encrypted is a leak. So a [`RoomWatch`] keeps a `/sync` long-poll open in a
//! thread of its own, filtered down to `m.room.encryption` (and the rooms' canonical aliases):
//! the server answers it the moment a room turns encrypted. What the watch knows is trusted
//! only while that long-poll is open and answering; when it fails, or has not answered within
//! its wait and a grace, the watch knows nothing and each question is asked of the server
//! again. A room that became encrypted stays encrypted (the spec has no way back).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value as JsonValue, json};

use super::CryptoChanges;
use crate::client::Client;
use crate::error::Error;
use crate::rooms::{fresh_initial_timeout, next_batch, quiet_sync_filter};
use crate::secret::AccessToken;

/// How long the room an alias names is kept. Aliases move rarely, and a canonical alias that
/// changes forgets the room's aliases at once.
pub const ALIAS_KEPT: Duration = Duration::from_secs(60);

/// How long a long-poll may go unanswered past its wait before what the watch knows is no
/// longer trusted.
const GRACE: Duration = Duration::from_secs(10);

/// A watch nobody asked for this long ends after its long-poll.
const IDLE: Duration = Duration::from_secs(120);

/// What the device does with what a sync told its end-to-end encryption (to-device events,
/// changed device lists), given the client and token of the sync; `false` when it could not
/// take them. A sync hands a device's to-device events out until the next sync from its
/// `next_batch`, and this is the device's only sync in this process: so the watch ends rather
/// than make that next sync when the device could not take them.
pub type DeviceHook = Arc<dyn Fn(&Client, &AccessToken, &CryptoChanges) -> bool + Send + Sync>;

/// Rooms' aliases and encryption, kept true by a `/sync` long-poll (see the module). Cheap to
/// clone: clones share what is known and the one long-poll.
#[derive(Clone)]
pub struct RoomWatch {
    shared: Arc<Shared>,
}

struct Shared {
    wait: Duration,
    known: Mutex<Known>,
}

struct Known {
    plain: HashSet<String>,
    encrypted: HashSet<String>,
    /// Alias → (room ID, when it was asked).
    aliases: HashMap<String, (String, Instant)>,
    /// When the long-poll in flight went out; `None` once the watch has ended.
    polling_since: Option<Instant>,
    last_used: Instant,
}

impl Known {
    fn forget_all(&mut self) {
        self.plain.clear();
        self.aliases.clear();
        self.polling_since = None;
    }
}

impl RoomWatch {
    /// Starts a watch for the session of `token`: `room` (an ID, or an alias, asked once and
    /// kept) is placed with one `/sync` (no wait), which also tells whether it is encrypted
    /// (`None` when the user is not in it); then a long-poll of up to `wait` is kept open in a
    /// thread of its own, on `client`'s connections. Returns the watch, the room ID and that.
    pub fn start(
        client: &Client,
        token: &AccessToken,
        room: &str,
        wait: Duration,
        device: Option<DeviceHook>,
    ) -> Result<(Self, String, Option<bool>), Error> {
        let room_id = client.resolve_room(token, room)?;
        let filter = quiet_sync_filter(json!({
            "rooms": [&room_id],
            "timeline": {"limit": 0},
            // Power levels, which a room has from its creation, keep the room in the answer
            // (not the create event: in room version 12 it has no `room_id`, and a filter by
            // room leaves it out).
            "state": {
                "types": ["m.room.power_levels", "m.room.encryption"],
                "lazy_load_members": true,
            },
        }))
        .to_string();
        let timeout = fresh_initial_timeout();
        let answer = client.get_held(
            token,
            &["sync"],
            &[("filter", &filter), ("timeout", &timeout)],
            Duration::ZERO,
        )?;
        let since = next_batch(&answer)?;
        if let Some(device) = &device {
            let changes = CryptoChanges::from_sync(&answer.object, &since);
            if changes.has_news() && !device(client, token, &changes) {
                return Err(device_failed());
            }
        }
        let joined = answer
            .object
            .get("rooms")
            .map(|rooms| &rooms["join"][room_id.as_str()]);
        let encrypted = joined.filter(|room| room.is_object()).map(|room| {
            room["state"]["events"]
                .as_array()
                .is_some_and(|events| events.iter().any(is_encryption))
        });
        let mut known = Known {
            plain: HashSet::new(),
            encrypted: HashSet::new(),
            aliases: HashMap::new(),
            polling_since: Some(Instant::now()),
            last_used: Instant::now(),
        };
        match encrypted {
            Some(true) => known.encrypted.insert(room_id.clone()),
            Some(false) => known.plain.insert(room_id.clone()),
            None => false,
        };
        if room != room_id {
            known
                .aliases
                .insert(room.to_owned(), (room_id.clone(), Instant::now()));
        }
        let watch = Self {
            shared: Arc::new(Shared {
                wait,
                known: Mutex::new(known),
            }),
        };
        let (polling, client, token) = (watch.clone(), client.clone(), token.clone());
        let spawned = thread::Builder::new()
            .name("room-watch".to_owned())
            .spawn(move || polling.poll(&client, &token, since, device));
        if spawned.is_err() {
            // No thread, no watch: every question goes to the server.
            watch.known().forget_all();
        }
        Ok((watch, room_id, encrypted))
    }

    /// True while the long-poll is open and answering: only then is what the watch knows
    /// trusted.
    pub fn is_live(&self) -> bool {
        self.live(&self.known())
    }

    /// Whether `room_id` is encrypted: from the watch while it is live, else one request
    /// (`GET /rooms/{roomId}/state/m.room.encryption`), whose answer is kept.
    pub fn is_encrypted(
        &self,
        client: &Client,
        token: &AccessToken,
        room_id: &str,
    ) -> Result<bool, Error> {
        {
            let mut known = self.known();
            known.last_used = Instant::now();
            if known.encrypted.contains(room_id) {
                return Ok(true);
            }
            if self.live(&known) && known.plain.contains(room_id) {
                return Ok(false);
            }
        }
        let encrypted = client.is_encrypted(token, room_id)?;
        let mut known = self.known();
        if encrypted {
            known.encrypted.insert(room_id.to_owned());
        } else if self.live(&known) && !known.encrypted.contains(room_id) {
            // Asked after the watch's position: a change after this answer reaches the watch.
            known.plain.insert(room_id.to_owned());
        }
        Ok(encrypted || known.encrypted.contains(room_id))
    }

    /// The room ID of a room ID or alias: an alias asked within [`ALIAS_KEPT`] is not asked
    /// again.
    pub fn resolve(
        &self,
        client: &Client,
        token: &AccessToken,
        room: &str,
    ) -> Result<String, Error> {
        if room.starts_with('!') {
            return Ok(room.to_owned());
        }
        if let Some((room_id, asked)) = self.known().aliases.get(room)
            && asked.elapsed() < ALIAS_KEPT
        {
            return Ok(room_id.clone());
        }
        let room_id = client.resolve_room(token, room)?;
        self.known()
            .aliases
            .insert(room.to_owned(), (room_id.clone(), Instant::now()));
        Ok(room_id)
    }

    /// Forgets what is known of `room_id` but its encryption (after a send to it failed: the
    /// user may have left it, or the alias moved).
    pub fn forget(&self, room_id: &str) {
        let mut known = self.known();
        known.plain.remove(room_id);
        known.aliases.retain(|_, (id, _)| id != room_id);
    }

    fn known(&self) -> MutexGuard<'_, Known> {
        self.shared
            .known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn live(&self, known: &Known) -> bool {
        known
            .polling_since
            .is_some_and(|since| since.elapsed() < self.shared.wait + GRACE)
    }

    /// The long-poll's loop, until it fails or nobody asked for [`IDLE`].
    fn poll(
        &self,
        client: &Client,
        token: &AccessToken,
        mut since: String,
        device: Option<DeviceHook>,
    ) {
        let types = ["m.room.encryption", "m.room.canonical_alias"];
        let filter = quiet_sync_filter(json!({
            "timeline": {"types": types, "limit": 20},
            "state": {"types": types, "lazy_load_members": true},
        }))
        .to_string();
        let timeout = self.shared.wait.as_millis().to_string();
        loop {
            {
                let mut known = self.known();
                if known.last_used.elapsed() > IDLE {
                    known.forget_all();
                    return;
                }
                known.polling_since = Some(Instant::now());
            }
            let query = [
                ("filter", filter.as_str()),
                ("timeout", timeout.as_str()),
                ("since", since.as_str()),
            ];
            let answer = client
                .get_held(token, &["sync"], &query, self.shared.wait)
                .and_then(|answer| Ok((next_batch(&answer)?, answer.object)));
            let Ok((next, answer)) = answer else {
                self.known().forget_all();
                return;
            };
            if let Some(device) = &device {
                let changes = CryptoChanges::from_sync(&answer, &next);
                if changes.has_news() && !device(client, token, &changes) {
                    self.known().forget_all();
                    return;
                }
            }
            let mut known = self.known();
            let joined = answer
                .get("rooms")
                .and_then(|rooms| rooms["join"].as_object());
            for (room_id, room) in joined.into_iter().flatten() {
                let events = ["state", "timeline"]
                    .into_iter()
                    .filter_map(|part| room[part]["events"].as_array())
                    .flatten();
                for event in events {
                    if is_encryption(event) {
                        known.plain.remove(room_id);
                        known.encrypted.insert(room_id.clone());
                    } else if event["type"] == "m.room.canonical_alias" {
                        known.aliases.retain(|_, (id, _)| id != room_id);
                    }
                }
            }
            since = next;
        }
    }
}

/// The device could not take what the watch's first sync brought it.
fn device_failed() -> Error {
    Error::E2ee(crate::error::E2eeError {
        kind: crate::error::E2eeKind::Crypto,
        problem: "the device could not take the room keys its sync brought".into(),
        hint: "nothing was sent and nothing is lost: run the command again".into(),
        path: None,
    })
}

fn is_encryption(event: &JsonValue) -> bool {
    event["type"] == "m.room.encryption" && event["state_key"] == ""
}
