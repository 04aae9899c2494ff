//! Any endpoint, with a session's token: what `matrix api` and the room calls send through.

use serde_json::Value as JsonValue;

use crate::client::{Client, Method};
use crate::error::{Error, InputError, UnexpectedResponse};
use crate::secret::AccessToken;

/// The answer of [`Client::request`]: a 2xx status and the body as it came.
#[derive(Debug, Clone)]
pub struct ApiAnswer {
    /// The URL asked.
    pub url: String,
    /// The HTTP status (2xx).
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl ApiAnswer {
    /// The body as JSON (`null` for an empty body).
    pub fn json(&self) -> Result<JsonValue, Error> {
        if self.body.is_empty() {
            return Ok(JsonValue::Null);
        }
        serde_json::from_slice(&self.body).map_err(|_| self.unexpected("the body is not JSON"))
    }

    /// A string field of the JSON object in the body.
    pub(crate) fn field(&self, field: &str) -> Result<String, Error> {
        self.json()?[field]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| self.unexpected(format!("the answer has no `{field}`")))
    }

    fn unexpected(&self, problem: impl Into<String>) -> Error {
        Error::UnexpectedResponse(UnexpectedResponse {
            url: self.url.clone(),
            status: self.status,
            content_type: self.content_type.clone(),
            problem: problem.into(),
            excerpt: String::new(),
        })
    }
}

impl Client {
    /// An authenticated request to any endpoint of the homeserver. `path` is relative to
    /// `/_matrix/client/v3/` (`account/whoami`) or absolute (`/_synapse/admin/v2/users/…`);
    /// its segments are percent-encoded here, so write them as they are (`rooms/!id:server`,
    /// `directory/room/#alias:server`). A 2xx answer comes back as it is; other answers
    /// become errors, and a short rate limit is waited out once, as for every call.
    pub fn request(
        &self,
        token: &AccessToken,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<JsonValue>,
    ) -> Result<ApiAnswer, Error> {
        let url = self.api_url(path, query)?;
        self.request_url(token, method, url.into(), body)
    }

