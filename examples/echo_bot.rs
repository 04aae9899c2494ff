//! A bot in Rust, the same as examples/bot.nu: it joins the rooms it is invited to, marks each
//! `!ping` with 👀 and replies `pong` to it, and answers `!report` with a file, until stopped.
//! Encrypted rooms and direct chats work as plain ones: the saved session's device decrypts
//! what comes and encrypts what it says.
//!
//! ```sh
//! nu -c 'matrix login @bot:example.org --save bot'   # once: the saved session
//! cargo run --example echo_bot -- bot
//! ```
//!
//! The saved session keeps the place after the events the bot finished (`heard.done()`), so a
//! bot that was down, crashed or was killed answers what came meanwhile; an event it did not
//! finish comes again, and its answers go under transaction IDs derived from the event and the
//! answer, so the homeserver sends each once. A failure to answer one event (a room where the
//! bot may not post) is said on stderr, and the bot goes on.

use std::process::ExitCode;

use nu_plugin_matrix::bot::{Bot, Failure, Heard, Plan};
use nu_plugin_matrix::rooms::OutgoingMessage;

fn main() -> ExitCode {
    let name = std::env::args().nth(1).unwrap_or_else(|| "bot".to_owned());
    match run(&name) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("echo_bot: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Listens as saved session `name` until the listener ends (a refused token, the session
/// gone): each event answered, then acked, answered or not.
fn run(name: &str) -> Result<(), Failure> {
    let bot = Bot::open(name)?;
    let mut plan: Plan = bot.plan()?;
    plan.filter.invites = true;
    let listening = bot.listen_with(plan)?;
    eprintln!("echo_bot: listening as {}", bot.session().user_id);
    for heard in listening {
        let heard = heard?;
        if let Err(err) = answer(&bot, &heard) {
            let room = &heard.event.room_id;
            eprintln!("echo_bot: could not answer in {room}: {err}");
        }
        // Done with it, answered or not: it will not come again.
        heard.done()?;
    }
    Ok(())
}

/// What the bot says to one event.
fn answer(bot: &Bot, heard: &Heard) -> Result<(), Failure> {
    let event = &heard.event;
    if event.kind == "invite" {
        let room_id = bot.join(event)?;
        eprintln!("echo_bot: joined {room_id}");
        return Ok(());
    }
    // An edit is left alone; so are notices (bots do not answer them: two bots never loop).
    if event.shape().edits.is_some() || event.content["msgtype"] != "m.text" {
        return Ok(());
    }
    match event.body() {
        Some("!ping") => {
            bot.react(event, "👀")?;
            let pong = OutgoingMessage::text("pong").as_notice(true);
            bot.reply_with(event, pong)?;
        }
        Some("!report") => {
            let report = serde_json::json!({
                "asked_by": event.sender,
                "room": event.room_id,
                "encrypted": event.encrypted,
            });
            bot.reply_with_file(event, "report.json", report.to_string().into_bytes())?;
        }
        _ => return Ok(()),
    }
    eprintln!(
        "echo_bot: answered {} {}",
        event.body().unwrap_or_default(),
        event.event_id.as_deref().unwrap_or_default()
    );
    Ok(())
}
