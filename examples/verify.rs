//! Emoji verification with the library: a bot logs in to a new device, makes it trusted
//! (`bootstrap`: cross-signing, a recovery key, a key backup), asks a person to verify, shows
//! the emoji on standard output and reads whether they match from standard input.
//!
//! ```sh
//! MATRIX_PASSWORD=... cargo run --example verify -- @bot:example.org https://matrix.example.org @admin:example.org
//! ```
//!
//! The device's crypto store goes in a new folder under the system's temporary folder; a real
//! bot keeps it (and its key) as `matrix login --save` does. The account must not have
//! cross-signing keys yet (`bootstrap` refuses to replace them).

use std::error::Error;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

use nu_plugin_matrix::e2ee::{
    Crypto, DEFAULT_VERIFY_TIMEOUT, Progress, ShareWith, ShortAuth, StoreDir, VerifiedUser,
    new_store_key,
};
use nu_plugin_matrix::{Client, LoginRequest, Password, UserArg};

#[allow(dead_code)] // the tests call `verify` directly
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [user, homeserver, person] = args.as_slice() else {
        eprintln!("usage: verify <@bot:server> <homeserver URL> <@person:server>");
        return ExitCode::FAILURE;
    };
    let Ok(password) = std::env::var("MATRIX_PASSWORD") else {
        eprintln!("error: set MATRIX_PASSWORD");
        return ExitCode::FAILURE;
    };
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut compare = |sas: &ShortAuth| {
        for (symbol, name) in &sas.emoji {
            print!("{symbol} {name}   ");
        }
        print!("\nDo they match the emoji {person} sees? [y/n] ");
        let _ = std::io::stdout().flush();
        matches!(lines.next(), Some(Ok(line)) if line.trim() == "y")
    };
    let store = std::env::temp_dir().join(format!("verify-example-{}", std::process::id()));
    match verify(
        (user, homeserver, Password::new(password)),
        person,
        &store,
        &mut compare,
    ) {
        Ok(verified) => {
            println!(
                "verified {} (master key {})",
                verified.user_id, verified.master_key
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Logs `account` (user, homeserver, password) in to a new device with its crypto store under
/// `store`, bootstraps its trust, and verifies `person`: `compare` shows the emoji to someone
/// and says whether they match.
pub fn verify(
    account: (&str, &str, Password),
    person: &str,
    store: &std::path::Path,
    compare: &mut dyn FnMut(&ShortAuth) -> bool,
) -> Result<VerifiedUser, Box<dyn Error>> {
    let (user, homeserver, password) = account;
    let client = Client::new(homeserver)?;
    let request = LoginRequest::password(UserArg::parse(user)?, password.clone())
        .device_name("verify example");
    let session = client.login(&request)?;
    let token = &session.access_token;
    let dir = StoreDir::of(
        store,
        homeserver,
        session.user_id.as_str(),
        &session.device_id,
    );
    let device = (session.user_id.as_str(), session.device_id.as_str());
    let crypto = Crypto::open(
        dir,
        &new_store_key(),
        device,
        ShareWith::All,
        &client,
        token,
    )?;
    crypto.bootstrap(&client, token, false, None)?;

    let mut verifying = crypto.verify_user(&client, token, person, DEFAULT_VERIFY_TIMEOUT)?;
    let mut compared = false;
    loop {
        match verifying.step(Duration::from_secs(1))? {
            Progress::Waiting(_) => {}
            Progress::Compare(sas) if !compared => {
                compared = true;
                if compare(&sas) {
                    verifying.confirm()?;
                } else {
                    let cancelled = verifying.mismatch()?;
                    return Err(cancelled.reason.into());
                }
            }
            Progress::Compare(_) => {}
            Progress::Done(verified) => return Ok(verified),
            Progress::Cancelled(cancelled) => {
                return Err(format!("{} ({})", cancelled.reason, cancelled.code).into());
            }
        }
    }
}
