//! Entry points for the fuzz targets in `fuzz/`, in one place: each reads input as if it came from
//! a homeserver, a well-known document or a browser. Not part of the stable API.

use crate::answer::{Answer, UiaChallenge, matrix_error};
use crate::devices::devices_from;
use crate::error::Error;
use crate::login::{LoginFlow, flows_from, session_from, whoami_from};
use crate::session::{Device, Session, WhoAmI};

fn answer(status: u16, body: &[u8]) -> Result<Answer, Error> {
    let url = "https://hs.example/_matrix/client/v3/x".to_owned();
    let answer = Answer::parse(url, status, None, None, body, &["secret"])?;
    if (200..300).contains(&answer.status) {
        Ok(answer)
    } else {
        let retry_after = answer.retry_after.clone();
        Err(matrix_error(answer, retry_after.as_deref()))
    }
}

/// A login answer.
pub fn login(status: u16, body: &[u8]) -> Result<Session, Error> {
    session_from(&answer(status, body)?, "https://hs.example", false)
}

/// A whoami answer.
pub fn whoami(status: u16, body: &[u8]) -> Result<WhoAmI, Error> {
    whoami_from(&answer(status, body)?)
}

/// A devices answer.
pub fn devices(status: u16, body: &[u8]) -> Result<Vec<Device>, Error> {
    devices_from(&answer(status, body)?)
}

/// A login-flows answer.
pub fn flows(status: u16, body: &[u8]) -> Result<Vec<LoginFlow>, Error> {
    flows_from(&answer(status, body)?)
}

/// An error answer, with a `Retry-After` header.
pub fn error(status: u16, retry_after: Option<&str>, body: &[u8]) -> Error {
    let url = "https://hs.example/_matrix/client/v3/x".to_owned();
    match Answer::parse(url, status, None, retry_after.map(str::to_owned), body, &[]) {
        Ok(answer) => {
            let retry_after = answer.retry_after.clone();
            matrix_error(answer, retry_after.as_deref())
        }
        Err(err) => err,
    }
}

/// A user-interactive authentication challenge.
pub fn challenge(status: u16, body: &[u8]) -> Option<Vec<Vec<String>>> {
    let url = "https://hs.example/_matrix/client/v3/x".to_owned();
    let answer = Answer::parse(url, status, None, None, body, &[]).ok()?;
    UiaChallenge::from_answer(&answer).map(|challenge| challenge.flows)
}

/// A `/.well-known/matrix/client` document: the homeserver and identity server it names, or why
/// it is refused.
pub fn well_known(body: &[u8]) -> Result<(String, Option<String>), String> {
    crate::discovery::read_well_known(body, false).map_err(|(_, problem)| problem)
}

/// A request to the single sign-on listener: the login token it hands over, if it does.
pub fn sso_callback(head: &[u8], expected_nonce: &str) -> Option<String> {
    use crate::loopback::{Arrival, Verdict, read_request};
    match read_request(head) {
        Arrival::Callback(params) => match crate::sso::judge(&params, expected_nonce) {
            Verdict::Done(token, _) => Some(token.reveal().to_owned()),
            Verdict::Rejected(_) => None,
        },
        _ => None,
    }
}

/// A request to the OAuth 2.0 browser sign-in's listener: the code it hands over, if it does (an
/// error answer or a callback without a code ends the sign-in without one).
pub fn oauth_callback(head: &[u8], expected_state: &str) -> Option<String> {
    use crate::loopback::{Arrival, Verdict, read_request};
    match read_request(head) {
        Arrival::Callback(params) => {
            match crate::oauth::authorization_code::judge(&params, expected_state) {
                Verdict::Done(Ok(code), _) => Some(code.reveal().to_owned()),
                _ => None,
            }
        }
        _ => None,
    }
}
