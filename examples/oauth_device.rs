//! OAuth 2.0 login with the device authorization grant, from the library: on a homeserver whose
//! accounts an OAuth 2.0 server runs (matrix-authentication-service), prints an address and a
//! code to enter there on any device (a phone will do), waits for the approval, and prints the
//! session, its tokens masked, and what refreshing and revoking its tokens need (`OAuthClient`:
//! `Client::refresh_oauth`, `Client::revoke_oauth`; MAS access tokens last five minutes).
//!
//! ```sh
//! cargo run --example oauth_device -- https://matrix.example.org
//! ```

use std::process::ExitCode;
use std::time::Duration;

use nu_plugin_matrix::oauth::{
    API_SCOPE, ClientMetadata, DEVICE_CODE_GRANT, DeviceAuthorization, OAuthClient, device_scope,
    new_device_id,
};
use nu_plugin_matrix::{Client, Error, InputError, Session};

#[allow(dead_code)] // the tests call `sign_in` directly
fn main() -> ExitCode {
    let Some(homeserver) = std::env::args().nth(1) else {
        eprintln!("usage: oauth_device <homeserver URL>");
        return ExitCode::FAILURE;
    };
    let signed_in = sign_in(&homeserver, |device| {
        let page = device
            .verification_uri_complete
            .as_deref()
            .unwrap_or(&device.verification_uri);
        eprintln!(
            "On any device, open {page}\nand enter the code {}\n",
            device.user_code
        );
    });
    match signed_in {
        Ok((session, oauth)) => {
            println!("{session:#?}\n{oauth:#?}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Signs in with the device code: `show` gets what to tell the user. Returns the session, and the
/// client its tokens are refreshed and revoked with.
pub fn sign_in(
    homeserver: &str,
    show: impl FnOnce(&DeviceAuthorization),
) -> Result<(Session, OAuthClient), Error> {
    let client = Client::new(homeserver)?;
    let Some(metadata) = client.auth_metadata()? else {
        return Err(Error::Input(InputError::new(
            format!("{homeserver} does not log in with OAuth 2.0"),
            "use the password login (examples/login.rs)",
        )));
    };
    let client_id = client.register_oauth_client(
        &metadata,
        &ClientMetadata {
            client_name: "nu_plugin_matrix example".into(),
            client_uri: "https://crates.io/crates/nu_plugin_matrix".into(),
            redirect_uris: Vec::new(),
            grant_types: vec![DEVICE_CODE_GRANT.into(), "refresh_token".into()],
        },
    )?;
    let device_id = new_device_id()?;
    let scope = format!("{API_SCOPE} {}", device_scope(&device_id));
    let device = client.request_device_code(&metadata, &client_id, &scope)?;
    show(&device);
    // No Ctrl-C check here: the process ends on Ctrl-C anyway.
    let tokens = client.wait_for_device_token(
        &metadata,
        &client_id,
        &device,
        Duration::from_secs(600),
        &|| false,
    )?;
    let oauth = OAuthClient::new(&metadata, client_id);
    let session = client.oauth_session(tokens, oauth.clone(), &device_id)?;
    Ok((session, oauth))
}
