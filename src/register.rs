//! Creating users: open registration (`POST /register`) and Synapse's shared-secret
//! registration. Neither exists when an OAuth 2.0 server (MAS) is in charge of accounts; there,
//! `mas-cli manage register-user` does the same.

use std::path::Path;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha1::Sha1;
use yaml_rust2::YamlLoader;
use zeroize::Zeroizing;

use crate::answer::Fields;
use crate::client::{Client, Method};
use crate::error::{Error, InputError};
use crate::login::session_from;
use crate::secret::{AccessToken, Password};
use crate::session::Session;
use crate::uia::Stages;

/// A user to create with the shared registration secret.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The user name (localpart), e.g. `bot`.
    pub username: String,
    /// The new user's password.
    pub password: Password,
    /// Make the user a server admin.
    pub admin: bool,
    /// The user's display name.
    pub display_name: Option<String>,
}

/// A strong random password: 24 random bytes, 32 URL-safe characters.
pub fn generate_password() -> Result<Password, Error> {
    let mut bytes = Zeroizing::new([0u8; 24]);
    getrandom::fill(bytes.as_mut()).map_err(|err| {
        Error::Input(InputError {
            problem: format!("the system gave no random bytes ({err})"),
            hint: "give a password with --password".into(),
        })
    })?;
    Ok(Password::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref()),
    ))
}

/// The shared registration secret of a Synapse config file (`homeserver.yaml`): its
/// `registration_shared_secret`, or the content of the file `registration_shared_secret_path`
/// names (without a trailing newline).
pub fn shared_secret_from_synapse_config(path: &Path) -> Result<Password, InputError> {
    let refuse = |problem: String, hint: &str| InputError {
        problem,
        hint: hint.into(),
    };
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|err| {
        refuse(
            format!(
                "the Synapse config {} cannot be read: {err}",
                path.display()
            ),
            "give the path of Synapse's homeserver.yaml",
        )
    })?);
    let documents = YamlLoader::load_from_str(&text).map_err(|err| {
        refuse(
            format!(
                "the Synapse config {} is not valid YAML (line {})",
                path.display(),
                err.marker().line()
            ),
            "give the path of Synapse's homeserver.yaml",
        )
    })?;
    let config = documents.first();
    let key = |name: &str| config.and_then(|doc| doc[name].as_str()).map(str::to_owned);
    if let Some(secret) = key("registration_shared_secret") {
        return Ok(Password::new(secret));
    }
    if let Some(file) = key("registration_shared_secret_path") {
        let secret = std::fs::read_to_string(&file).map_err(|err| {
            refuse(
                format!(
                    "the file {file} named by registration_shared_secret_path cannot be read: {err}"
                ),
                "check the path in homeserver.yaml and its permissions",
            )
        })?;
        return Ok(Password::new(
            secret.trim_end_matches(['\r', '\n']).to_owned(),
        ));
    }
    Err(refuse(
        format!(
            "the Synapse config {} sets neither registration_shared_secret nor registration_shared_secret_path",
            path.display()
        ),
        "shared-secret registration is off on this server: set one of them in homeserver.yaml",
    ))
}

/// A user to create through open registration (`POST /register`).
#[derive(Debug, Clone)]
pub struct OpenRegistration {
    /// The user name (localpart).
    pub username: String,
    /// The new user's password.
    pub password: Password,
    /// A registration token, for servers that require one.
    pub registration_token: Option<Password>,
    /// The display name of the new device.
    pub device_name: Option<String>,
}

impl Client {
    /// Open registration (`POST /_matrix/client/v3/register`), for servers that allow it.
    /// Completes user-interactive authentication when a flow needs nothing but the stages
    /// `m.login.dummy` and `m.login.registration_token` (with a token given); otherwise the result
    /// is [`Error::AuthRequired`] with the flows the server wants (captcha, email, ...).
    ///
    /// Spec: <https://spec.matrix.org/v1.16/client-server-api/#post_matrixclientv3register>
    pub fn register_open(&self, registration: &OpenRegistration) -> Result<Session, Error> {
        let mut body = json!({
            "username": registration.username,
            "password": registration.password.expose(),
        });
        if let Some(name) = &registration.device_name {
            body["initial_device_display_name"] = json!(name);
        }
        let stages = Stages::Registration {
            token: registration.registration_token.as_ref(),
        };
        let answer = self.with_auth(
            &["register"],
            None,
            body,
            &stages,
            &[registration.password.expose()],
        )?;
        session_from(&answer, self.homeserver(), false)
    }

