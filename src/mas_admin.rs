//! MAS's admin API (matrix-authentication-service 1.5 on): users, their passwords, and
//! **personal sessions**, which give a user a personal access token (`mpt_…`) with a name, scopes
//! and an optional expiry: what a bot needs on a homeserver whose accounts MAS runs, where
//! Synapse's own admin API and shared-secret registration are gone.
//!
//! The API lives at `<issuer>api/admin/v1/` (where MAS's `adminapi` resource is on a listener)
//! and takes a token with the `urn:mas:admin` scope: a user's OAuth 2.0 session that asked for it
//! (MAS's policy lets the users listed in `policy.data.admin_users` do so), or a client's.
//!
//! ```no_run
//! use nu_plugin_matrix::Client;
//! use nu_plugin_matrix::mas_admin::{MasAdmin, NewPersonalSession};
//! # fn main() -> Result<(), nu_plugin_matrix::Error> {
//! # let (client, admin_token) = (Client::new("https://matrix.example.org")?, todo!());
//! let metadata = client.auth_metadata()?.expect("accounts run by MAS");
//! let admin = MasAdmin::new(&metadata, admin_token)?;
//! let bot = client.mas_user(&admin, "bot")?.expect("the user exists");
//! let issued = client.mas_issue_token(&admin, &NewPersonalSession::for_client_api(&bot.id, "ops bot", "BOTDEVICE01"))?;
//! # Ok(()) }
//! ```
//!
//! API: <https://element-hq.github.io/matrix-authentication-service/api/>

use serde_json::{Map, Value as JsonValue, json};

use crate::AuthMetadata;
use crate::answer::Raw;
use crate::client::{Client, Method};
use crate::error::{Error, MasAdminError};
use crate::oauth::{API_SCOPE, device_scope};
use crate::secret::{AccessToken, Password};

/// The scope a token needs for the admin API.
pub const ADMIN_SCOPE: &str = "urn:mas:admin";

/// How many personal sessions one page of the list asks for.
const PAGE: usize = 100;

/// Where MAS's admin API is, and the token that may use it.
#[derive(Debug, Clone)]
pub struct MasAdmin {
    /// `<issuer>api/admin/v1/`.
    base: url::Url,
    token: AccessToken,
}

impl MasAdmin {
    /// The admin API of the OAuth 2.0 server `metadata` describes, used with `token`.
    pub fn new(metadata: &AuthMetadata, token: AccessToken) -> Result<Self, Error> {
        Self::for_issuer(&metadata.issuer, token)
    }

    /// The admin API under the issuer `issuer` (`https://auth.example.org/`), used with `token`.
    pub fn for_issuer(issuer: &str, token: AccessToken) -> Result<Self, Error> {
        let mut issuer = issuer.to_owned();
        if !issuer.ends_with('/') {
            issuer.push('/');
        }
        Self::at(&format!("{issuer}api/admin/v1/"), token)
    }

    /// The admin API at `base` (`https://auth.example.org/api/admin/v1/`), for a deployment that
    /// serves it elsewhere than under the issuer.
    pub fn at(base: &str, token: AccessToken) -> Result<Self, Error> {
        let mut base = url::Url::parse(base).map_err(|_| {
            Error::Input(crate::error::InputError::new(
                format!("'{base}' is not a URL"),
                "give the admin API's address, e.g. https://auth.example.org/api/admin/v1/",
            ))
        })?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(Self { base, token })
    }

    /// The API's address, ending in `/`.
    pub fn base(&self) -> &str {
        self.base.as_str()
    }

    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> String {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("http(s) URLs have a path")
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url.into()
    }
}

/// A user as MAS knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasUser {
    /// MAS's ID of the user (a ULID), which the other calls take.
    pub id: String,
    /// The localpart.
    pub username: String,
    /// When it was locked, if it is.
    pub locked_at: Option<String>,
    /// Whether it may ask for the admin scope.
    pub admin: bool,
}

