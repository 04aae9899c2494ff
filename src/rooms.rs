//! The chores bots do most with a session: list and join rooms, send a message or any event,
//! redact one, read recent messages. These send and read as the server has it: encrypting for
//! an encrypted room and decrypting its events is [`crate::e2ee`]'s.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value as JsonValue, json};

use crate::answer::Answer;
use crate::client::{Client, Method};
use crate::error::{Error, ErrorCode, InputError, TransportKind};
use crate::secret::{AccessToken, unique_hex};

mod device;
mod event;
mod heroes;
mod list;
mod outgoing;
mod shape;
mod watch;

pub use device::CryptoChanges;
pub use event::{ENCRYPTED, Event};
pub use heroes::{Hero, RoomNaming, name_from_heroes};
pub(crate) use heroes::{heroes_of_sync, members_of_sync, names_room};
pub use outgoing::{OutgoingFile, OutgoingMessage, Thread, edit_content, reaction_content};
pub use shape::{REDACTION, Relation, Shape};
pub use watch::{ALIAS_KEPT, DeviceHook, RoomWatch};

/// A joined room, from one filtered `/sync`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// `!abc:example.org`
    pub room_id: String,
    /// The `m.room.name`, else the name its heroes give it (a DM: the other person), as
    /// clients show it.
    pub name: Option<String>,
    /// The `m.room.canonical_alias`, if set.
    pub canonical_alias: Option<String>,
    /// Joined members, when the server says.
    pub members: Option<u64>,
    /// True when the room has `m.room.encryption`.
    pub encrypted: bool,
}

/// One page of [`Client::messages`]: the messages, newest first, and where the next (older)
/// page starts, if there is one.
#[derive(Debug, Clone)]
pub struct MessagesPage {
    /// The messages, newest first.
    pub messages: Vec<Event>,
    /// The token for the next, older, page.
    pub next: Option<String>,
}

/// The largest event a homeserver takes: 65,536 bytes of JSON, as the spec's size limits say.
pub const MAX_EVENT_BYTES: usize = 65_536;

/// Whether a content can go as an event: `Err` with its size when its JSON alone is over
/// [`MAX_EVENT_BYTES`] (the server would refuse it; an encrypted one grows by about a third,
/// and the server's refusal says so then).
pub fn check_event_size(content: &serde_json::Value) -> Result<(), usize> {
    let size = serde_json::to_vec(content).map_or(0, |json| json.len());
    if size > MAX_EVENT_BYTES {
        Err(size)
    } else {
        Ok(())
    }
}

/// The power level a room's `m.room.power_levels` content asks for redacting others' events,
/// and the one it gives `user_id`: the spec's defaults where the content says nothing
/// (`redact` 50, `users_default` 0).
pub fn redact_levels(power_levels: &serde_json::Value, user_id: &str) -> (i64, i64) {
    let level = |value: &serde_json::Value, default: i64| {
        value
            .as_i64()
            .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
            .unwrap_or(default)
    };
    let needed = level(&power_levels["redact"], 50);
    let default = level(&power_levels["users_default"], 0);
    let mine = level(&power_levels["users"][user_id], default);
    (needed, mine)
}

/// The transaction ID of an answer: derived from what it answers and what it says, so that the
/// same answer to the same event, sent again (a bot restarted after a crash, handed the same
/// row again), is the same transaction, which the homeserver sends once. `None` for a content
/// that answers nothing (no `m.relates_to`): a fresh ID suits it.
///
/// `event_type` and `content` are the answer's, in the clear; the relation inside names the
/// event answered, so two answers to two events, or two different answers to one, differ.
pub fn answer_transaction_id(event_type: &str, content: &serde_json::Value) -> Option<String> {
    content.get("m.relates_to")?;
    Some(derived_transaction_id(event_type, content))
}