    /// Synapse's shared-secret registration (`/_synapse/admin/v1/register`): fetches a nonce,
    /// signs the registration with HMAC-SHA1 keyed by the secret, and returns the new user's
    /// session (the answer carries an access token).
    ///
    /// Docs: <https://element-hq.github.io/synapse/latest/admin_api/register_api.html>
    pub fn register_with_shared_secret(
        &self,
        secret: &Password,
        registration: &Registration,
    ) -> Result<Session, Error> {
        let path = ["_synapse", "admin", "v1", "register"];
        let answer = self.call(Method::Get, &path, None, None, &[])?;
        let nonce = Fields::new(&answer).string("nonce")?;
        let admin = if registration.admin {
            "admin"
        } else {
            "notadmin"
        };
        let mut mac = Hmac::<Sha1>::new_from_slice(secret.expose().as_bytes())
            .expect("HMAC takes keys of any length");
        for (i, part) in [
            nonce.as_str(),
            &registration.username,
            registration.password.expose(),
            admin,
        ]
        .iter()
        .enumerate()
        {
            if i > 0 {
                mac.update(b"\0");
            }
            mac.update(part.as_bytes());
        }
        let mut body = json!({
            "nonce": nonce,
            "username": registration.username,
            "password": registration.password.expose(),
            "admin": registration.admin,
            "mac": hex::encode(mac.finalize().into_bytes()),
        });
        if let Some(name) = &registration.display_name {
            body["displayname"] = json!(name);
        }
        let answer = self.call(
            Method::Post,
            &path,
            None,
            Some(body),
            &[registration.password.expose(), secret.expose()],
        )?;
        let fields = Fields::new(&answer);
        let user_id = fields.user_id("user_id")?;
        Ok(Session {
            home_server: user_id.server_name().to_owned(),
            device_id: fields.string("device_id")?,
            access_token: AccessToken::new(fields.string("access_token")?),
            user_id,
            homeserver: self.homeserver().to_owned(),
            refresh_token: None,
            expires_at: None,
            oauth: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_comes_from_the_config_or_the_file_it_names() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let inline = dir.path().join("inline.yaml");
        std::fs::write(
            &inline,
            "server_name: x\nregistration_shared_secret: \"s3cret\"\n",
        )
        .expect("write");
        assert_eq!(
            shared_secret_from_synapse_config(&inline)
                .expect("found")
                .expose(),
            "s3cret"
        );

        let secret_file = dir.path().join("secret");
        std::fs::write(&secret_file, "from-file\n").expect("write");
        let by_path = dir.path().join("by_path.yaml");
        std::fs::write(
            &by_path,
            format!(
                "registration_shared_secret_path: {}\n",
                secret_file.display()
            ),
        )
        .expect("write");
        assert_eq!(
            shared_secret_from_synapse_config(&by_path)
                .expect("found")
                .expose(),
            "from-file"
        );

        let none = dir.path().join("none.yaml");
        std::fs::write(&none, "server_name: x\n").expect("write");
        let err = shared_secret_from_synapse_config(&none).expect_err("no secret");
        assert!(err.problem.contains("sets neither"), "{err}");

        let broken = dir.path().join("broken.yaml");
        std::fs::write(&broken, "a: [\n").expect("write");
        assert!(
            shared_secret_from_synapse_config(&broken)
                .expect_err("not YAML")
                .problem
                .contains("not valid YAML")
        );
    }

    #[test]
    fn generated_passwords_are_long_and_different() {
        let a = generate_password().expect("random");
        let b = generate_password().expect("random");
        assert_eq!(a.expose().len(), 32);
        assert_ne!(a.expose(), b.expose());
        assert!(
            a.expose()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }
}