    /// What follows `/_matrix/client/` in the URL a [`Client::request`] to `path` goes to,
    /// read as it would go out: dot segments gone, each segment as the server decodes it,
    /// empty segments skipped. `None` for a path outside the client API.
    fn client_api_segments(&self, path: &str) -> Result<Option<Vec<String>>, Error> {
        let url = self.api_url(path, &[])?;
        let base = self.url_of(false, []);
        let skip = base
            .path_segments()
            .map_or(0, |base| base.filter(|segment| !segment.is_empty()).count());
        let mut segments: Vec<String> = url
            .path_segments()
            .into_iter()
            .flatten()
            .filter(|segment| !segment.is_empty())
            .skip(skip)
            .map(|segment| {
                percent_encoding::percent_decode_str(segment)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        Ok(match segments.as_slice() {
            [api, client, ..] if api == "_matrix" && client == "client" => {
                Some(segments.split_off(2))
            }
            _ => None,
        })
    }

    /// The room event that a [`Client::request`] of `method` to `path` would send, read from
    /// the URL exactly as it would go out (see `client_api_segments`; any version's prefix):
    /// `None` when it sends none. A guard that keeps cleartext out of encrypted rooms decides
    /// on this.
    pub fn event_send_of(&self, method: Method, path: &str) -> Result<Option<EventSend>, Error> {
        if !matches!(method, Method::Put | Method::Post) {
            return Ok(None);
        }
        let Some(rest) = self.client_api_segments(path)? else {
            return Ok(None);
        };
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        // Whatever the version's segments (`v3`, `r0`, `api/v1`, …): the send's own segments
        // end the path.
        let (send, txn_id) = match rest.as_slice() {
            [.., "rooms", _, "send", _] => (&rest[rest.len() - 4..], None),
            [.., "rooms", _, "send", _, txn] => (&rest[rest.len() - 5..rest.len() - 1], Some(*txn)),
            _ => return Ok(None),
        };
        Ok(Some(EventSend {
            room: send[1].to_owned(),
            event_type: send[3].to_owned(),
            txn_id: txn_id.map(str::to_owned),
        }))
    }

    /// The room that a [`Client::request`] of `method` to `path` would invite someone to
    /// (`POST rooms/<room>/invite`), read as the URL would go out: `None` when it invites no
    /// one. Before an invitation, the room's history is shared (MSC4268).
    pub fn invite_of(&self, method: Method, path: &str) -> Result<Option<String>, Error> {
        if method != Method::Post {
            return Ok(None);
        }
        let Some(rest) = self.client_api_segments(path)? else {
            return Ok(None);
        };
        Ok(match rest.as_slice() {
            [.., rooms, room, invite] if rooms == "rooms" && invite == "invite" => {
                Some(room.clone())
            }
            _ => None,
        })
    }

    /// The room alias a [`Client::request`] to `path` names where a room ID belongs
    /// (`rooms/#ops:example.org/invite`), read as the URL would go out: endpoints under
    /// `/rooms/` take a room ID only, so `matrix api` resolves the alias first, as `matrix
    /// send` does. `None` when there is none.
    pub fn alias_in_rooms_path(&self, path: &str) -> Result<Option<AliasInPath>, Error> {
        let Some(rest) = self.client_api_segments(path)? else {
            return Ok(None);
        };
        let at = rest
            .iter()
            .position(|segment| segment == "rooms")
            .map(|at| at + 1);
        Ok(at
            .filter(|at| rest.get(*at).is_some_and(|room| room.starts_with('#')))
            .map(|at| AliasInPath { rest, at }))
    }

    /// [`Client::request`] to `/_matrix/client/v3/<segments>`, each segment percent-encoded
    /// as it is (a `/` in a room alias stays inside its segment).
    pub(crate) fn request_at(
        &self,
        token: &AccessToken,
        method: Method,
        segments: &[&str],
        query: &[(String, String)],
        body: Option<JsonValue>,
    ) -> Result<ApiAnswer, Error> {
        let mut url = self.url_of(true, segments.iter().copied());
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        self.request_url(token, method, url.into(), body)
    }

    fn request_url(
        &self,
        token: &AccessToken,
        method: Method,
        url: String,
        body: Option<JsonValue>,
    ) -> Result<ApiAnswer, Error> {
        let answer = self.call_url(method, &url, Some(token), body)?;
        Ok(ApiAnswer {
            url,
            status: answer.status(),
            content_type: answer.content_type().map(str::to_owned),
            body: answer.into_body(),
        })
    }

    /// The URL of an API path (see [`Client::request`]).
    fn api_url(&self, path: &str, query: &[(String, String)]) -> Result<url::Url, Error> {
        let trimmed = path.trim();
        if trimmed.is_empty() || trimmed == "/" {
            return Err(Error::Input(InputError::new(
                "the path is empty",
                "give an endpoint, e.g. account/whoami or /_synapse/admin/v1/server_version",
            )));
        }
        if trimmed.contains("://") {
            return Err(Error::Input(InputError::new(
                "the path is a whole URL",
                "give only the path: the request goes to the session's homeserver, e.g. \
                 account/whoami",
            )));
        }
        let absolute = trimmed.starts_with('/');
        let mut url = self.url_of(!absolute, trimmed.trim_start_matches('/').split('/'));
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }
}

/// A client API path that names a room by its alias: see [`Client::alias_in_rooms_path`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasInPath {
    /// What follows `/_matrix/client/`, decoded.
    rest: Vec<String>,
    /// Where the alias is in it.
    at: usize,
}

impl AliasInPath {
    /// The alias, e.g. `#ops:example.org`.
    pub fn alias(&self) -> &str {
        &self.rest[self.at]
    }

    /// The path with `room_id` in the alias's place: absolute, under the same version.
    pub fn with_room_id(&self, room_id: &str) -> String {
        let mut rest = self.rest.clone();
        rest[self.at] = room_id.to_owned();
        format!("/_matrix/client/{}", rest.join("/"))
    }
}

/// A room event a request sends (`PUT rooms/<room>/send/<type>/<txn>`, or Synapse's
/// `POST rooms/<room>/send/<type>` without a transaction ID): see [`Client::event_send_of`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSend {
    /// The room, as the path names it (an ID or an alias).
    pub room: String,
    /// The event type.
    pub event_type: String,
    /// The transaction ID, when the path has one.
    pub txn_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_of(client: &Client, method: Method, path: &str) -> Option<EventSend> {
        client.event_send_of(method, path).expect("a path")
    }

