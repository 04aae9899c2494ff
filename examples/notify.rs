//! Notify a room from Rust, as a cron job or a CI step would: sends a notice and prints its
//! event ID.
//!
//! ```sh
//! MATRIX_HOMESERVER=https://matrix.example.org MATRIX_TOKEN=syt_... \
//!   cargo run --example notify -- '#ops:example.org' 'backup done'
//! ```
//!
//! The token comes from the environment, never from the command line (which other users of the
//! machine can see). `matrix token reveal` gives it from a saved session.

use std::process::ExitCode;

use nu_plugin_matrix::rooms::{OutgoingMessage, new_transaction_id};
use nu_plugin_matrix::{AccessToken, Client, Error};

#[allow(dead_code)] // the tests call `notify` directly
fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(room), Some(text)) = (args.next(), args.next()) else {
        eprintln!("usage: notify <#alias:server or !room:server> <message>");
        return ExitCode::FAILURE;
    };
    let (Ok(homeserver), Ok(token)) = (
        std::env::var("MATRIX_HOMESERVER"),
        std::env::var("MATRIX_TOKEN"),
    ) else {
        eprintln!("error: set MATRIX_HOMESERVER and MATRIX_TOKEN");
        return ExitCode::FAILURE;
    };
    match notify(&homeserver, &AccessToken::new(token), &room, &text) {
        Ok(event_id) => {
            println!("{event_id}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Sends `text` as a notice (Markdown allowed) to `room`; returns the event ID. Refuses
/// encrypted rooms rather than send in the clear.
pub fn notify(
    homeserver: &str,
    token: &AccessToken,
    room: &str,
    text: &str,
) -> Result<String, Error> {
    let client = Client::new(homeserver)?;
    let room_id = client.resolve_room(token, room)?;
    if client.is_encrypted(token, &room_id)? {
        return Err(Error::Input(nu_plugin_matrix::InputError::new(
            format!("{room} is end-to-end encrypted"),
            "this example does not encrypt: use an unencrypted room",
        )));
    }
    let message = OutgoingMessage::markdown(text).as_notice(true);
    // One transaction ID per message: a retry after a lost answer is not sent twice.
    client.send_message(token, &room_id, &message, &new_transaction_id())
}
