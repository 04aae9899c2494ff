//! Reading answers: what came back from one exchange ([`Raw`]), its JSON object ([`Answer`]) and
//! typed access to its fields ([`Fields`]), Matrix error bodies and their retry hints, and the
//! user-interactive-auth challenge. Pure code: nothing here sends a request, so all of it can be
//! fuzzed (the `fuzzing` module holds the entry points).
//!
//! Nothing read here ends up in an error verbatim: fields are named, never quoted, and a non-JSON
//! body is shown only as a short excerpt scrubbed of the request's secrets.

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value as JsonValue};
use zeroize::Zeroizing;

use crate::error::{Error, ErrorCode, MatrixError, OAuthError, UnexpectedResponse};
use crate::ids::UserId;
use crate::secret::AccessToken;

/// An answer as it came, before it is read as JSON.
pub(crate) struct Raw {
    pub(crate) url: String,
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    pub(crate) retry_after: Option<String>,
    /// A redirect's `Location`.
    pub(crate) location: Option<String>,
    pub(crate) body: Zeroizing<Vec<u8>>,
}

impl Raw {
    /// The answer itself, unless it is a redirect: redirects are not followed, so that a
    /// password or token is never sent anywhere but the URL the user gave.
    pub(crate) fn not_redirected(self) -> Result<Self, Error> {
        if !(300..400).contains(&self.status) {
            return Ok(self);
        }
        Err(Error::Redirect {
            url: self.url,
            status: self.status,
            location: self.location,
        })
    }

    /// The answer's JSON object (see [`Answer::parse`]); `scrub` is kept out of excerpts.
    pub(crate) fn parse(&self, scrub: &[&str]) -> Result<Answer, Error> {
        Answer::parse(
            self.url.clone(),
            self.status,
            self.content_type.clone(),
            self.retry_after.clone(),
            &self.body,
            scrub,
        )
    }

    /// The answer itself when it is a 2xx; otherwise the error it describes.
    pub(crate) fn success(self, scrub: &[&str]) -> Result<Self, Error> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        let answer = self.parse(scrub)?;
        let retry_after = answer.retry_after.clone();
        Err(matrix_error(answer, retry_after.as_deref()))
    }

    pub(crate) fn status(&self) -> u16 {
        self.status
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn body_is_empty(&self) -> bool {
        self.body.is_empty()
    }

    pub(crate) fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The body, moved out (what is left behind is wiped).
    pub(crate) fn into_body(mut self) -> Vec<u8> {
        std::mem::take(&mut *self.body)
    }

    pub(crate) fn empty_answer(&self) -> Answer {
        Answer {
            url: self.url.clone(),
            status: self.status,
            content_type: self.content_type.clone(),
            retry_after: self.retry_after.clone(),
            object: Map::new(),
        }
    }
}

/// What to keep out of excerpts of an answer: the request's secrets and its token.
pub(crate) fn scrub_list<'a>(secrets: &[&'a str], token: Option<&'a AccessToken>) -> Vec<&'a str> {
    let mut scrub = secrets.to_vec();
    scrub.extend(token.map(AccessToken::reveal));
    scrub
}

/// A parsed answer, with what an error about it needs to say.
pub(crate) struct Answer {
    pub(crate) url: String,
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    pub(crate) retry_after: Option<String>,
    pub(crate) object: Map<String, JsonValue>,
}

impl Answer {
    /// An answer from its parts: its JSON object, or why there is none. `scrub` names the
    /// secrets to keep out of any excerpt of the body.
    pub(crate) fn parse(
        url: String,
        status: u16,
        content_type: Option<String>,
        retry_after: Option<String>,
        body: &[u8],
        scrub: &[&str],
    ) -> Result<Self, Error> {
        let answer = Answer {
            url,
            status,
            content_type,
            retry_after,
            object: Map::new(),
        };
        match serde_json::from_slice::<JsonValue>(body) {
            Ok(JsonValue::Object(object)) => Ok(Answer { object, ..answer }),
            Ok(_) => Err(answer.unexpected("the body is JSON but not an object")),
            Err(_) => {
                let problem = if body.is_empty() {
                    "the body is empty"
                } else {
                    "the body is not JSON"
                };
                Err(Error::UnexpectedResponse(UnexpectedResponse {
                    excerpt: excerpt(body, scrub),
                    ..answer.unexpected_response(problem)
                }))
            }
        }
    }

