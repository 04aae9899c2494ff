//! One `/sync` as [`Listener`](super::Listener) asks it: the filter built from what to listen
//! for, the answer taken apart into events in order, and the gaps of a limited timeline filled
//! from `/rooms/{roomId}/messages`.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use serde_json::{Value as JsonValue, json};

use super::CryptoChanges;
use crate::client::Client;
use crate::error::Error;
use crate::rooms::{
    ENCRYPTED, Event, fresh_initial_timeout, names_room, next_batch, quiet_sync_filter,
};
use crate::secret::AccessToken;

/// The most events of one room one `/sync` carries; more, and the gap is filled page by page.
const TIMELINE_LIMIT: u32 = 100;

/// What to listen for; the server filters by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenFilter {
    /// Room IDs to listen to; empty: every joined room.
    pub rooms: Vec<String>,
    /// Event types (`*` wildcards allowed, as the spec's filters take them). Default:
    /// `m.room.message`.
    pub types: Vec<String>,
    /// Only events of these senders; empty: anyone's.
    pub senders: Vec<String>,
    /// Never events of these senders (the session's own user, so that a bot does not answer
    /// itself).
    pub not_senders: Vec<String>,
    /// Also invitations of the user to rooms.
    pub invites: bool,
    /// Also verification requests, as events of type `m.key.verification.request`: those that
    /// came to-device (with no room), and those in rooms (`m.room.message` of that msgtype,
    /// when `m.room.message` is listened for).
    pub verifications: bool,
    /// Also `m.room.encrypted` events, whatever `types` says: their real type is known only
    /// once they are decrypted, and is filtered then ([`ListenFilter::types_match`]).
    pub encrypted: bool,
}

impl Default for ListenFilter {
    fn default() -> Self {
        Self {
            rooms: Vec::new(),
            types: vec!["m.room.message".to_owned()],
            senders: Vec::new(),
            not_senders: Vec::new(),
            invites: false,
            verifications: false,
            encrypted: false,
        }
    }
}

impl ListenFilter {
    /// The filter of the timeline's events (`RoomEventFilter`), for `/sync` and `/messages`.
    fn events(&self) -> JsonValue {
        let mut types = self.types.clone();
        if self.encrypted && !self.types_match(ENCRYPTED) {
            types.push(ENCRYPTED.to_owned());
        }
        let mut filter = json!({"types": types, "limit": TIMELINE_LIMIT});
        if !self.senders.is_empty() {
            filter["senders"] = json!(self.senders);
        }
        if !self.not_senders.is_empty() {
            filter["not_senders"] = json!(self.not_senders);
        }
        filter
    }

    /// The whole `/sync` filter: the timeline's events of the chosen rooms and the rooms'
    /// names (with the membership changes that name unnamed rooms), and nothing else (no
    /// presence, receipts, typing, account data).
    fn sync(&self, timeline: bool) -> JsonValue {
        let mut events = self.events();
        if !timeline {
            events["limit"] = json!(0);
        }
        // The events that change a room's name come too (and are not handed out): Synapse sends
        // an unnamed room's new heroes only with a sync whose timeline has a membership change.
        if let Some(types) = events["types"].as_array_mut() {
            for kind in NAMING_TYPES {
                if !self.types_match(kind) {
                    types.push(json!(kind));
                }
            }
        }
        let mut room = json!({
            "timeline": events,
            "state": {
                "types": ["m.room.name", "m.room.canonical_alias", "m.room.encryption"],
                "lazy_load_members": true,
            },
        });
        if !self.rooms.is_empty() {
            room["rooms"] = json!(self.rooms);
        }
        quiet_sync_filter(room)
    }
}

/// The `type` of an invitation row.
pub const INVITE: &str = "invite";

/// The event types that name a room: its alias, its name, its members (heroes).
const NAMING_TYPES: [&str; 3] = ["m.room.member", "m.room.name", "m.room.canonical_alias"];

