use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{
    Category, Example, LabeledError, Record, Signature, Span, Spanned, SyntaxShape, Type, Value,
};
use serde_json::json;

use super::with_session;
use crate::e2ee::{
    Cancelled, DEFAULT_VERIFY_TIMEOUT, HeardRequest, Progress, ShortAuth, VERIFICATION_REQUEST,
    Verifying, Waiting,
};
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, Failure, failure};
use crate::plugin::json;
use crate::plugin::terminal::{Key, Operator};

/// `matrix e2ee verify`: emoji verification with a person, at the operator's terminal.
pub struct E2eeVerify;

/// The longest wait taken: the spec's ten minutes for a request.
const MAX_TIMEOUT: Duration = DEFAULT_VERIFY_TIMEOUT;

impl SimplePluginCommand for E2eeVerify {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(Flag);

    fn name(&self) -> &str {
        "matrix e2ee verify"
    }

    fn description(&self) -> &str {
        "Verify a person by comparing emoji, at the terminal: ask them, answer their request \
         (a row of `matrix listen --verifications`), or wait for it (--from)."
    }

    fn extra_description(&self) -> &str {
        "Runs the emoji verification (SAS) of Element's \"Verify User\" between the saved \
         session's user and another person. `matrix e2ee verify @admin:example.org` asks them \
         in the encrypted direct room with them (one is made, and they are invited, when there \
         is none); `$row | matrix e2ee verify` answers the request in a row of `matrix listen \
         --verifications`; `matrix e2ee verify --from @admin:example.org` waits for their next \
         request (Element sends it when they press Verify on the bot). The terminal shows the \
         7 emoji and their names (and the same as numbers): press y when they are the ones the \
         other person sees, n when not (cancelled with m.mismatched_sas, nothing signed), \
         Ctrl-C to stop (the other side is told, m.user). Nothing is ever confirmed without a \
         person: with no terminal the command refuses. On success the person's master key is \
         signed with the user's user-signing key: their events then have `verified: true` in \
         `matrix listen` and `matrix messages`, until their identity changes (see `matrix \
         e2ee status`, `identity_changed`). Returns user_id, master_key and verified. Needs \
         `matrix e2ee bootstrap` (or `recover`) first. The session's device must not be \
         listened to meanwhile (a listener would take the other side's messages): stop the \
         bot's listener, and answer a heard request once the listener that heard it has \
         ended (`let r = (matrix listen --verifications --once | where type == \
         m.key.verification.request | first); $r | matrix e2ee verify`)."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), Type::record())
            .optional(
                "user",
                SyntaxShape::String,
                "The person to ask: @name:server.",
            )
            .named(
                "from",
                SyntaxShape::String,
                "Wait for the next request of this person (@name:server).",
                None,
            )
            .named(
                "within",
                SyntaxShape::Duration,
                "How long the other person has to answer (more than 0sec; default and most: 10min).",
                None,
            )
            .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["emoji", "sas", "trust", "cross-signing", "verification"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "matrix e2ee verify @admin:example.org --session bot",
                description: "Ask @admin to verify, in the direct room with them, and compare the emoji here",
                result: None,
            },
            Example {
                example: "matrix e2ee verify --from @admin:example.org --session bot",
                description: "Wait for @admin to press Verify on the bot in Element, then compare the emoji here",
                result: None,
            },
        ]
    }

    fn run(
        &self,
        plugin: &MatrixPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        input: &Value,
    ) -> Result<Value, LabeledError> {
        let how = how_of(call, input)?;
        let timeout = timeout_of(call)?;
        if let How::Ask(user) | How::WaitFor(user) = &how {
            check_user(user)?;
        }
        let mut operator = Operator::open(
            engine,
            call,
            "run it at a terminal: a person compares the emoji with the other person's, and \
             nothing confirms them in their place",
        )?;
        let active = Active::resolve(plugin, engine, call, &Value::nothing(call.head))?;
        let blame = active.blame();
        let crypto = plugin.crypto(&active).map_err(|err| failure(err, &blame))?;
        let client = active
            .client(plugin)
            .map_err(|err| failure(Failure::Request(err), &blame))?;
        let token = active.session.access_token.clone();
        let interrupt = plugin.interrupt_of(engine);
        // What the library refuses about the person is said at the person's argument.
        let person_span = match &how {
            How::Ask(user) | How::WaitFor(user) => user.span,
            How::Answer(_) => call.head,
        };
        let fail = |err| match err {
            crate::error::Error::E2ee(err) if err.kind == crate::error::E2eeKind::Trust => {
                let mut problem = err.problem.clone();
                if let Some(first) = problem.get_mut(..1) {
                    first.make_ascii_uppercase();
                }
                LabeledError::new(problem)
                    .with_label("cannot verify", person_span)
                    .with_help(err.hint)
            }
            other => failure(Failure::Request(other), &blame),
        };
        let mut verifying = match &how {
            How::Ask(user) => {
                operator.say(&format!("Asking {} to verify…\n", user.item));
                crypto
                    .verify_user(&client, &token, &user.item, timeout)
                    .map_err(fail)?
            }
            How::Answer(heard) => {
                operator.say(&format!("Answering {}'s request…\n", heard.sender));
                crypto
                    .answer_request(&client, &token, heard, timeout)
                    .map_err(fail)?
            }
            How::WaitFor(user) => {
                operator.say(&format!(
                    "Waiting for {} to ask (Verify in Element)… Ctrl-C stops.\n",
                    user.item
                ));
                let mut stop = || interrupt() || pressed_stop(&mut operator);
                let heard = crypto
                    .wait_for_request(&client, &token, &user.item, timeout, &mut stop)
                    .map_err(fail)?;
                match heard {
                    Some(verifying) => verifying,
                    None => {
                        return Err(LabeledError::new(format!(
                            "No verification request from {}",
                            user.item
                        ))
                        .with_label("none came", user.span)
                        .with_help(
                            "ask them to press Verify on this user in Element while this waits \
                             (--within, 10min at most)",
                        ));
                    }
                }
            }
        };
        let done = converse(&mut operator, &mut verifying, &*interrupt)
            .map_err(|err| failure(Failure::Request(err), &blame))?;
        match done {
            Ok(verified) => {
                operator.say(&format!("Verified {}.\n", verified.user_id));
                let span = call.head;
                let mut record = Record::new();
                record.push("user_id", Value::string(verified.user_id, span));
                record.push("master_key", Value::string(verified.master_key, span));
                record.push("verified", Value::bool(true, span));
                Ok(Value::record(record, span))
            }
            Err(cancelled) => Err(cancelled_error(&cancelled, verifying.user(), call.head)),
        }
    }
}