    /// The same answer with an empty object, to describe a part of it.
    pub(crate) fn without_object(&self) -> Self {
        Self {
            url: self.url.clone(),
            status: self.status,
            content_type: self.content_type.clone(),
            retry_after: None,
            object: Map::new(),
        }
    }

    fn unexpected_response(&self, problem: impl Into<String>) -> UnexpectedResponse {
        UnexpectedResponse {
            url: self.url.clone(),
            status: self.status,
            content_type: self.content_type.clone(),
            problem: problem.into(),
            excerpt: String::new(),
        }
    }

    pub(crate) fn unexpected(&self, problem: impl Into<String>) -> Error {
        Error::UnexpectedResponse(self.unexpected_response(problem))
    }
}

/// Typed access to the fields of an answer. Errors name the field and never quote its value.
pub(crate) struct Fields<'a>(&'a Answer);

impl<'a> Fields<'a> {
    pub(crate) fn new(answer: &'a Answer) -> Self {
        Self(answer)
    }

    pub(crate) fn optional_string(&self, name: &str) -> Result<Option<String>, Error> {
        match self.0.object.get(name) {
            None | Some(JsonValue::Null) => Ok(None),
            Some(JsonValue::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(self
                .0
                .unexpected(format!("the field `{name}` is not a string"))),
        }
    }

    /// A duration in seconds from now (`expires_in` of OAuth 2.0), as the time it ends.
    pub(crate) fn optional_expiry_secs(&self, name: &str) -> Result<Option<SystemTime>, Error> {
        Ok(self
            .optional_u64(name)?
            .map(|secs| SystemTime::now() + Duration::from_secs(secs)))
    }

    /// A list of strings; none when the field is missing.
    pub(crate) fn strings(&self, name: &str) -> Result<Vec<String>, Error> {
        match self.0.object.get(name) {
            None | Some(JsonValue::Null) => Ok(Vec::new()),
            Some(JsonValue::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    self.0
                        .unexpected(format!("the field `{name}` is not a list of strings"))
                }),
            Some(_) => Err(self
                .0
                .unexpected(format!("the field `{name}` is not a list of strings"))),
        }
    }

    /// A field that holds a user ID, parsed.
    pub(crate) fn user_id(&self, name: &str) -> Result<UserId, Error> {
        UserId::parse(&self.string(name)?).map_err(|err| {
            self.0.unexpected(format!(
                "the field `{name}` is not a user ID ({})",
                err.problem
            ))
        })
    }

    pub(crate) fn string(&self, name: &str) -> Result<String, Error> {
        self.optional_string(name)?
            .ok_or_else(|| self.0.unexpected(format!("the field `{name}` is missing")))
    }

    pub(crate) fn optional_u64(&self, name: &str) -> Result<Option<u64>, Error> {
        match self.0.object.get(name) {
            None | Some(JsonValue::Null) => Ok(None),
            Some(value) => value.as_u64().map(Some).ok_or_else(|| {
                self.0
                    .unexpected(format!("the field `{name}` is not a whole number"))
            }),
        }
    }

    /// A duration in milliseconds from now (`expires_in_ms`), as the time it ends.
    pub(crate) fn optional_expiry(&self, name: &str) -> Result<Option<SystemTime>, Error> {
        Ok(self
            .optional_u64(name)?
            .map(|ms| SystemTime::now() + Duration::from_millis(ms)))
    }

    pub(crate) fn optional_bool(&self, name: &str) -> Result<Option<bool>, Error> {
        match self.0.object.get(name) {
            None | Some(JsonValue::Null) => Ok(None),
            Some(JsonValue::Bool(value)) => Ok(Some(*value)),
            Some(_) => Err(self
                .0
                .unexpected(format!("the field `{name}` is not a boolean"))),
        }
    }
}

/// A non-2xx JSON answer: a Matrix error when it has an `errcode`, otherwise unexpected.
pub(crate) fn matrix_error(answer: Answer, retry_after_header: Option<&str>) -> Error {
    let Some(errcode) = answer.object.get("errcode").and_then(JsonValue::as_str) else {
        return answer.unexpected("an error answer without an `errcode`");
    };
    let message = answer
        .object
        .get("error")
        .and_then(JsonValue::as_str)
        .unwrap_or_default();
    let retry_after = retry_hint_from(retry_after_header, &answer);
    let soft_logout = answer
        .object
        .get("soft_logout")
        .and_then(JsonValue::as_bool)
        .unwrap_or(false);
    Error::Matrix(MatrixError {
        status: answer.status,
        errcode: ErrorCode::from(errcode.chars().take(64).collect::<String>().as_str()),
        message: message.chars().take(500).collect(),
        retry_after,
        soft_logout,
    })
}

