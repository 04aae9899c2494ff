//! Log in with the library and print the session, its token masked.
//!
//! ```sh
//! MATRIX_PASSWORD=... cargo run --example login -- @bot:example.org https://matrix.example.org
//! ```
//!
//! The password comes from `MATRIX_PASSWORD`, or else from the first line of standard input
//! (`cargo run --example login -- @bot:example.org https://matrix.example.org < password.txt`).

use std::error::Error;
use std::io::{BufRead, Write};
use std::process::ExitCode;

use nu_plugin_matrix::{Client, LoginRequest, Password, UserArg};

#[allow(dead_code)] // the tests call `login_and_print` directly
fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(user), Some(homeserver)) = (args.next(), args.next()) else {
        eprintln!("usage: login <@user:server> <homeserver URL>");
        return ExitCode::FAILURE;
    };
    let password = match std::env::var("MATRIX_PASSWORD") {
        Ok(password) => password,
        Err(_) => {
            let mut line = String::new();
            if let Err(err) = std::io::stdin().lock().read_line(&mut line) {
                eprintln!("error: could not read the password from standard input: {err}");
                return ExitCode::FAILURE;
            }
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    match login_and_print(
        &user,
        &homeserver,
        Password::new(password),
        &mut std::io::stdout(),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Logs in, prints the session (the token masked) and what `/whoami` says of the token.
pub fn login_and_print(
    user: &str,
    homeserver: &str,
    password: Password,
    out: &mut dyn Write,
) -> Result<(), Box<dyn Error>> {
    let client = Client::new(homeserver)?;
    let request = LoginRequest::password(UserArg::parse(user)?, password)
        .device_name("nu_plugin_matrix example");
    let session = client.login(&request)?;
    // `Debug` masks the token: printing a session is safe.
    writeln!(out, "{session:#?}")?;

    let me = client.whoami(&session.access_token)?;
    writeln!(out, "whoami: {} (device {:?})", me.user_id, me.device_id)?;
    Ok(())
}