/// The three ways a verification starts.
enum How {
    Ask(Spanned<String>),
    Answer(HeardRequest),
    WaitFor(Spanned<String>),
}

fn how_of(call: &EvaluatedCall, input: &Value) -> Result<How, LabeledError> {
    let user: Option<Spanned<String>> = call.opt(0)?;
    let from: Option<Spanned<String>> = call.get_flag("from")?;
    let heard = heard_of(input)?;
    match (user, from, heard) {
        (Some(user), None, None) => Ok(How::Ask(user)),
        (None, Some(from), None) => Ok(How::WaitFor(from)),
        (None, None, Some(heard)) => Ok(How::Answer(heard)),
        (None, None, None) => Err(LabeledError::new("Whom to verify?")
            .with_label("no person given", call.head)
            .with_help(
                "give the person (`matrix e2ee verify @admin:example.org`), pipe a request row \
                 of `matrix listen --verifications`, or wait for one with --from",
            )),
        (user, from, _) => {
            let span = user
                .map(|user| user.span)
                .or(from.map(|from| from.span))
                .unwrap_or(call.head);
            Err(LabeledError::new("Two persons given")
                .with_label("give one way", span)
                .with_help("a user, --from, or a request row on the pipeline: one of them"))
        }
    }
}

/// A request row on the pipeline (of `matrix listen --verifications`, or an in-room request
/// as a plain `m.room.message` row).
fn heard_of(input: &Value) -> Result<Option<HeardRequest>, LabeledError> {
    let Value::Record { val, .. } = input else {
        return Ok(None);
    };
    let span = input.span();
    let text = |field: &str| val.get(field).and_then(|value| value.as_str().ok());
    let content = match val.get("content") {
        Some(content) => json::from_value(content)?,
        None => json!({}),
    };
    let kind = text("type").unwrap_or_default();
    let is_request = kind == VERIFICATION_REQUEST
        || (kind == "m.room.message" && content["msgtype"] == VERIFICATION_REQUEST);
    // A session record is not a row: it comes through `Active::resolve`.
    if text("access_token").is_some() || val.get("access_token").is_some() {
        return Ok(None);
    }
    if !is_request {
        return Err(LabeledError::new("This row is not a verification request")
            .with_label(format!("its type is {kind:?}"), span)
            .with_help(
                "pipe a row of `matrix listen --verifications` whose type is \
                 m.key.verification.request",
            ));
    }
    let Some(sender) = text("sender") else {
        return Err(LabeledError::new("This row names no sender")
            .with_label("needs sender", span)
            .with_help("pipe a row of `matrix listen --verifications` as it came"));
    };
    let time = match val.get("time") {
        Some(Value::Date { val, .. }) => val.timestamp_millis(),
        _ => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as i64),
    };
    let room_id = text("room_id").map(str::to_owned);
    let event = match &room_id {
        Some(_) => json!({
            "type": "m.room.message",
            "event_id": text("event_id"),
            "sender": sender,
            "origin_server_ts": time,
            "content": content,
        }),
        None => json!({"type": VERIFICATION_REQUEST, "sender": sender, "content": content}),
    };
    Ok(Some(HeardRequest {
        sender: sender.to_owned(),
        room_id,
        event,
    }))
}

