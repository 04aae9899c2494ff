//! Server-admin calls: Synapse's admin API that logs in as another user. It does not exist when
//! an OAuth 2.0 server (MAS) is in charge of accounts; there, `mas-cli manage
//! issue-compatibility-token` does the same.

use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::answer::Fields;
use crate::client::{Client, Method};
use crate::error::Error;
use crate::ids::UserId;
use crate::secret::AccessToken;
use crate::session::Session;
use crate::unix_ms;

impl Client {
    /// Synapse's admin API `POST /_synapse/admin/v1/users/<user_id>/login`: a token for another
    /// user, on no device, from an admin's token. `valid_for` limits how long it works.
    ///
    /// Docs: <https://element-hq.github.io/synapse/latest/admin_api/user_admin_api.html#login-as-a-user>
    pub fn admin_login_as(
        &self,
        admin_token: &AccessToken,
        user_id: &UserId,
        valid_for: Option<Duration>,
    ) -> Result<Session, Error> {
        let expires_at = valid_for.map(|d| SystemTime::now() + d);
        let body = match expires_at {
            Some(at) => json!({"valid_until_ms": unix_ms::from_time(at)}),
            None => json!({}),
        };
        let path = [
            "_synapse",
            "admin",
            "v1",
            "users",
            user_id.as_str(),
            "login",
        ];
        let answer = self.call(Method::Post, &path, Some(admin_token), Some(body), &[])?;
        Ok(Session {
            user_id: user_id.clone(),
            device_id: String::new(),
            home_server: user_id.server_name().to_owned(),
            homeserver: self.homeserver().to_owned(),
            access_token: AccessToken::new(Fields::new(&answer).string("access_token")?),
            refresh_token: None,
            expires_at,
            oauth: None,
        })
    }
}