/// A personal session: a named grant of scopes to act as a user, with its token.
#[derive(Debug, Clone)]
pub struct PersonalSession {
    /// Its ID (a ULID): what revoking takes.
    pub id: String,
    /// Its name.
    pub name: String,
    /// MAS's ID of the user it acts as.
    pub actor_user_id: String,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// When it was made, when its token expires, was last used, was revoked (RFC 3339).
    pub created_at: String,
    /// When its token expires; `None`: never.
    pub expires_at: Option<String>,
    /// When it was last used.
    pub last_active_at: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
    /// The personal access token (`mpt_…`): only in the answer that made it.
    pub access_token: Option<AccessToken>,
}

/// What a new personal session is for.
#[derive(Debug, Clone)]
pub struct NewPersonalSession {
    /// MAS's ID of the user it acts as.
    pub actor_user_id: String,
    /// Its name, as lists show it.
    pub name: String,
    /// The scopes, space-separated.
    pub scope: String,
    /// Seconds until its token expires; `None`: never.
    pub expires_in: Option<u64>,
}

impl NewPersonalSession {
    /// A session for the client API as the device `device_id`, that does not expire.
    pub fn for_client_api(actor_user_id: &str, name: &str, device_id: &str) -> Self {
        Self {
            actor_user_id: actor_user_id.to_owned(),
            name: name.to_owned(),
            scope: format!("{API_SCOPE} {}", device_scope(device_id)),
            expires_in: None,
        }
    }
}

impl Client {
    /// One call of the admin API: the `data` of a 2xx answer (`None` for an empty one), or the
    /// error the API gave.
    fn mas_admin(
        &self,
        admin: &MasAdmin,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<JsonValue>,
        secrets: &[&str],
    ) -> Result<Option<JsonValue>, Error> {
        let url = admin.url(segments, query);
        let raw = self.send_to(method, &url, &admin.token, body)?;
        let mut scrub = secrets.to_vec();
        scrub.push(admin.token.reveal());
        if !(200..300).contains(&raw.status()) {
            return Err(admin_error(&raw, &scrub));
        }
        if raw.body_is_empty() {
            return Ok(None);
        }
        let answer = raw.parse(&scrub)?;
        match answer.object.get("data") {
            Some(data) => Ok(Some(data.clone())),
            None => Err(answer.unexpected("the answer has no `data`")),
        }
    }

    /// The Matrix server name MAS runs the accounts of (`GET site-config`).
    pub fn mas_server_name(&self, admin: &MasAdmin) -> Result<String, Error> {
        let url = admin.url(&["site-config"], &[]);
        let raw = self.send_to(Method::Get, &url, &admin.token, None)?;
        let scrub = [admin.token.reveal()];
        if !(200..300).contains(&raw.status()) {
            return Err(admin_error(&raw, &scrub));
        }
        let answer = raw.parse(&scrub)?;
        match answer.object.get("server_name").and_then(JsonValue::as_str) {
            Some(name) => Ok(name.to_owned()),
            None => Err(answer.unexpected("the site configuration has no `server_name`")),
        }
    }

