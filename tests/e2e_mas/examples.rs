//! Help that runs, on a server run by MAS: the command examples that need it (the OAuth 2.0
//! logins, MAS's admin API), run as their commands show them, each checked for the shape of
//! what it gives. The other examples run against Synapse alone (`e2e_command_examples`).

use std::time::Duration;

use crate::support::Running;
use crate::support::browser::Browser;
use crate::support::examples::{Examples, needs_mas};
use crate::support::keyring::keyring;
use crate::support::mas::{authorize_in_browser, mas};

const PW: &str = "pw-MasExamples-1";

/// A session record of an OAuth 2.0 login: its tokens renew.
const OAUTH_SESSION: &str = "record<user_id: string, device_id: string, home_server: string, \
    homeserver: string, access_token: matrix_token, refresh_token: matrix_token, \
    expires_at: datetime>";
/// Personal sessions (MAS's admin API) as `matrix admin tokens` lists them, and as revoked.
const LISTED: &str = "table<id: string, name: string, user_id: string, scope: string, \
    created_at: datetime, expires_at: nothing, last_active_at: nothing, revoked_at: nothing>";
const REVOKED: &str = "table<id: string, name: string, user_id: string, scope: string, \
    created_at: datetime, expires_at: nothing, last_active_at: nothing, revoked_at: datetime>";

#[test]
fn every_example_that_needs_mas_runs_against_it() {
    let mas = mas();
    // Example names are taken: nobody else on this server is called me or bot.
    mas.register("me", PW);
    mas.register("bot", PW);
    let (client_id, client_secret) = mas.admin_client();
    let ex = Examples::new(
        "mas-examples",
        &mas.url,
        &[("01JADM1NC11ENT0000000000AB", &client_id)],
        // A real keyring: `auto` keeps the OAuth 2.0 sessions' tokens there, refreshes too.
        &[
            ("NU_PLUGIN_MATRIX_DISCOVERY_ORIGIN", &mas.url),
            ("DBUS_SESSION_BUS_ADDRESS", &keyring().address),
        ],
    );
    ex.file("mas-admin-secret.txt", &client_secret);

    ex.run_while(
        "matrix login @me:example.org --oauth --save me",
        OAUTH_SESSION,
        |nu| {
            super::approve_what_nu_shows(nu, "me", PW);
        },
    );
    ex.run_while(
        "matrix login @me:example.org --oauth-browser",
        OAUTH_SESSION,
        sign_in_at_mas,
    );
    ex.run(
        "open --raw mas-admin-secret.txt | matrix admin session --client-id 01JADM1NC11ENT0000000000AB -H https://matrix.example.org --save mas-admin",
        "",
        "record<client_id: string, issuer: string, homeserver: string, home_server: string, access_token: matrix_token, expires_at: datetime, saved_as: string>",
    );
    // The admin examples name the session `admin`, and the last one uses the default.
    ex.prepare(
        &format!(
            "open --raw mas-admin-secret.txt | matrix admin session --client-id {client_id} -H {} --save admin | ignore; matrix session use admin",
            mas.url
        ),
        "",
    );
    ex.run(
        "matrix admin token @bot:example.org --name 'ops bot' --session admin | matrix session save bot",
        "",
        "record<name: string, user_id: string, default: bool, store: string>",
    );
    ex.run(
        "matrix admin tokens @bot:example.org --session admin | where revoked_at == null",
        "",
        LISTED,
    );
    let revoked = ex.run(
        "matrix admin tokens @bot:example.org | where revoked_at == null | each {|t| matrix admin revoke $t.id }",
        "",
        REVOKED,
    );
    assert_eq!(
        revoked.json[0]["user_id"], "@bot:localhost",
        "{}",
        revoked.json
    );
    assert_eq!(
        revoked.json.as_array().map(Vec::len),
        Some(1),
        "{}",
        revoked.json
    );

    ex.all_ran(needs_mas);
}

/// The user at the browser: signs in as `me` on MAS's pages and consents; the browser then
/// comes back to the plugin's listener.
fn sign_in_at_mas(nu: &mut Running) {
    let line = nu.line_with("/authorize?", Duration::from_secs(30));
    let page = line
        .split_whitespace()
        .find(|word| word.contains("/authorize?"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    let back = authorize_in_browser(page, "me", PW);
    let answer = Browser::new().get(&back);
    assert_eq!(answer.status, 200, "{}", answer.body);
}