/// A non-2xx answer of an OAuth 2.0 endpoint: its `error` (and `error_description`), or
/// unexpected when it has none.
pub(crate) fn oauth_error(answer: Answer) -> Error {
    let text = |name: &str| {
        answer
            .object
            .get(name)
            .and_then(JsonValue::as_str)
            .map(|text| text.chars().take(500).collect::<String>())
    };
    let Some(error) = text("error") else {
        return answer.unexpected("an OAuth 2.0 error answer without an `error`");
    };
    Error::OAuth(OAuthError {
        status: answer.status,
        error,
        description: text("error_description"),
    })
}

/// How long a 429 answer asks to wait: the `Retry-After` header (seconds) wins over the body's
/// `retry_after_ms`, deprecated since spec v1.10.
pub(crate) fn retry_hint_from(header: Option<&str>, answer: &Answer) -> Option<Duration> {
    header
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .or_else(|| {
            answer
                .object
                .get("retry_after_ms")
                .and_then(JsonValue::as_u64)
                .map(Duration::from_millis)
        })
}

pub(crate) fn retry_hint(answer: &Answer) -> Option<Duration> {
    retry_hint_from(answer.retry_after.as_deref(), answer)
}

/// A user-interactive authentication challenge: a 401 with `flows` and `session`.
/// The user-interactive authentication stage of a server whose accounts an OAuth 2.0 server
/// runs: approve the request on the account page (spec v1.17).
pub(crate) const OAUTH_STAGE: &str = "m.oauth";
/// Its unstable forerunner, for cross-signing resets (MSC4312).
pub(crate) const UNSTABLE_OAUTH_STAGE: &str = "org.matrix.cross_signing_reset";

pub(crate) struct UiaChallenge {
    pub(crate) session: String,
    /// The flows the server offers, each a list of stage types.
    pub(crate) flows: Vec<Vec<String>>,
    /// The stages of this session already completed.
    pub(crate) completed: Vec<String>,
    /// The page where the user approves the request in a browser: the `m.oauth` stage's `url`
    /// (spec v1.17), or that of its unstable forerunner for cross-signing resets.
    pub(crate) account_url: Option<String>,
}

impl UiaChallenge {
    pub(crate) fn from_answer(answer: &Answer) -> Option<Self> {
        if answer.status != 401 {
            return None;
        }
        let session = answer.object.get("session")?.as_str()?.to_owned();
        let flows = answer
            .object
            .get("flows")?
            .as_array()?
            .iter()
            .map(|flow| strings(flow.get("stages")))
            .collect();
        let completed = strings(answer.object.get("completed"));
        let params = answer.object.get("params");
        let account_url = [OAUTH_STAGE, UNSTABLE_OAUTH_STAGE]
            .iter()
            .find_map(|stage| params?.get(stage)?.get("url")?.as_str())
            .filter(|url| url.starts_with("https://") || url.starts_with("http://"))
            .map(str::to_owned);
        Some(Self {
            session,
            flows,
            completed,
            account_url,
        })
    }
}

/// The strings of a JSON list (nothing for anything else).
fn strings(list: Option<&JsonValue>) -> Vec<String> {
    list.and_then(JsonValue::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The longest excerpt of a body kept in an error, in characters.
const EXCERPT_CHARS: usize = 120;

/// A short, printable excerpt of a non-JSON body: the `<title>` of an HTML page, or the start of
/// the text with white space folded. Every occurrence of each secret is replaced by
/// `<redacted>` before cutting, so not even a part of one survives.
pub(crate) fn excerpt(body: &[u8], secrets: &[&str]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut text = html_title(&text).unwrap_or(&text).to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, "<redacted>");
    }
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = folded
        .chars()
        .filter(|c| !c.is_control())
        .take(EXCERPT_CHARS)
        .collect();
    if folded.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

fn html_title(text: &str) -> Option<&str> {
    let lower = text.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    let title = text[start..end].trim();
    (!title.is_empty()).then_some(title)
}

#[cfg(test)]
mod tests;
