//! Use a session that `matrix login ... --save <name>` saved, from Rust: its tokens come from the
//! system keyring or the session file, wherever the plugin put them.
//!
//! ```sh
//! cargo run --example saved_session -- bot
//! ```
//!
//! It asks the homeserver who the session is (`/whoami`) and prints the answer.

use std::error::Error;
use std::io::Write;
use std::process::ExitCode;

use nu_plugin_matrix::store::Keyring;
use nu_plugin_matrix::{Client, SessionStore};

#[allow(dead_code)] // the tests call `whoami_of_saved` directly
fn main() -> ExitCode {
    let Some(name) = std::env::args().nth(1) else {
        eprintln!("usage: saved_session <name of a saved session>");
        return ExitCode::FAILURE;
    };
    // The plugin's own store: its file, and the system keyring for the tokens kept there.
    let store = match SessionStore::default_location() {
        Ok(store) => store.with_keyring(Keyring::system()),
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    match whoami_of_saved(&store, &name, &mut std::io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the saved session `name` of `store` and prints who its token belongs to.
pub fn whoami_of_saved(
    store: &SessionStore,
    name: &str,
    out: &mut dyn Write,
) -> Result<(), Box<dyn Error>> {
    let saved = store.load()?;
    let entry = saved
        .sessions
        .get(name)
        .ok_or_else(|| format!("no saved session named '{name}'"))?;
    // Reads the tokens from the keyring if they are there; an error names the session.
    let session = store.open(name, entry)?;
    let client = Client::new(&session.homeserver)?;
    let whoami = client.whoami(&session.access_token)?;
    writeln!(
        out,
        "{} on {} (device {}), tokens kept in the {}",
        whoami.user_id,
        session.homeserver,
        whoami.device_id.as_deref().unwrap_or("-"),
        entry.secrets_at().as_str()
    )?;
    Ok(())
}