/// One `/sync`: its events in order, the names of rooms it told of, and where the next starts.
#[derive(Debug, Clone)]
pub struct SyncBatch {
    /// The events, each room's in timeline order, rooms merged by time.
    pub events: Vec<Event>,
    /// Names of the rooms the user is invited to (alias, else name), from their invitations.
    pub room_names: BTreeMap<String, String>,
    /// What the answer told of each joined room's name (`{summary, events}`: its summary, and
    /// the events of its state and timeline that name it), for [`crate::rooms::RoomNaming`].
    pub naming: BTreeMap<String, JsonValue>,
    /// The `since` of the next `/sync`.
    pub next_batch: String,
    /// What it told the device's end-to-end encryption.
    pub crypto: CryptoChanges,
    /// Where a listener stands just before the first event held back, waiting for its room key
    /// (by this sync or an earlier one): the position to keep while it is held, so that a
    /// crash meanwhile loses nothing. `None` when nothing is held.
    pub held_from: Option<crate::listen::Position>,
}

impl Client {
    /// One `/sync` for `filter` from `since`, held by the server up to `wait` when there is
    /// nothing new yet. A room's timeline the server cut short (`limited`) is completed from
    /// `/rooms/{roomId}/messages` back to `since`, so that no event between two syncs is
    /// missed. Without `since`, the timeline is left out: the answer gives the names of the
    /// rooms, the position to listen from, and (with `invites`) the invitations pending.
    pub fn sync_events(
        &self,
        token: &AccessToken,
        filter: &ListenFilter,
        since: Option<&str>,
        wait: Duration,
    ) -> Result<SyncBatch, Error> {
        let sync_filter = filter.sync(since.is_some()).to_string();
        // Without `since` the server answers at once; a fresh timeout keeps it from answering
        // with a kept answer of the last two minutes (and an old position).
        let timeout = match since {
            Some(_) => wait.as_millis().to_string(),
            None => fresh_initial_timeout(),
        };
        let mut query = vec![
            ("filter", sync_filter.as_str()),
            ("timeout", timeout.as_str()),
        ];
        if let Some(since) = since {
            query.push(("since", since));
        }
        let answer = self.get_held(token, &["sync"], &query, wait)?;
        let next_batch = next_batch(&answer)?;
        let crypto = CryptoChanges::from_sync(&answer.object, &next_batch);
        let answer = JsonValue::Object(answer.object);
        let mut room_names = BTreeMap::new();
        let mut naming = BTreeMap::new();
        let mut timelines = Vec::new();
        if let Some(joined) = answer["rooms"]["join"].as_object() {
            for (room_id, room) in joined {
                let naming_events: Vec<&JsonValue> =
                    [&room["state"]["events"], &room["timeline"]["events"]]
                        .into_iter()
                        .filter_map(JsonValue::as_array)
                        .flatten()
                        .filter(|event| names_room(event))
                        .collect();
                naming.insert(
                    room_id.clone(),
                    json!({"summary": room["summary"], "events": naming_events}),
                );
                let Some(since) = since else { continue };
                let mut events: Vec<Event> = room["timeline"]["events"]
                    .as_array()
                    .map_or(&[][..], Vec::as_slice)
                    .iter()
                    .filter_map(|event| Event::of_room(room_id, event))
                    .filter(|event| filter.keeps(&event.kind))
                    .collect();
                if room["timeline"]["limited"] == true
                    && let Some(prev) = room["timeline"]["prev_batch"].as_str()
                {
                    let mut gap = self.fill_gap(token, filter, room_id, prev, since)?;
                    gap.append(&mut events);
                    events = gap;
                }
                timelines.push(VecDeque::from(events));
            }
        }
        let mut events = merge_by_time(timelines);
        if filter.invites {
            events.extend(invites_of(&answer["rooms"]["invite"], &mut room_names));
        }
        Ok(SyncBatch {
            events,
            room_names,
            naming,
            next_batch,
            crypto,
            held_from: None,
        })
    }