/// A transaction ID derived from `what` and `content` (a hash: 128 bits, hex, `ans` before it).
pub fn derived_transaction_id(what: &str, content: &serde_json::Value) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(b"nu_plugin_matrix answer\0");
    hash.update(what.as_bytes());
    hash.update(b"\0");
    // serde_json's objects keep their keys sorted: the same content is the same bytes.
    hash.update(content.to_string().as_bytes());
    format!("ans{}", hex::encode(&hash.finalize()[..16]))
}

/// A fresh transaction ID for [`Client::send_message`]: 128 random bits, hex.
pub fn new_transaction_id() -> String {
    unique_hex::<16>()
}

/// The `timeout` of a `/sync` without `since`, which the server answers at once whatever it
/// says: one not used before. Synapse keeps a sync's answer for two minutes
/// (`sync_response_cache_duration`), keyed by, among others, the timeout; a repeat within that
/// time would get the old answer (a room joined meanwhile missing, a room encrypted meanwhile
/// shown plain).
pub(crate) fn fresh_initial_timeout() -> String {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        bytes = nanos.to_le_bytes();
    }
    (u32::from_le_bytes(bytes) % 1_000_000_000).to_string()
}

/// A `/sync` filter whose room part is `room`, asking for nothing else: no presence, account
/// data, typing or receipts.
pub(crate) fn quiet_sync_filter(mut room: JsonValue) -> JsonValue {
    room["ephemeral"] = json!({"types": []});
    room["account_data"] = json!({"types": []});
    json!({"room": room, "presence": {"types": []}, "account_data": {"types": []}})
}

/// The `next_batch` of a `/sync` answer: where the next one starts.
pub(crate) fn next_batch(answer: &Answer) -> Result<String, Error> {
    answer
        .object
        .get("next_batch")
        .and_then(JsonValue::as_str)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| answer.unexpected("the field `next_batch` is missing"))
}

/// The largest page [`Client::messages`] asks for: the most Synapse gives in one answer
/// (`MAX_LIMIT` of its pagination), so that a long history takes the fewest requests.
pub const MAX_PAGE: u32 = 1000;

impl Client {
    /// `POST /join/{roomIdOrAlias}`: joins a room by ID or alias; returns its room ID.
    pub fn join(&self, token: &AccessToken, room: &str) -> Result<String, Error> {
        check_room(room)?;
        self.request_at(token, Method::Post, &["join", room], &[], None)?
            .field("room_id")
    }

    /// The room ID of a room ID or alias (`GET /directory/room/{alias}` for an alias).
    pub fn resolve_room(&self, token: &AccessToken, room: &str) -> Result<String, Error> {
        check_room(room)?;
        if room.starts_with('!') {
            return Ok(room.to_owned());
        }
        self.request_at(token, Method::Get, &["directory", "room", room], &[], None)?
            .field("room_id")
    }

