//! OAuth 2.0 login (the spec's "OAuth 2.0 API", v1.15 on): what the server's authorization
//! server offers. The homeserver names it in `GET /_matrix/client/v1/auth_metadata`; a server that
//! answers there has its accounts run by an OAuth 2.0 server such as
//! matrix-authentication-service (MAS), and clients should log in through it.
//!
//! Spec: <https://spec.matrix.org/v1.18/client-server-api/#server-metadata-discovery>

pub(crate) mod authorization_code;
mod grant;

pub use crate::session::OAuthClient;
pub use authorization_code::{BrowserSignIn, LOOPBACK_REDIRECT_URI};
pub use grant::{
    API_SCOPE, ClientMetadata, DeviceAuthorization, DevicePoll, MIN_DEVICE_ID_LEN, OAuthTokens,
    TokenKind, device_scope, new_device_id,
};

use crate::answer::{Answer, Fields};
use crate::client::{Client, Method};
use crate::error::{Error, ErrorCode};
use crate::ids::http_allowed;

/// The grant type of the device authorization grant (RFC 8628, spec v1.18).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The account management action that lists the user's devices.
pub const ACTION_DEVICES_LIST: &str = "org.matrix.devices_list";

/// The account management action that deletes one device (with `device_id`).
pub const ACTION_DEVICE_DELETE: &str = "org.matrix.device_delete";

/// The authorization server's metadata, checked against what the spec requires of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthMetadata {
    /// Who issues the tokens, e.g. `https://auth.example.org/`.
    pub issuer: String,
    /// Where the browser is sent to sign in (authorization code grant).
    pub authorization_endpoint: String,
    /// Where codes, device codes and refresh tokens become tokens.
    pub token_endpoint: String,
    /// Where clients register themselves (dynamic client registration).
    pub registration_endpoint: String,
    /// Where tokens are revoked (RFC 7009).
    pub revocation_endpoint: String,
    /// Where a device asks for a user code (RFC 8628), when the server offers that grant.
    pub device_authorization_endpoint: Option<String>,
    /// The user's account page, when the server has one.
    pub account_management_uri: Option<String>,
    /// What the account page can be asked to do (`org.matrix.devices_list`, ...).
    pub account_management_actions_supported: Vec<String>,
    /// The grant types: `authorization_code`, `refresh_token`, and perhaps the device code.
    pub grant_types_supported: Vec<String>,
}

impl AuthMetadata {
    /// Whether the device authorization grant can be used: the grant is listed and its endpoint
    /// named.
    pub fn offers_device_code(&self) -> bool {
        self.device_authorization_endpoint.is_some()
            && self
                .grant_types_supported
                .iter()
                .any(|g| g == DEVICE_CODE_GRANT)
    }

    /// The account page for `action` (and, for one device, `device_id`), when the server has an
    /// account page; the action is asked for only when the server lists it.
    pub fn account_url(&self, action: &str, device_id: Option<&str>) -> Option<String> {
        let mut url = url::Url::parse(self.account_management_uri.as_deref()?).ok()?;
        if self
            .account_management_actions_supported
            .iter()
            .any(|a| a == action)
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("action", action);
            if let Some(device_id) = device_id {
                query.append_pair("device_id", device_id);
            }
        }
        Some(url.into())
    }
}

impl Client {
    /// `GET /_matrix/client/v1/auth_metadata` (or, on servers from before spec v1.15, the
    /// unstable `org.matrix.msc2965` path): the OAuth 2.0 server this homeserver delegates its
    /// logins to, or `None` when it answers neither (it speaks only the legacy `/login` API).
    /// Metadata that lacks what the spec requires is an [`Error::UnexpectedResponse`] naming it.
    pub fn auth_metadata(&self) -> Result<Option<AuthMetadata>, Error> {
        let paths: [&[&str]; 2] = [
            &["_matrix", "client", "v1", "auth_metadata"],
            &[
                "_matrix",
                "client",
                "unstable",
                "org.matrix.msc2965",
                "auth_metadata",
            ],
        ];
        for path in paths {
            match self.call(Method::Get, path, None, None, &[]) {
                Ok(answer) => return metadata_from(&answer, self.allows_http()).map(Some),
                // Not here: a Matrix error, or a proxy's own 404 page.
                Err(Error::Matrix(err))
                    if err.status == 404 || err.errcode == ErrorCode::Unrecognized => {}
                Err(Error::UnexpectedResponse(err)) if err.status == 404 => {}
                Err(err) => return Err(err),
            }
        }
        Ok(None)
    }
}