    /// The events of a room between `since` and `prev_batch`, oldest first.
    fn fill_gap(
        &self,
        token: &AccessToken,
        filter: &ListenFilter,
        room_id: &str,
        prev_batch: &str,
        since: &str,
    ) -> Result<Vec<Event>, Error> {
        let events_filter = filter.events().to_string();
        let limit = TIMELINE_LIMIT.to_string();
        let mut from = prev_batch.to_owned();
        let mut newest_first = Vec::new();
        loop {
            let query = [
                ("dir", "b"),
                ("from", from.as_str()),
                ("to", since),
                ("limit", limit.as_str()),
                ("filter", events_filter.as_str()),
            ];
            let page = JsonValue::Object(
                self.get_held(
                    token,
                    &["rooms", room_id, "messages"],
                    &query,
                    Duration::ZERO,
                )?
                .object,
            );
            let chunk = page["chunk"].as_array().map_or(&[][..], Vec::as_slice);
            newest_first.extend(
                chunk
                    .iter()
                    .filter_map(|event| Event::of_room(room_id, event)),
            );
            match page["end"].as_str() {
                Some(end) if !chunk.is_empty() && end != from => from = end.to_owned(),
                _ => break,
            }
        }
        newest_first.reverse();
        Ok(newest_first)
    }
}

impl ListenFilter {
    /// Whether an event's type is one listened for (the server filters; this keeps state
    /// events that a limited timeline may carry out).
    pub fn types_match(&self, kind: &str) -> bool {
        self.types
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => kind.starts_with(prefix),
                None => pattern == kind,
            })
    }
}

impl ListenFilter {
    /// Whether an event is kept once decryption had its turn: one that came in the clear, one
    /// not decrypted (an error, a redacted one: its real type is unknown), one whose real
    /// type is listened for, or an invitation (its `encrypted` says the room is).
    pub fn keeps_opened(&self, encrypted: bool, kind: &str) -> bool {
        !encrypted || kind == ENCRYPTED || kind == INVITE || self.types_match(kind)
    }

    /// Whether an event of the server's is kept: a type listened for, or an encrypted one to
    /// decrypt.
    fn keeps(&self, kind: &str) -> bool {
        self.types_match(kind) || (self.encrypted && kind == ENCRYPTED)
    }
}