    /// The user `username` (a localpart), or `None` when MAS has none by that name.
    pub fn mas_user(&self, admin: &MasAdmin, username: &str) -> Result<Option<MasUser>, Error> {
        let segments = ["users", "by-username", username];
        match self.mas_admin(admin, Method::Get, &segments, &[], None, &[]) {
            Ok(data) => user_from(&admin.url(&segments, &[]), data).map(Some),
            Err(Error::MasAdmin(err)) if err.status == 404 && err.title.is_some() => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The user MAS knows as `id`.
    pub fn mas_user_by_id(&self, admin: &MasAdmin, id: &str) -> Result<MasUser, Error> {
        let segments = ["users", id];
        let data = self.mas_admin(admin, Method::Get, &segments, &[], None, &[])?;
        user_from(&admin.url(&segments, &[]), data)
    }

    /// Creates the user `username` (MAS asks the homeserver whether the name is free; it then
    /// provisions the user there in the background).
    pub fn mas_create_user(&self, admin: &MasAdmin, username: &str) -> Result<MasUser, Error> {
        let body = json!({ "username": username });
        let data = self.mas_admin(admin, Method::Post, &["users"], &[], Some(body), &[])?;
        user_from(&admin.url(&["users"], &[]), data)
    }

    /// Sets the password of the user MAS knows as `user_id` (its password policy applies).
    pub fn mas_set_password(
        &self,
        admin: &MasAdmin,
        user_id: &str,
        password: &Password,
    ) -> Result<(), Error> {
        let body = json!({ "password": password.expose() });
        let segments = ["users", user_id, "set-password"];
        self.mas_admin(
            admin,
            Method::Post,
            &segments,
            &[],
            Some(body),
            &[password.expose()],
        )
        .map(drop)
    }

    /// Makes the user MAS knows as `user_id` an admin of MAS (or not): one that may ask for the
    /// admin scope where MAS's policy looks at it.
    pub fn mas_set_admin(
        &self,
        admin: &MasAdmin,
        user_id: &str,
        is_admin: bool,
    ) -> Result<(), Error> {
        let segments = ["users", user_id, "set-admin"];
        let body = json!({ "admin": is_admin });
        self.mas_admin(admin, Method::Post, &segments, &[], Some(body), &[])
            .map(drop)
    }

    /// Makes a personal session, and its token.
    pub fn mas_issue_token(
        &self,
        admin: &MasAdmin,
        new: &NewPersonalSession,
    ) -> Result<PersonalSession, Error> {
        let mut body = json!({
            "actor_user_id": new.actor_user_id,
            "human_name": new.name,
            "scope": new.scope,
        });
        if let Some(seconds) = new.expires_in {
            body["expires_in"] = json!(seconds);
        }
        let segments = ["personal-sessions"];
        let data = self.mas_admin(admin, Method::Post, &segments, &[], Some(body), &[])?;
        session_from(&admin.url(&segments, &[]), data.as_ref())
    }

    /// The personal sessions, of the user MAS knows as `actor_user_id` or of everyone, oldest
    /// first, revoked ones too (page after page).
    pub fn mas_personal_sessions(
        &self,
        admin: &MasAdmin,
        actor_user_id: Option<&str>,
    ) -> Result<Vec<PersonalSession>, Error> {
        let segments = ["personal-sessions"];
        let url = admin.url(&segments, &[]);
        let size = PAGE.to_string();
        let mut sessions: Vec<PersonalSession> = Vec::new();
        loop {
            let mut query = vec![("page[first]", size.as_str())];
            if let Some(actor) = actor_user_id {
                query.push(("filter[actor_user]", actor));
            }
            let after = sessions.last().map(|last| last.id.clone());
            if let Some(after) = &after {
                query.push(("page[after]", after));
            }
            let data = self.mas_admin(admin, Method::Get, &segments, &query, None, &[])?;
            let page = match data {
                Some(JsonValue::Array(items)) => items,
                _ => return Err(unexpected(&url, "the list is not a list")),
            };
            let count = page.len();
            for item in &page {
                sessions.push(session_from(&url, Some(item))?);
            }
            if count < PAGE {
                return Ok(sessions);
            }
        }
    }

    /// Revokes the personal session `id`: its token stops working.
    pub fn mas_revoke_personal_session(
        &self,
        admin: &MasAdmin,
        id: &str,
    ) -> Result<PersonalSession, Error> {
        let segments = ["personal-sessions", id, "revoke"];
        let data = self.mas_admin(admin, Method::Post, &segments, &[], None, &[])?;
        session_from(&admin.url(&segments, &[]), data.as_ref())
    }
}

/// The error of a non-2xx answer: the first `errors[].title`, when the body has one.
fn admin_error(raw: &Raw, scrub: &[&str]) -> Error {
    let title = raw.parse(scrub).ok().and_then(|answer| {
        answer
            .object
            .get("errors")?
            .get(0)?
            .get("title")?
            .as_str()
            .map(str::to_owned)
    });
    Error::MasAdmin(MasAdminError {
        url: raw.url().to_owned(),
        status: raw.status(),
        title,
    })
}

fn unexpected(url: &str, problem: &str) -> Error {
    Error::UnexpectedResponse(crate::error::UnexpectedResponse {
        url: url.to_owned(),
        status: 200,
        content_type: Some("application/json".into()),
        problem: problem.to_owned(),
        excerpt: String::new(),
    })
}

/// The `id` and `attributes` of a resource.
fn resource<'a>(
    url: &str,
    data: Option<&'a JsonValue>,
) -> Result<(String, &'a Map<String, JsonValue>), Error> {
    let id = data
        .and_then(|data| data.get("id"))
        .and_then(JsonValue::as_str);
    let attributes = data
        .and_then(|data| data.get("attributes"))
        .and_then(JsonValue::as_object);
    match (id, attributes) {
        (Some(id), Some(attributes)) => Ok((id.to_owned(), attributes)),
        _ => Err(unexpected(url, "the resource has no `id` or `attributes`")),
    }
}

fn text(attributes: &Map<String, JsonValue>, name: &str) -> Option<String> {
    attributes.get(name)?.as_str().map(str::to_owned)
}

fn user_from(url: &str, data: Option<JsonValue>) -> Result<MasUser, Error> {
    let (id, attributes) = resource(url, data.as_ref())?;
    Ok(MasUser {
        id,
        username: text(attributes, "username")
            .ok_or_else(|| unexpected(url, "the user has no `username`"))?,
        locked_at: text(attributes, "locked_at"),
        admin: attributes
            .get("admin")
            .and_then(JsonValue::as_bool)
            .unwrap_or(false),
    })
}

fn session_from(url: &str, data: Option<&JsonValue>) -> Result<PersonalSession, Error> {
    let (id, attributes) = resource(url, data)?;
    let required = |name: &str| {
        text(attributes, name)
            .ok_or_else(|| unexpected(url, &format!("the personal session has no `{name}`")))
    };
    Ok(PersonalSession {
        name: required("human_name")?,
        actor_user_id: required("actor_user_id")?,
        scope: required("scope")?,
        created_at: required("created_at")?,
        expires_at: text(attributes, "expires_at"),
        last_active_at: text(attributes, "last_active_at"),
        revoked_at: text(attributes, "revoked_at"),
        access_token: text(attributes, "access_token").map(AccessToken::new),
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_is_under_the_issuer_and_segments_are_encoded() {
        let admin = MasAdmin::at(
            "https://auth.example.org/api/admin/v1",
            AccessToken::new("t".to_owned()),
        )
        .expect("a URL");
        assert_eq!(admin.base(), "https://auth.example.org/api/admin/v1/");
        assert_eq!(
            admin.url(&["users", "by-username", "a/b"], &[]),
            "https://auth.example.org/api/admin/v1/users/by-username/a%2Fb"
        );
        assert_eq!(
            admin.url(&["personal-sessions"], &[("page[first]", "100")]),
            "https://auth.example.org/api/admin/v1/personal-sessions?page%5Bfirst%5D=100"
        );
    }

    #[test]
    fn a_personal_session_is_read_and_its_token_kept_secret() {
        let data = json!({"type": "personal-session", "id": "01J", "attributes": {
            "created_at": "2026-11-29T20:00:00Z", "revoked_at": null, "actor_user_id": "01U",
            "human_name": "ops bot", "scope": "urn:matrix:client:api:*",
            "last_active_at": null, "expires_at": null, "access_token": "mpt_secret_0001"}});
        let session = session_from("u", Some(&data)).expect("read");
        assert_eq!(session.id, "01J");
        assert_eq!(session.name, "ops bot");
        assert_eq!(session.expires_at, None);
        assert_eq!(
            session.access_token.as_ref().map(AccessToken::reveal),
            Some("mpt_secret_0001")
        );
        assert!(!format!("{session:?}").contains("mpt_secret_0001"));
        assert!(session_from("u", Some(&json!({"id": "x"}))).is_err());
    }
}
