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
        self.request_url(token, method, url, body)
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
    fn api_url(&self, path: &str, query: &[(String, String)]) -> Result<String, Error> {
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
        Ok(url.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_are_encoded_per_segment() {
        let client = Client::new("http://127.0.0.1:8008").unwrap();
        let url = client
            .api_url("directory/room/#ops:example.org", &[])
            .unwrap();
        assert_eq!(
            url,
            "http://127.0.0.1:8008/_matrix/client/v3/directory/room/%23ops:example.org"
        );
        let url = client
            .api_url(
                "/_synapse/admin/v2/users/@bot:example.org",
                &[("a b".into(), "c&d".into())],
            )
            .unwrap();
        assert_eq!(
            url,
            "http://127.0.0.1:8008/_synapse/admin/v2/users/@bot:example.org?a+b=c%26d"
        );
        let url = client
            .api_url("rooms/!r:x/send/m.room.message/t?1", &[])
            .unwrap();
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
                .unwrap(),
            "http://127.0.0.1:8008/matrix/_synapse/admin/v1/server_version"
        );
        assert!(client.api_url("https://evil.example/x", &[]).is_err());
    }
}
