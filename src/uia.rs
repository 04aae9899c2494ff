//! User-interactive authentication: the one stage driver behind device deletion, login tokens and
//! open registration.
//!
//! The server answers a request with a 401 that lists flows (each a list of stages) and a
//! session. The driver picks the first flow made only of stages it can answer ([`Stages`]),
//! sends the next stage not yet completed, and repeats until the server answers the request. A
//! stage the server did not accept (a wrong password or registration token) ends it with the
//! server's error; a server that wants stages nobody here can answer (captcha, email, `m.oauth`)
//! ends it with [`Error::AuthRequired`] and the flows it offers.
//!
//! Spec: <https://spec.matrix.org/v1.16/client-server-api/#user-interactive-authentication-api>

use serde_json::{Value as JsonValue, json};

use crate::answer::{Answer, UiaChallenge, matrix_error};
use crate::client::{Client, Method};
use crate::error::Error;
use crate::ids::UserId;
use crate::secret::{AccessToken, Password};

/// The stage type of a password.
pub(crate) const PASSWORD_STAGE: &str = "m.login.password";
/// The stage that needs nothing (open registration).
const DUMMY_STAGE: &str = "m.login.dummy";
/// The stage of a registration token.
const TOKEN_STAGE: &str = "m.login.registration_token";

/// True when a password alone completes one of these flows: the only case a password can answer
/// for [`Client::delete_devices`] and [`Client::login_token`] (others end in
/// [`Error::AuthRequired`]).
pub fn password_completes(flows: &[Vec<String>]) -> bool {
    flows
        .iter()
        .any(|flow| flow.len() == 1 && flow[0] == PASSWORD_STAGE)
}

/// What can answer stages: a user's password, or what open registration has.
pub(crate) enum Stages<'a> {
    /// `m.login.password` for this user, when a password was given.
    Password {
        user_id: &'a UserId,
        password: Option<&'a Password>,
    },
    /// `m.login.dummy`, and `m.login.registration_token` when a token was given.
    Registration { token: Option<&'a Password> },
}

impl<'a> Stages<'a> {
    /// The password stage of `user_id`.
    pub(crate) fn password(user_id: &'a UserId, password: Option<&'a Password>) -> Self {
        Self::Password { user_id, password }
    }

    fn answers(&self, stage: &str) -> bool {
        match self {
            Self::Password { password, .. } => stage == PASSWORD_STAGE && password.is_some(),
            Self::Registration { token } => {
                stage == DUMMY_STAGE || (stage == TOKEN_STAGE && token.is_some())
            }
        }
    }

    /// The `auth` object that answers `stage` (one that [`Stages::answers`]).
    fn auth(&self, stage: &str, session: &str) -> JsonValue {
        let mut auth = json!({"type": stage, "session": session});
        match self {
            Self::Password {
                user_id,
                password: Some(password),
            } => {
                auth["identifier"] = json!({"type": "m.id.user", "user": user_id.as_str()});
                auth["password"] = json!(password.expose());
            }
            Self::Registration { token: Some(token) } if stage == TOKEN_STAGE => {
                auth["token"] = json!(token.expose());
            }
            _ => {}
        }
        auth
    }

    /// The secret the answers carry, to keep out of error excerpts.
    fn secret(&self) -> Option<&str> {
        match self {
            Self::Password { password, .. } => password.map(Password::expose),
            Self::Registration { token } => token.map(Password::expose),
        }
    }
}

impl Client {
    /// POSTs `body` to `path` and answers the server's user-interactive authentication with
    /// `stages` until it answers the request itself: its 2xx answer, or why not.
    pub(crate) fn with_auth(
        &self,
        path: &[&str],
        token: Option<&AccessToken>,
        body: JsonValue,
        stages: &Stages<'_>,
        secrets: &[&str],
    ) -> Result<Answer, Error> {
        let mut secrets = secrets.to_vec();
        secrets.extend(stages.secret());
        let mut answer = self.send(Method::Post, path, token, Some(body.clone()), &secrets)?;
        let mut flow: Option<Vec<String>> = None;
        let mut completed_before: Option<usize> = None;
        loop {
            if (200..300).contains(&answer.status) {
                return Ok(answer);
            }
            let Some(challenge) = UiaChallenge::from_answer(&answer) else {
                return Err(matrix_error(answer, None));
            };
            // A stage sent last time that did not complete (a wrong password): report it.
            if completed_before.is_some_and(|before| challenge.completed.len() <= before) {
                return Err(if answer.object.contains_key("errcode") {
                    matrix_error(answer, None)
                } else {
                    answer.unexpected("the server did not accept an authentication stage")
                });
            }
            // The first challenge picks a flow made only of stages that can be answered.
            let chosen = flow.get_or_insert_with(|| {
                challenge
                    .flows
                    .iter()
                    .find(|flow| flow.iter().all(|stage| stages.answers(stage)))
                    .cloned()
                    .unwrap_or_default()
            });
            let Some(next) = chosen
                .iter()
                .find(|stage| !challenge.completed.contains(stage))
            else {
                return Err(Error::AuthRequired {
                    flows: challenge.flows,
                    account_url: challenge.account_url,
                });
            };
            let mut with_auth = body.clone();
            with_auth["auth"] = stages.auth(next, &challenge.session);
            completed_before = Some(challenge.completed.len());
            answer = self.send(Method::Post, path, token, Some(with_auth), &secrets)?;
        }
    }
}