    #[test]
    fn an_event_send_is_known_however_its_path_is_spelled() {
        let client = Client::new("http://127.0.0.1:8008").unwrap();
        let sent = |txn: Option<&str>| {
            Some(EventSend {
                room: "!a:example.org".into(),
                event_type: "m.room.message".into(),
                txn_id: txn.map(str::to_owned),
            })
        };
        for path in [
            "rooms/!a:example.org/send/m.room.message/t1",
            "rooms/./!a:example.org/send/m.room.message/t1",
            "rooms/!a:example.org/../send/./m.room.message/t1",
            " rooms/!a:example.org/send/m.room.message/t1 ",
            "rooms//!a:example.org//send/m.room.message/t1",
            "/_matrix/client/v3/rooms/!a:example.org/send/m.room.message/t1",
            "/_matrix/client/r0/rooms/!a:example.org/send/m.room.message/t1",
            "//_matrix/client/unstable/rooms/!a:example.org/send/m.room.message/t1",
            "/_matrix/client/api/v1/rooms/!a:example.org/send/m.room.message/t1",
            "/_matrix/client/./api/v1/rooms/!a:example.org/send/m.room.message/t1",
        ] {
            assert_eq!(
                send_of(&client, Method::Put, path),
                sent(Some("t1")),
                "{path}"
            );
        }
        assert_eq!(
            send_of(
                &client,
                Method::Post,
                "rooms/!a:example.org/send/m.room.message"
            ),
            sent(None)
        );
        // A segment is decoded as the server decodes it: a `%` written is a `%` sent.
        assert_eq!(
            send_of(
                &client,
                Method::Put,
                "rooms/!a:example.org/send/m.room.message/%41"
            )
            .and_then(|send| send.txn_id),
            Some("%41".into())
        );
        assert_eq!(
            send_of(&client, Method::Put, "rooms/#ops:x/send/m.reaction/t").map(|s| s.room),
            Some("#ops:x".into())
        );
        for (method, path) in [
            (Method::Get, "rooms/!a:example.org/send/m.room.message/t1"),
            (
                Method::Delete,
                "rooms/!a:example.org/send/m.room.message/t1",
            ),
            (Method::Put, "rooms/!a:example.org/state/m.room.topic/"),
            (Method::Put, "rooms/!a:example.org/send"),
            (
                Method::Put,
                "rooms/!a:example.org/send/m.room.message/t/more",
            ),
            (Method::Put, "/_synapse/admin/v1/rooms/!a/send/x/y"),
        ] {
            assert_eq!(send_of(&client, method, path), None, "{path}");
        }
        // Under a homeserver that lives at a path, that path is not part of the request's.
        let prefixed = Client::new("http://127.0.0.1:8008/matrix/").unwrap();
        assert_eq!(
            send_of(
                &prefixed,
                Method::Put,
                "rooms/!a:example.org/send/m.room.message/t1"
            ),
            sent(Some("t1"))
        );
    }

    #[test]
    fn an_alias_where_a_room_id_belongs_is_found() {
        let client = Client::new("http://127.0.0.1:8008").unwrap();
        let alias_in = |path: &str| client.alias_in_rooms_path(path).expect("a path");
        let found = alias_in(" rooms/#ops:x/invite").expect("an alias");
        assert_eq!(found.alias(), "#ops:x");
        assert_eq!(
            found.with_room_id("!r:x"),
            "/_matrix/client/v3/rooms/!r:x/invite"
        );
        let found = alias_in("/_matrix/client/r0/rooms/./#ops:x/state").expect("one");
        assert_eq!(
            found.with_room_id("!r:x"),
            "/_matrix/client/r0/rooms/!r:x/state"
        );
        assert_eq!(alias_in("rooms/!r:x/invite"), None);
        assert_eq!(alias_in("directory/room/#ops:x"), None);
        assert_eq!(alias_in("/_synapse/admin/v1/rooms/#ops:x"), None);
    }

    #[test]
    fn api_paths_are_encoded_per_segment() {
        let client = Client::new("http://127.0.0.1:8008").unwrap();
        let url = client
            .api_url("directory/room/#ops:example.org", &[])
            .unwrap()
            .to_string();
        assert_eq!(
            url,
            "http://127.0.0.1:8008/_matrix/client/v3/directory/room/%23ops:example.org"
        );
        let url = client
            .api_url(
                "/_synapse/admin/v2/users/@bot:example.org",
                &[("a b".into(), "c&d".into())],
            )
            .unwrap()
            .to_string();
        assert_eq!(
            url,
            "http://127.0.0.1:8008/_synapse/admin/v2/users/@bot:example.org?a+b=c%26d"
        );
        let url = client
            .api_url("rooms/!r:x/send/m.room.message/t?1", &[])
            .unwrap()
            .to_string();
        assert!(
            url.ends_with("/rooms/!r:x/send/m.room.message/t%3F1"),
            "{url}"
        );
        assert!(client.api_url("", &[]).is_err());
        // A homeserver under a path keeps it, for absolute paths too (as every call does).
        let prefixed = Client::new("http://127.0.0.1:8008/matrix").unwrap();
        assert_eq!(
            prefixed
                .api_url("/_synapse/admin/v1/server_version", &[])
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8008/matrix/_synapse/admin/v1/server_version"
        );
        assert!(client.api_url("https://evil.example/x", &[]).is_err());
    }
}
