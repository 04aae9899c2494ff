//! Media: uploading a file, downloading one by its `mxc://` URL, and the server's upload limit.
//! Downloads and the limit go through the authenticated media API (spec v1.11,
//! `/_matrix/client/v1/media/…`, with the access token), and fall back to the legacy
//! `/_matrix/media/v3/…` only on a server that does not know the new endpoints. Uploads have
//! one endpoint in every version (`/_matrix/media/v3/upload`).

use std::sync::Arc;

use serde_json::Value as JsonValue;

use crate::client::{Client, Method};
use crate::error::{Error, ErrorCode, InputError};
use crate::http::Body;
use crate::secret::AccessToken;

/// The most bytes of a download read when the server states no upload limit.
pub const MAX_DOWNLOAD_BYTES: u64 = 512 * 1024 * 1024;

/// What the server says of its media (`GET /media/config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MediaConfig {
    /// The largest upload it takes, in bytes, if it says.
    pub upload_size: Option<u64>,
}

/// An `mxc://<server>/<media id>` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mxc {
    /// The server that has it.
    pub server: String,
    /// Its ID there.
    pub media_id: String,
}

impl Mxc {
    /// Parses `mxc://server/media_id` by the spec's grammar: a server name (a host name, an
    /// IPv4 or bracketed IPv6 address, an optional port) and a media ID of letters, digits,
    /// `_` and `-`. Anything else (`mxc://../x`, `mxc://%2e%2e/abc`) is refused.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = || {
            Error::Input(InputError::new(
                format!("'{text}' is not an mxc:// URL"),
                "give the url column of a row with media (mxc://example.org/AbCdEf), or pipe \
                 the row",
            ))
        };
        let rest = text.strip_prefix("mxc://").ok_or_else(bad)?;
        let (server, media_id) = rest.split_once('/').ok_or_else(bad)?;
        let id_ok = !media_id.is_empty()
            && media_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        // The spec's server name; and never a dot segment (`..`), which a URL would drop.
        let server_ok = crate::ids::check_server_name(server).is_ok()
            && server.contains(|c: char| c.is_ascii_alphanumeric());
        if !server_ok {
            return Err(Error::Input(InputError::new(
                format!("'{text}' names no server ('{server}' is not a server name)"),
                "an mxc:// URL is mxc://<server name>/<media ID>, e.g. mxc://example.org/AbCdEf",
            )));
        }
        if !id_ok {
            return Err(bad());
        }
        Ok(Self {
            server: server.to_owned(),
            media_id: media_id.to_owned(),
        })
    }
}

impl std::fmt::Display for Mxc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mxc://{}/{}", self.server, self.media_id)
    }
}

/// A file downloaded: its bytes and the content type the server gave.
#[derive(Debug, Clone)]
pub struct Downloaded {
    /// The file's bytes (of an encrypted attachment: the ciphertext).
    pub bytes: Vec<u8>,
    /// Its `Content-Type`, as the server gave it.
    pub content_type: Option<String>,
}

/// Whether an error says the server does not have an endpoint (not that the media is missing).
fn unknown_endpoint(err: &Error) -> bool {
    match err {
        Error::Matrix(err) => err.errcode == ErrorCode::Unrecognized || err.status == 405,
        Error::UnexpectedResponse(err) => matches!(err.status, 404 | 405),
        _ => false,
    }
}

impl Client {
    /// `GET /_matrix/client/v1/media/config` (the legacy `/_matrix/media/v3/config` on a server
    /// without it): the largest upload the server takes.
    pub fn media_config(&self, token: &AccessToken) -> Result<MediaConfig, Error> {
        let get = |segments: &[&str]| -> Result<JsonValue, Error> {
            let url = self.url_of(false, segments.iter().copied());
            let raw = self.call_bytes(Method::Get, url.as_str(), token, None, 64 * 1024)?;
            Ok(JsonValue::Object(raw.parse(&[])?.object))
        };
        let answer = match get(&["_matrix", "client", "v1", "media", "config"]) {
            Err(err) if unknown_endpoint(&err) => get(&["_matrix", "media", "v3", "config"])?,
            other => other?,
        };
        Ok(MediaConfig {
            upload_size: answer["m.upload.size"].as_u64(),
        })
    }

    /// `POST /_matrix/media/v3/upload`: uploads `bytes` of `content_type` (named `filename`
    /// for those who download it); returns its `mxc://` URL. Not repeated after a lost answer
    /// (a repeat would upload it twice).
    pub fn upload(
        &self,
        token: &AccessToken,
        bytes: Arc<[u8]>,
        content_type: &str,
        filename: Option<&str>,
    ) -> Result<String, Error> {
        let mut url = self.url_of(false, ["_matrix", "media", "v3", "upload"]);
        if let Some(filename) = filename {
            url.query_pairs_mut().append_pair("filename", filename);
        }
        let body = Body::Bytes {
            content_type: content_type.to_owned(),
            bytes,
        };
        let raw = self.call_bytes(Method::Post, url.as_str(), token, Some(body), 64 * 1024)?;
        let answer = raw.parse(&[])?;
        answer
            .object
            .get("content_uri")
            .and_then(JsonValue::as_str)
            .map(str::to_owned)
            .ok_or_else(|| answer.unexpected("the field `content_uri` is missing"))
    }

    /// `GET /_matrix/client/v1/media/download/{serverName}/{mediaId}` (the legacy
    /// `/_matrix/media/v3/download/…` on a server without it): the file, up to `limit` bytes.
    pub fn download(
        &self,
        token: &AccessToken,
        mxc: &Mxc,
        limit: u64,
    ) -> Result<Downloaded, Error> {
        let get = |prefix: &[&str]| -> Result<Downloaded, Error> {
            let segments = prefix
                .iter()
                .copied()
                .chain([mxc.server.as_str(), mxc.media_id.as_str()]);
            let url = self.url_of(false, segments);
            let raw = self.call_bytes(Method::Get, url.as_str(), token, None, limit)?;
            Ok(Downloaded {
                content_type: raw.content_type.clone(),
                bytes: raw.into_body(),
            })
        };
        match get(&["_matrix", "client", "v1", "media", "download"]) {
            Err(err) if unknown_endpoint(&err) => get(&["_matrix", "media", "v3", "download"]),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mxc_urls_are_checked() {
        let mxc = Mxc::parse("mxc://localhost/AbC_d-9").unwrap();
        assert_eq!(
            (mxc.server.as_str(), mxc.media_id.as_str()),
            ("localhost", "AbC_d-9")
        );
        assert_eq!(mxc.to_string(), "mxc://localhost/AbC_d-9");
        for good in [
            "mxc://matrix.example.org:8448/x",
            "mxc://[::1]:8008/x",
            "mxc://127.0.0.1/x",
        ] {
            assert!(Mxc::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "https://x/y",
            "mxc://x",
            "mxc:///y",
            "mxc://x/../y",
            "mxc://x/a b",
            "mxc://x/",
            "mxc://../x",
            "mxc://./x",
            "mxc://%2e%2e/abc",
            "mxc://ex ample.org/abc",
            "mxc://example.org:99999/abc",
            "mxc://example.org/a%2e",
        ] {
            assert!(Mxc::parse(bad).is_err(), "{bad}");
        }
    }
}