/// The metadata of an `auth_metadata` answer, checked: every endpoint the spec requires is there
/// and is an https URL (plain http only where the client allows it), and the server supports
/// what a client needs (the `code` response type, the authorization code and refresh grants,
/// PKCE with `S256`, the `query` or `fragment` response mode).
pub(crate) fn metadata_from(answer: &Answer, allow_http: bool) -> Result<AuthMetadata, Error> {
    let fields = Fields::new(answer);
    let url = |name: &str| -> Result<Option<String>, Error> {
        let Some(text) = fields.optional_string(name)? else {
            return Ok(None);
        };
        let parsed = url::Url::parse(&text).map_err(|_| {
            answer.unexpected(format!("the server metadata's `{name}` is not a URL"))
        })?;
        if !matches!(parsed.scheme(), "https" | "http") || !http_allowed(&text, allow_http) {
            return Err(answer.unexpected(format!(
                "the server metadata's `{name}` is not an https URL"
            )));
        }
        Ok(Some(text))
    };
    let required = |name: &str| -> Result<String, Error> {
        url(name)?.ok_or_else(|| answer.unexpected(format!("the server metadata has no `{name}`")))
    };
    let list = |name: &str| -> Result<Vec<String>, Error> { fields.strings(name) };
    let must_hold = |name: &str, values: &[String], wanted: &[&str]| -> Result<(), Error> {
        if wanted.iter().any(|w| values.iter().any(|v| v == w)) {
            return Ok(());
        }
        Err(answer.unexpected(format!(
            "the server metadata's `{name}` holds none of {}",
            wanted.join(", ")
        )))
    };
    let metadata = AuthMetadata {
        issuer: required("issuer")?,
        authorization_endpoint: required("authorization_endpoint")?,
        token_endpoint: required("token_endpoint")?,
        registration_endpoint: required("registration_endpoint")?,
        revocation_endpoint: required("revocation_endpoint")?,
        device_authorization_endpoint: url("device_authorization_endpoint")?,
        account_management_uri: url("account_management_uri")?,
        account_management_actions_supported: list("account_management_actions_supported")?,
        grant_types_supported: list("grant_types_supported")?,
    };
    must_hold(
        "response_types_supported",
        &list("response_types_supported")?,
        &["code"],
    )?;
    for grant in ["authorization_code", "refresh_token"] {
        must_hold(
            "grant_types_supported",
            &metadata.grant_types_supported,
            &[grant],
        )?;
    }
    must_hold(
        "code_challenge_methods_supported",
        &list("code_challenge_methods_supported")?,
        &["S256"],
    )?;
    must_hold(
        "response_modes_supported",
        &list("response_modes_supported")?,
        &["query", "fragment"],
    )?;
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value as JsonValue, json};

    use super::*;

    /// A JSON answer as the metadata reader sees it, for the unit tests and the fuzz target.
    fn answer_of(body: JsonValue) -> Answer {
        Answer {
            url: "https://hs.example/_matrix/client/v1/auth_metadata".into(),
            status: 200,
            content_type: Some("application/json".into()),
            retry_after: None,
            object: body.as_object().cloned().unwrap_or_default(),
        }
    }

    /// What MAS 1.22 answers, trimmed to the fields that matter.
    fn mas_like() -> JsonValue {
        json!({
            "issuer": "https://auth.example.org/",
            "account_management_uri": "https://auth.example.org/account/",
            "account_management_actions_supported": [
                "org.matrix.profile", "org.matrix.devices_list", "org.matrix.device_view",
                "org.matrix.device_delete"
            ],
            "authorization_endpoint": "https://auth.example.org/authorize",
            "token_endpoint": "https://auth.example.org/oauth2/token",
            "registration_endpoint": "https://auth.example.org/oauth2/registration",
            "revocation_endpoint": "https://auth.example.org/oauth2/revoke",
            "device_authorization_endpoint": "https://auth.example.org/oauth2/device",
            "response_types_supported": ["code", "id_token", "code id_token"],
            "response_modes_supported": ["form_post", "query", "fragment"],
            "grant_types_supported": [
                "authorization_code", "refresh_token", "client_credentials",
                "urn:ietf:params:oauth:grant-type:device_code"
            ],
            "code_challenge_methods_supported": ["plain", "S256"],
        })
    }

    fn problem(body: JsonValue) -> String {
        match metadata_from(&answer_of(body), false) {
            Err(Error::UnexpectedResponse(err)) => err.problem,
            other => panic!("should be refused: {other:?}"),
        }
    }

    #[test]
    fn mas_metadata_is_read() {
        let metadata = metadata_from(&answer_of(mas_like()), false).expect("valid");
        assert_eq!(metadata.issuer, "https://auth.example.org/");
        assert!(metadata.offers_device_code());
        assert_eq!(
            metadata
                .account_url(ACTION_DEVICE_DELETE, Some("ABCDEFGHIJ"))
                .as_deref(),
            Some(
                "https://auth.example.org/account/?action=org.matrix.device_delete&device_id=ABCDEFGHIJ"
            )
        );
    }

    #[test]
    fn an_action_the_server_does_not_list_is_not_asked_for() {
        let mut body = mas_like();
        body["account_management_actions_supported"] = json!([]);
        let metadata = metadata_from(&answer_of(body), false).expect("valid");
        assert_eq!(
            metadata.account_url(ACTION_DEVICES_LIST, None).as_deref(),
            Some("https://auth.example.org/account/")
        );
    }

    #[test]
    fn metadata_without_what_the_spec_requires_is_refused() {
        let mut body = mas_like();
        body.as_object_mut().unwrap().remove("token_endpoint");
        assert_eq!(problem(body), "the server metadata has no `token_endpoint`");
        let mut body = mas_like();
        body["code_challenge_methods_supported"] = json!(["plain"]);
        assert_eq!(
            problem(body),
            "the server metadata's `code_challenge_methods_supported` holds none of S256"
        );
        let mut body = mas_like();
        body["token_endpoint"] = json!("http://auth.example.org/oauth2/token");
        assert_eq!(
            problem(body),
            "the server metadata's `token_endpoint` is not an https URL"
        );
        let mut body = mas_like();
        body["grant_types_supported"] = json!(["authorization_code"]);
        assert!(problem(body).contains("refresh_token"));
    }

    #[test]
    fn without_the_device_grant_only_the_browser_is_offered() {
        let mut body = mas_like();
        body.as_object_mut()
            .unwrap()
            .remove("device_authorization_endpoint");
        let metadata = metadata_from(&answer_of(body), false).expect("valid");
        assert!(!metadata.offers_device_code());
    }
}
