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

    /// The room event that a [`Client::request`] of `method` to `path` would send, read from
    /// the URL exactly as it would go out (dot segments gone, each segment as the server
    /// decodes it, empty segments skipped, any `/_matrix/client/<version>/` prefix): `None`
    /// when it sends none. A guard that keeps cleartext out of encrypted rooms decides on this.
    pub fn event_send_of(&self, method: Method, path: &str) -> Result<Option<EventSend>, Error> {
        if !matches!(method, Method::Put | Method::Post) {
            return Ok(None);
        }
        let url = self.api_url(path, &[])?;
        let base = self.url_of(false, []);
        let skip = base
            .path_segments()
            .map_or(0, |base| base.filter(|segment| !segment.is_empty()).count());
        let segments: Vec<String> = url
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
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        // Under the client API, whatever its version's segments (`v3`, `r0`, `api/v1`, …): the
        // send's own segments end the path.
        let ["_matrix", "client", rest @ ..] = segments.as_slice() else {
            return Ok(None);
        };
        let (send, txn_id) = match rest {
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

/// A path whose room segment is an alias (`rooms/#ops:example.org/invite`, under the client
/// API): the alias, and the path with `room_id` in its place. Endpoints under `/rooms/` take a
/// room ID only, so `matrix api` resolves the alias first, as `matrix send` does.
pub fn alias_in_rooms_path(path: &str) -> Option<(String, impl Fn(&str) -> String + '_)> {
    let trimmed = path.trim();
    let segments: Vec<&str> = trimmed.split('/').collect();
    let at = segments.iter().position(|segment| *segment == "rooms")?;
    let under_client_api = matches!(&segments[..at], [] | ["", "_matrix", "client", ..]);
    let alias = segments
        .get(at + 1)
        .filter(|alias| alias.starts_with('#'))?;
    if !under_client_api {
        return None;
    }
    let replace = move |room_id: &str| {
        let mut segments = trimmed.split('/').collect::<Vec<_>>();
        segments[at + 1] = room_id;
        segments.join("/")
    };
    Some(((*alias).to_owned(), replace))
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
        let (alias, with) = alias_in_rooms_path(" rooms/#ops:x/invite").expect("an alias");
        assert_eq!(alias, "#ops:x");
        assert_eq!(with("!r:x"), "rooms/!r:x/invite");
        let (_, with) = alias_in_rooms_path("/_matrix/client/v3/rooms/#ops:x/state").expect("one");
        assert_eq!(with("!r:x"), "/_matrix/client/v3/rooms/!r:x/state");
        assert!(alias_in_rooms_path("rooms/!r:x/invite").is_none());
        assert!(alias_in_rooms_path("directory/room/#ops:x").is_none());
        assert!(alias_in_rooms_path("/_synapse/admin/v1/rooms/#ops:x").is_none());
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