/// The alias, else the name, of a room, from its state events.
fn room_name(events: &JsonValue) -> Option<String> {
    let events = events.as_array()?;
    let text = |kind: &str, field: &str| {
        events
            .iter()
            .rev()
            .find(|event| event["type"] == kind && event["state_key"] == "")
            .and_then(|event| event["content"][field].as_str())
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    text("m.room.canonical_alias", "alias").or_else(|| text("m.room.name", "name"))
}

/// Invitations: who invited to which room, and the room's name from its stripped state.
fn invites_of(invited: &JsonValue, room_names: &mut BTreeMap<String, String>) -> Vec<Event> {
    let Some(invited) = invited.as_object() else {
        return Vec::new();
    };
    invited
        .iter()
        .filter_map(|(room_id, room)| {
            let state = &room["invite_state"]["events"];
            if let Some(name) = room_name(state) {
                room_names.insert(room_id.clone(), name);
            }
            let member = state.as_array()?.iter().rev().find(|event| {
                event["type"] == "m.room.member" && event["content"]["membership"] == "invite"
            })?;
            Some(Event {
                room_id: room_id.clone(),
                event_id: None,
                sender: member["sender"].as_str()?.to_owned(),
                kind: INVITE.to_owned(),
                time: SystemTime::now(),
                content: member["content"].clone(),
                unsigned: JsonValue::Null,
                redacts: None,
                // An invitation's: whether the room it invites to is end-to-end encrypted (its
                // stripped state says, as Synapse's default prejoin state has it).
                encrypted: state.as_array().is_some_and(|events| {
                    events
                        .iter()
                        .any(|event| event["type"] == "m.room.encryption")
                }),
                verified: None,
                decrypt_error: None,
                authenticity: None,
                key_may_come: false,
            })
        })
        .collect()
}

/// The rooms' timelines as one, by time, each room's order kept.
fn merge_by_time(mut timelines: Vec<VecDeque<Event>>) -> Vec<Event> {
    let mut merged = Vec::with_capacity(timelines.iter().map(VecDeque::len).sum());
    loop {
        let earliest = timelines
            .iter()
            .enumerate()
            .filter_map(|(at, timeline)| Some((at, timeline.front()?.time)))
            .min_by_key(|(_, time)| *time);
        let Some((at, _)) = earliest else {
            return merged;
        };
        if let Some(event) = timelines[at].pop_front() {
            merged.push(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unix_ms;

    fn at(room: &str, ms: u64, id: &str) -> Event {
        Event {
            room_id: room.into(),
            event_id: Some(id.into()),
            sender: "@a:x".into(),
            kind: "m.room.message".into(),
            time: unix_ms::to_time(ms),
            content: json!({}),
            unsigned: json!({}),
            redacts: None,
            encrypted: false,
            verified: None,
            decrypt_error: None,
            authenticity: None,
            key_may_come: false,
        }
    }

    #[test]
    fn timelines_merge_by_time_keeping_each_rooms_order() {
        let a = VecDeque::from(vec![
            at("!a", 10, "a1"),
            at("!a", 5, "a2"),
            at("!a", 30, "a3"),
        ]);
        let b = VecDeque::from(vec![at("!b", 7, "b1"), at("!b", 20, "b2")]);
        let ids: Vec<_> = merge_by_time(vec![a, b])
            .into_iter()
            .filter_map(|event| event.event_id)
            .collect();
        assert_eq!(ids, ["b1", "a1", "a2", "b2", "a3"]);
    }

    #[test]
    fn after_decryption_an_invitation_to_an_encrypted_room_is_kept() {
        let filter = ListenFilter {
            invites: true,
            encrypted: true,
            ..ListenFilter::default()
        };
        assert!(filter.keeps_opened(true, INVITE));
        assert!(filter.keeps_opened(true, ENCRYPTED));
        assert!(filter.keeps_opened(true, "m.room.message"));
        assert!(!filter.keeps_opened(true, "m.reaction"));
    }

    #[test]
    fn the_filter_asks_for_the_chosen_events_and_nothing_else() {
        let filter = ListenFilter {
            rooms: vec!["!r:x".into()],
            senders: vec!["@boss:x".into()],
            not_senders: vec!["@bot:x".into()],
            ..ListenFilter::default()
        };
        let sync = filter.sync(true);
        assert_eq!(sync["room"]["rooms"], json!(["!r:x"]));
        // The events that name rooms come too, to follow the names; they are not handed out.
        assert_eq!(
            sync["room"]["timeline"]["types"],
            json!([
                "m.room.message",
                "m.room.member",
                "m.room.name",
                "m.room.canonical_alias"
            ])
        );
        assert!(!filter.keeps("m.room.member"));
        assert_eq!(sync["room"]["timeline"]["senders"], json!(["@boss:x"]));
        assert_eq!(sync["room"]["timeline"]["not_senders"], json!(["@bot:x"]));
        assert_eq!(sync["presence"]["types"], json!([]));
        assert_eq!(filter.sync(false)["room"]["timeline"]["limit"], 0);
        assert!(filter.types_match("m.room.message"));
        assert!(!filter.types_match("m.room.name"));
        let any_room = ListenFilter {
            types: vec!["m.room.*".into()],
            ..ListenFilter::default()
        };
        assert!(any_room.types_match("m.room.name"));
    }

    #[test]
    fn an_invitation_names_who_invited_and_the_room() {
        let invited = json!({"!r:x": {"invite_state": {"events": [
            {"type": "m.room.name", "state_key": "", "content": {"name": "Ops"}, "sender": "@a:x"},
            {"type": "m.room.member", "state_key": "@bot:x", "sender": "@boss:x",
             "content": {"membership": "invite"}},
        ]}}});
        let mut names = BTreeMap::new();
        let invites = invites_of(&invited, &mut names);
        assert_eq!(invites.len(), 1);
        assert_eq!(invites[0].sender, "@boss:x");
        assert_eq!(invites[0].kind, "invite");
        assert!(!invites[0].encrypted, "no m.room.encryption in its state");
        assert_eq!(names["!r:x"], "Ops");
    }
}
