//! A bot's token on a homeserver whose accounts matrix-authentication-service (MAS) runs, with
//! nobody at a browser: MAS's admin client (the client credentials grant) makes the bot user if
//! it is missing, and issues it a personal access token for the client API with a device of its
//! own. The admin client is one the operator lists under `clients:` in MAS's configuration
//! (`client_auth_method: client_secret_basic`) and names in `policy.data.admin_clients`.
//!
//! ```sh
//! MAS_ADMIN_CLIENT_ID=01J... MAS_ADMIN_CLIENT_SECRET_FILE=secret.txt \
//!     cargo run --example mas_bot -- https://matrix.example.org bot
//! ```

use std::process::ExitCode;

use nu_plugin_matrix::mas_admin::{ADMIN_SCOPE, MasAdmin, NewPersonalSession};
use nu_plugin_matrix::oauth::new_device_id;
use nu_plugin_matrix::{Client, Error, InputError, Password, Session};

#[allow(dead_code)] // the tests call `bot_token` directly
fn main() -> ExitCode {
    let (Some(homeserver), Some(username)) = (std::env::args().nth(1), std::env::args().nth(2))
    else {
        eprintln!("usage: mas_bot <homeserver URL> <bot user name>");
        return ExitCode::FAILURE;
    };
    let admin_client = std::env::var("MAS_ADMIN_CLIENT_ID").ok();
    let secret = std::env::var("MAS_ADMIN_CLIENT_SECRET_FILE")
        .ok()
        .and_then(|path| std::fs::read_to_string(path).ok());
    let (Some(admin_client), Some(secret)) = (admin_client, secret) else {
        eprintln!("set MAS_ADMIN_CLIENT_ID and MAS_ADMIN_CLIENT_SECRET_FILE");
        return ExitCode::FAILURE;
    };
    let secret = Password::new(secret.trim_end().to_owned());
    match bot_token(&homeserver, &admin_client, &secret, &username) {
        Ok(session) => {
            // The token shows masked; `session.access_token.reveal()` gives it.
            println!("{session:#?}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The bot `username`'s session: a personal token from MAS's admin API, asked with the admin
/// client `admin_client`; the user is made first if MAS has none of that name.
pub fn bot_token(
    homeserver: &str,
    admin_client: &str,
    secret: &Password,
    username: &str,
) -> Result<Session, Error> {
    let client = Client::new(homeserver)?;
    let Some(metadata) = client.auth_metadata()? else {
        return Err(Error::Input(InputError::new(
            format!("{homeserver} does not run its accounts with MAS (no OAuth 2.0 server)"),
            "on Synapse alone, make the bot with its shared secret instead",
        )));
    };
    let admin_token = client.client_credentials(&metadata, admin_client, secret, ADMIN_SCOPE)?;
    let admin = MasAdmin::new(&metadata, admin_token.access_token)?;
    let bot = match client.mas_user(&admin, username)? {
        Some(bot) => bot,
        None => client.mas_create_user(&admin, username)?,
    };
    let device_id = new_device_id()?;
    let issued = client.mas_issue_token(
        &admin,
        &NewPersonalSession::for_client_api(&bot.id, "mas_bot example", &device_id),
    )?;
    let token = issued.access_token.ok_or_else(|| {
        Error::Input(InputError::new(
            "MAS sent no token for the personal session",
            "try again",
        ))
    })?;
    // Who the token is, as the homeserver sees it.
    let me = client.whoami(&token)?;
    Ok(Session {
        home_server: me.user_id.server_name().to_owned(),
        user_id: me.user_id,
        device_id: me.device_id.unwrap_or(device_id),
        homeserver: client.homeserver().to_owned(),
        access_token: token,
        refresh_token: None,
        expires_at: None,
        oauth: None,
    })
}