    /// True when the room is end-to-end encrypted (it has an `m.room.encryption` state event).
    pub fn is_encrypted(&self, token: &AccessToken, room_id: &str) -> Result<bool, Error> {
        let path = ["rooms", room_id, "state", "m.room.encryption", ""];
        match self.request_at(token, Method::Get, &path, &[], None) {
            Ok(_) => Ok(true),
            Err(Error::Matrix(err)) if err.errcode == ErrorCode::NotFound => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// `PUT /rooms/{roomId}/send/m.room.message/{txnId}`: sends a message and returns its event
    /// ID. The same `transaction_id` (from [`new_transaction_id`]) sends at most once: the
    /// server answers a repeat with the first event's ID. So when the answer is lost (a reset
    /// connection, a time-out), the request is repeated once with it.
    pub fn send_message(
        &self,
        token: &AccessToken,
        room_id: &str,
        message: &OutgoingMessage,
        transaction_id: &str,
    ) -> Result<String, Error> {
        self.send_event(
            token,
            room_id,
            "m.room.message",
            &message.content(),
            transaction_id,
        )
    }

    /// `PUT /rooms/{roomId}/send/{eventType}/{txnId}`: sends a room event of any type, as
    /// [`Client::send_message`] sends a message (the same transaction-ID rule).
    pub fn send_event(
        &self,
        token: &AccessToken,
        room_id: &str,
        event_type: &str,
        content: &JsonValue,
        transaction_id: &str,
    ) -> Result<String, Error> {
        check_room(room_id)?;
        check_transaction_id(transaction_id)?;
        let path = ["rooms", room_id, "send", event_type, transaction_id];
        self.put_idempotent(token, &path, content)
    }

    /// `PUT /rooms/{roomId}/redact/{eventId}/{txnId}`: removes an event's content (with
    /// `reason`, if given); returns the redaction's event ID. The same transaction-ID rule as
    /// [`Client::send_message`].
    pub fn redact(
        &self,
        token: &AccessToken,
        room_id: &str,
        event_id: &str,
        reason: Option<&str>,
        transaction_id: &str,
    ) -> Result<String, Error> {
        check_room(room_id)?;
        check_transaction_id(transaction_id)?;
        let body = reason.map_or_else(|| json!({}), |reason| json!({"reason": reason}));
        let path = ["rooms", room_id, "redact", event_id, transaction_id];
        self.put_idempotent(token, &path, &body)
    }

    /// `GET /rooms/{roomId}/event/{eventId}`: one event as the server has it (an encrypted
    /// one encrypted). An unknown event, or one the user may not see, is `M_NOT_FOUND`.
    pub fn event(
        &self,
        token: &AccessToken,
        room_id: &str,
        event_id: &str,
    ) -> Result<JsonValue, Error> {
        check_room(room_id)?;
        self.request_at(
            token,
            Method::Get,
            &["rooms", room_id, "event", event_id],
            &[],
            None,
        )?
        .json()
    }

    /// A `PUT` under a transaction ID, sent once more when its answer was lost (the server
    /// answers a repeat with the first one's event); returns the `event_id`.
    fn put_idempotent(
        &self,
        token: &AccessToken,
        path: &[&str],
        content: &JsonValue,
    ) -> Result<String, Error> {
        let send = || self.request_at(token, Method::Put, path, &[], Some(content.clone()));
        let answer = match send() {
            Err(Error::Transport(err))
                if matches!(
                    err.kind,
                    TransportKind::Timeout | TransportKind::Other | TransportKind::CutShort
                ) =>
            {
                send()?
            }
            other => other?,
        };
        answer.field("event_id")
    }

    /// `GET /rooms/{roomId}/messages`: one page of messages (`m.room.message`, and encrypted
    /// events), newest first, at most `limit` (up to [`MAX_PAGE`]), from `from` (the `next` of
    /// the page before) or from the newest.
    pub fn messages(
        &self,
        token: &AccessToken,
        room_id: &str,
        from: Option<&str>,
        limit: u32,
    ) -> Result<MessagesPage, Error> {
        let types = ["m.room.message".to_owned(), ENCRYPTED.to_owned()];
        self.events_page(token, room_id, &types, from, limit)
    }

    /// `GET /rooms/{roomId}/messages` for events of `types` (`*` wildcards allowed), as
    /// [`Client::messages`] pages them. Add `m.room.encrypted` to read an encrypted room's
    /// events of those types: their real type shows once they are decrypted.
    pub fn events_page(
        &self,
        token: &AccessToken,
        room_id: &str,
        types: &[String],
        from: Option<&str>,
        limit: u32,
    ) -> Result<MessagesPage, Error> {
        let filter = json!({"types": types});
        let answer = self.page_backward(token, room_id, &filter, limit.clamp(1, MAX_PAGE), from)?;
        let chunk = answer["chunk"].as_array().map_or(&[][..], Vec::as_slice);
        let messages: Vec<Event> = chunk
            .iter()
            .filter_map(|event| Event::of_room(room_id, event))
            .collect();
        // An empty page is the end, whatever `end` says.
        let next = answer["end"]
            .as_str()
            .filter(|_| !chunk.is_empty())
            .map(str::to_owned);
        Ok(MessagesPage { messages, next })
    }

    /// `GET /rooms/{roomId}/messages`: a page of up to `limit` events that `filter` lets
    /// through, newest first, from `from` (none: the newest).
    fn page_backward(
        &self,
        token: &AccessToken,
        room_id: &str,
        filter: &JsonValue,
        limit: u32,
        from: Option<&str>,
    ) -> Result<JsonValue, Error> {
        check_room(room_id)?;
        let mut query = vec![
            ("dir".to_owned(), "b".to_owned()),
            ("limit".to_owned(), limit.to_string()),
            ("filter".to_owned(), filter.to_string()),
        ];
        if let Some(from) = from {
            query.push(("from".to_owned(), from.to_owned()));
        }
        self.request_at(
            token,
            Method::Get,
            &["rooms", room_id, "messages"],
            &query,
            None,
        )?
        .json()
    }

    /// Who invited `user_id` into `room_id`, once they joined: the sender of the invitation
    /// their latest membership event replaced (its `unsigned.prev_sender`); `None` when they
    /// joined uninvited. One `GET /rooms/{roomId}/messages`, the newest membership event of
    /// theirs.
    pub fn inviter(
        &self,
        token: &AccessToken,
        room_id: &str,
        user_id: &str,
    ) -> Result<Option<String>, Error> {
        let filter = json!({"types": ["m.room.member"], "senders": [user_id]});
        let answer = self.page_backward(token, room_id, &filter, 1, None)?;
        let joined = &answer["chunk"][0];
        let unsigned = &joined["unsigned"];
        let invited = joined["state_key"] == user_id
            && joined["content"]["membership"] == "join"
            && unsigned["prev_content"]["membership"] == "invite";
        Ok(invited
            .then(|| unsigned["prev_sender"].as_str().map(str::to_owned))
            .flatten())
    }
}

/// Checks that `room` looks like a room ID (`!…`) or alias (`#…`), before anything is sent.
pub fn check_room(room: &str) -> Result<(), Error> {
    let ok = (room.starts_with('!') || room.starts_with('#'))
        && room.len() > 1
        && room.len() <= 255
        && !room.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(Error::Input(InputError::new(
            format!("'{room}' is not a room ID or alias"),
            "give a room ID (!abc:example.org) or an alias (#ops:example.org)",
        )))
    }
}

fn check_transaction_id(transaction_id: &str) -> Result<(), Error> {
    if transaction_id.is_empty() {
        return Err(Error::Input(InputError::new(
            "the transaction ID is empty",
            "use any short text that is new for each message, e.g. a counter or a UUID",
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_levels_come_from_the_content_or_the_defaults() {
        let levels = serde_json::json!({"users": {"@admin:x": 100, "@bot:x": 10}, "redact": 75});
        assert_eq!(redact_levels(&levels, "@bot:x"), (75, 10));
        assert_eq!(redact_levels(&levels, "@admin:x"), (75, 100));
        assert_eq!(redact_levels(&serde_json::json!({}), "@bot:x"), (50, 0));
        let defaults = serde_json::json!({"users_default": 60});
        assert_eq!(redact_levels(&defaults, "@bot:x"), (50, 60));
    }

    #[test]
    fn transaction_ids_are_fresh() {
        let (a, b) = (new_transaction_id(), new_transaction_id());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn a_room_alias_with_a_slash_stays_one_segment() {
        assert!(check_room("#ops/team:example.org").is_ok());
        let client = Client::new("http://127.0.0.1:8008").unwrap();
        let url = client.url_of(true, ["directory", "room", "#ops/team:example.org"]);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8008/_matrix/client/v3/directory/room/%23ops%2Fteam:example.org"
        );
    }
}
