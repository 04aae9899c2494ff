//! A bot in Rust: answers `!ping` with `pong` in every room it is in, until stopped, and stays
//! up through homeserver restarts (the listener retries, saying so on stderr) and through an
//! answer that fails (a room where it may not post: said on stderr, and it goes on).
//!
//! ```sh
//! MATRIX_HOMESERVER=https://matrix.example.org MATRIX_TOKEN=syt_... \
//!   cargo run --example echo_bot
//! ```
//!
//! The token comes from the environment, never from the command line (which other users of the
//! machine can see). `matrix token reveal` gives it from a saved session.

use std::process::ExitCode;
use std::time::Duration;

use nu_plugin_matrix::listen::{DEFAULT_WAIT, Event, ListenFilter, Start};
use nu_plugin_matrix::rooms::{OutgoingMessage, new_transaction_id};
use nu_plugin_matrix::{AccessToken, Client, Error};

#[allow(dead_code)] // the tests call `run_bot` directly
fn main() -> ExitCode {
    let from_env = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let (homeserver, token) = match (from_env("MATRIX_HOMESERVER"), from_env("MATRIX_TOKEN")) {
        (Ok(homeserver), Ok(token)) => (homeserver, AccessToken::new(token)),
        (Err(missing), _) | (_, Err(missing)) => {
            eprintln!("error: {missing}");
            return ExitCode::FAILURE;
        }
    };
    let said =
        |room_id: &str, err: &Error| eprintln!("echo_bot: could not answer in {room_id}: {err}");
    match run_bot(&homeserver, &token, DEFAULT_WAIT, None, said) {
        Ok(_) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Answers each `!ping` (a text, not a notice) with a `pong` notice; an answer that fails goes
/// to `failed` with its room, and the bot goes on. Ends after `answers` answers (never, with
/// `None`) or at an error that does not pass (a refused token). Returns how many it answered.
pub fn run_bot(
    homeserver: &str,
    token: &AccessToken,
    wait: Duration,
    answers: Option<usize>,
    mut failed: impl FnMut(&str, &Error),
) -> Result<usize, Error> {
    let client = Client::new(homeserver)?;
    let me = client.whoami(token)?.user_id;
    let filter = ListenFilter {
        // Not its own messages: a bot that answers itself loops.
        not_senders: vec![me.as_str().to_owned()],
        ..ListenFilter::default()
    };
    let listener = client
        .listen(token.clone(), filter, Start::Now, wait, false)
        .on_retry(Box::new(|err, pause, _first| {
            eprintln!("echo_bot: {err}; trying again in {}s", pause.as_secs());
        }))
        .on_back(Box::new(|after| {
            eprintln!("echo_bot: back after {}s", after.as_secs());
        }));
    let mut answered = 0;
    for event in listener {
        let event: Event = event?;
        // Notices are for bots, and bots do not answer them: two bots never loop.
        if event.content["msgtype"] != "m.text" || event.content["body"] != "!ping" {
            continue;
        }
        let pong = OutgoingMessage::text("pong").as_notice(true);
        match client.send_message(token, &event.room_id, &pong, &new_transaction_id()) {
            Ok(_) => answered += 1,
            Err(err) => {
                failed(&event.room_id, &err);
                continue;
            }
        }
        if answers == Some(answered) {
            break;
        }
    }
    Ok(answered)
}