/// A person's user ID, checked before anything is shown or sent.
fn check_user(user: &Spanned<String>) -> Result<(), LabeledError> {
    match crate::UserId::parse(&user.item) {
        Ok(_) => Ok(()),
        Err(_) => Err(
            LabeledError::new(format!("'{}' is not a user ID", user.item))
                .with_label("not @name:server", user.span)
                .with_help("give the person's full user ID, e.g. @admin:example.org"),
        ),
    }
}

fn timeout_of(call: &EvaluatedCall) -> Result<Duration, LabeledError> {
    let Some(timeout) = call.get_flag::<Spanned<i64>>("within")? else {
        return Ok(DEFAULT_VERIFY_TIMEOUT);
    };
    match u64::try_from(timeout.item) {
        Ok(nanos) if nanos > 0 && Duration::from_nanos(nanos) <= MAX_TIMEOUT => {
            Ok(Duration::from_nanos(nanos))
        }
        _ => Err(LabeledError::new("The timeout is out of range")
            .with_label("more than 0sec, at most 10min", timeout.span)
            .with_help("e.g. --within 2min: how long the other person has at each step")),
    }
}

fn pressed_stop(operator: &mut Operator) -> bool {
    operator.key() == Some(Key::Stop)
}

/// Runs the verification to its end with the operator: the emoji shown, their answer taken.
/// `Ok(Err)`: cancelled (by either side).
fn converse(
    operator: &mut Operator,
    verifying: &mut Verifying<'_>,
    interrupted: &dyn Fn() -> bool,
) -> Result<Result<crate::e2ee::VerifiedUser, Cancelled>, crate::error::Error> {
    let mut said: Option<Waiting> = None;
    let mut shown = false;
    loop {
        if interrupted() || pressed_stop(operator) {
            operator.say("Cancelling…\n");
            return Ok(Err(verifying.cancel()?));
        }
        match verifying.step(Duration::from_millis(500))? {
            Progress::Waiting(waiting) => {
                if said != Some(waiting) {
                    operator.say(&waiting_words(waiting, verifying));
                    said = Some(waiting);
                }
            }
            Progress::Compare(sas) if !shown => {
                shown = true;
                operator.say(&emoji_words(&sas, verifying.user()));
                loop {
                    if interrupted() {
                        return Ok(Err(verifying.cancel()?));
                    }
                    match operator.key() {
                        Some(Key::Yes) => {
                            verifying.confirm()?;
                            break;
                        }
                        Some(Key::No) => return Ok(Err(verifying.mismatch()?)),
                        Some(Key::Stop) => return Ok(Err(verifying.cancel()?)),
                        Some(Key::Other) | None => {}
                    }
                }
            }
            Progress::Compare(_) => {}
            Progress::Done(verified) => return Ok(Ok(verified)),
            Progress::Cancelled(cancelled) => return Ok(Err(cancelled)),
        }
    }
}

fn waiting_words(waiting: Waiting, verifying: &Verifying<'_>) -> String {
    let user = verifying.user();
    match waiting {
        Waiting::Accept => match verifying.room() {
            Some(room) => format!(
                "Waiting for {user} to accept, in room {room} (Element shows the request there)…\n"
            ),
            None => format!("Waiting for {user} to accept…\n"),
        },
        Waiting::Keys => "Starting the emoji comparison…\n".to_owned(),
        Waiting::TheirConfirmation => format!("Waiting for {user} to confirm…\n"),
    }
}

/// The emoji as Element lays them out (each over its name), the numbers, the question.
fn emoji_words(sas: &ShortAuth, user: &str) -> String {
    let width = sas
        .emoji
        .iter()
        .map(|(_, name)| name.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    let mut symbols = String::from("  ");
    let mut names = String::from("  ");
    for (symbol, name) in &sas.emoji {
        // An emoji takes two columns.
        symbols.push_str(symbol);
        symbols.push_str(&" ".repeat(width.saturating_sub(2)));
        names.push_str(&format!("{name:<width$}"));
    }
    let [a, b, c] = sas.decimals;
    format!(
        "\nCompare these emoji with the ones {user} sees:\n\n{}\n{}\n\n\
         (or these numbers: {a:04} {b:04} {c:04})\n\n\
         Do they match? y: they match, n: they do not, Ctrl-C: stop\n",
        symbols.trim_end(),
        names.trim_end()
    )
}

fn cancelled_error(cancelled: &Cancelled, user: &str, head: Span) -> LabeledError {
    let title = match (cancelled.code.as_str(), cancelled.by_us) {
        ("m.mismatched_sas", true) => "The emoji did not match: verification cancelled".to_owned(),
        (_, true) => "Verification cancelled".to_owned(),
        (_, false) => format!("{user} cancelled the verification"),
    };
    LabeledError::new(title)
        .with_label(format!("{} ({})", cancelled.reason, cancelled.code), head)
        .with_help(match cancelled.by_us {
            true => format!("nothing was signed; {user} was told. Start again when ready"),
            false => "nothing was signed. Start again when ready".to_owned(),
        })
        .with_code("matrix::verification_cancelled")
}
