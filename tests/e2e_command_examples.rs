//! Help that runs: every command example that needs a homeserver, run as its command shows it
//! (with the example names swapped for the test's) against a real Synapse, in the order a new
//! operator would meet them: create the bot, log in, save, look around, talk, clean up. The
//! examples that need MAS run in the MAS suite; those that need no server carry a checked result
//! (tests/plugin.rs).

mod support;

use serde_json::{Value as JsonValue, json};
use std::time::Duration;
use support::browser::Browser;
use support::examples::{Examples, needs_a_person, needs_mas};
use support::keyring::keyring;
use support::nio::Nio;

use support::{FaultServer, Running, Synapse, http, synapse_with_sso};

const PW: &str = "pw-Examples-1";

/// The shapes of a session record: as logged in, with a refresh token, with an expiry, as
/// registered (with the generated password).
const SESSION: &str = "record<user_id: string, device_id: string, home_server: string, \
    homeserver: string, access_token: matrix_token>";
const REFRESHABLE: &str = "record<user_id: string, device_id: string, home_server: string, \
    homeserver: string, access_token: matrix_token, refresh_token: matrix_token, \
    expires_at: datetime>";
const EXPIRING: &str = "record<user_id: string, device_id: string, home_server: string, \
    homeserver: string, access_token: matrix_token, expires_at: datetime>";
const REGISTERED: &str = "record<user_id: string, device_id: string, home_server: string, \
    homeserver: string, access_token: matrix_token, password: matrix_token>";
const WHOAMI: &str =
    "record<user_id: string, device_id: string, is_guest: bool, homeserver: string>";
const SENT: &str = "record<event_id: string, room_id: string, txn_id: string>";

#[test]
fn every_example_that_needs_a_homeserver_runs_against_synapse() {
    // SSO (for the identity-provider example) and login tokens (`matrix token login-token`),
    // with password login as well.
    let hs = synapse_with_sso();
    let config = hs.dir.join("homeserver.yaml");
    let config = config.to_string_lossy();
    // `https://localhost/.well-known/matrix/client` (discovery of example.org's stand-in) is a
    // loopback server delegating to the Synapse.
    let well_known = FaultServer::routes(vec![(
        "/.well-known/matrix/client",
        http(
            "200 OK",
            "application/json",
            &json!({"m.homeserver": {"base_url": hs.url}}).to_string(),
        ),
    )]);
    let ex = Examples::new(
        "examples",
        &hs.url,
        &[
            ("/matrix/synapse/config/homeserver.yaml", &config),
            ("oidc-keycloak", "oidc-mock"),
        ],
        &[
            ("NU_PLUGIN_MATRIX_DISCOVERY_ORIGIN", &well_known.url),
            ("DBUS_SESSION_BUS_ADDRESS", &keyring().address),
        ],
    );
    let shared_secret =
        std::fs::read_to_string(hs.dir.join("shared_secret")).expect("the shared secret");
    ex.file("secret.txt", shared_secret.trim());
    let admin_token = hs.register_admin("admin", PW);
    hs.register("oldbot", PW);
    for (user, name) in [("admin", "admin"), ("oldbot", "old-bot")] {
        ex.prepare(
            &format!(
                "$env.PW | matrix login @{user}:localhost -H {} | matrix session save {name}",
                hs.url
            ),
            PW,
        );
    }

    // Creating the bot: the generated password is replaced by one the test knows.
    let bot = ex.run(
        "matrix register bot -H https://matrix.example.org --synapse-config /matrix/synapse/config/homeserver.yaml",
        "",
        REGISTERED,
    );
    assert_eq!(bot.json["user_id"], "@bot:localhost", "{}", bot.json);
    hs.set_password(&admin_token, "@bot:localhost", PW);
    ex.run(
        "open --raw secret.txt | matrix register ops-bot -H https://matrix.example.org --admin --save ops",
        "",
        REGISTERED,
    );

    // Logging in and saving. @me signs in with single sign-on (the provider's user "me"), and
    // gets a password too for the examples that confirm with one.
    ex.run_while(
        "matrix login @me:example.org --sso --save me",
        SESSION,
        sign_in("me"),
    );
    hs.set_password(&admin_token, "@me:localhost", PW);
    ex.run_while(
        "matrix login --sso --no-browser --idp oidc-keycloak -H https://matrix.example.org",
        SESSION,
        sign_in("someone"),
    );
    ex.run(
        "input -s | matrix login @bot:example.org --refresh --save bot",
        PW,
        REFRESHABLE,
    );
    ex.run_at_terminal(
        "let s = (matrix login @bot:example.org); $s.access_token | matrix token reveal",
        PW,
        "string",
    );
    ex.run_at_terminal(
        "matrix login @bot:example.org | matrix token reveal | to json",
        PW,
        "string",
    );
    // Synapse hands out one login token a minute per user: this one is @oldbot's.
    let oldbot_token = hs.login("@oldbot:localhost", PW);
    ex.run(
        "matrix login --login-token (input -s) -H https://matrix.example.org",
        &hs.login_token(&oldbot_token, "@oldbot:localhost", PW),
        SESSION,
    );
    ex.run(
        r#"input -s "Password: " | matrix login @bot:example.org --homeserver https://matrix.example.org"#,
        PW,
        SESSION,
    );
    ex.run(
        "matrix login bot -H https://matrix.example.org --password (input -s) --device-id BOT1 --device-name 'ops bot'",
        PW,
        SESSION,
    );
    ex.run(
        "input -s | matrix login @bot:example.org | matrix session save bot --default",
        PW,
        "record<name: string, user_id: string, default: bool, store: string>",
    );
    ex.run("matrix session list", "", "table<name: string, default: bool, user_id: string, device_id: string, homeserver: string, access_token: matrix_token, expires_at: nothing, store: string, needs_login: bool>");
    // The examples run with a real keyring, so `auto` saved the sessions there; from here on
    // they are in the file.
    ex.run(
        "matrix session move bot --to keyring",
        "",
        "table<name: string, store: string, moved: bool>",
    );
    ex.run(
        "matrix session move --all --to file",
        "",
        "table<name: string, store: string, moved: bool>",
    );
    ex.run("matrix whoami --session bot", "", WHOAMI);
    // The device's fingerprint: its crypto store made on first use.
    let fingerprint = ex.run(
        "matrix e2ee status --session bot | get ed25519",
        "",
        "string",
    );
    assert_eq!(
        fingerprint.json.as_str().map(str::len),
        Some(43),
        "{}",
        fingerprint.json
    );
    // The device made trusted; its recovery key in a file, nowhere else.
    ex.run(
        "matrix e2ee bootstrap --session bot | get recovery_key | matrix token save recovery-key.txt",
        "",
        "record<path: string>",
    );
    let recovery = std::fs::read_to_string(ex.dir.join("recovery-key.txt")).expect("the key");
    assert_eq!(recovery.trim().split(' ').count(), 12, "{recovery}");
    assert_eq!(mode_of(&ex.dir.join("recovery-key.txt")), 0o600);
    // (On the same device here; tests/e2e_trust.rs recovers on a new one.)
    let recovered = ex.run(
        "open recovery-key.txt | matrix e2ee recover --session bot",
        "",
        "record<user_id: string, device_id: string, master_key: string, backup_version: string, room_keys: int>",
    );
    assert!(
        recovered.json["backup_version"].is_string(),
        "{}",
        recovered.json
    );
    ex.run(
        "input -s | matrix login @bot:example.org | matrix whoami",
        PW,
        WHOAMI,
    );
    ex.run(
        "let session = (input -s | matrix login @bot:example.org); $session.access_token | matrix token reveal",
        PW,
        "string",
    );
    ex.file("bot.token", &hs.login("@bot:localhost", PW));
    ex.run(
        "open --raw bot.token | matrix token import --homeserver https://matrix.example.org",
        "",
        SESSION,
    );
    let token = hs.login("@bot:localhost", PW);
    ex.run(
        "input -s 'Token: ' | matrix token import -H https://matrix.example.org --save bot",
        &token,
        SESSION,
    );
    // The saved token to a file only its owner reads, replacing the one there.
    ex.run(
        "(matrix session get bot).access_token | matrix token save --force bot.token",
        "",
        "record<path: string>",
    );
    let written = std::fs::read_to_string(ex.dir.join("bot.token")).expect("the token");
    assert_eq!(written.trim(), token);
    assert_eq!(mode_of(&ex.dir.join("bot.token")), 0o600);
    ex.run_at_terminal(
        "matrix token login-token --session me | get login_token | matrix token reveal",
        PW,
        "string",
    );
    ex.run_at_terminal(
        "matrix token login-token | matrix login --device-name 'backup job'",
        PW,
        SESSION,
    );

    // Finding the server.
    ex.run("matrix discover example.org", "", "record<server_name: string, homeserver: string, identity_server: nothing, versions: list<string>, source: string, oauth2: nothing>");
    let homeserver = ex.run(
        "matrix discover @bot:example.org | get homeserver",
        "",
        "string",
    );
    assert_eq!(homeserver.json, hs.url.as_str());
    ex.run("matrix flows example.org", "", "table<type: string, identity_providers: list<any>, oauth_aware_preferred: bool, issuer: nothing, account_page: nothing>");
    ex.run(
        "matrix flows https://matrix.example.org | where type == m.login.sso | get identity_providers",
        "",
        "list<table<id: string, name: string, brand: nothing>>",
    );
    ex.run_after(
        "$env.config.plugins.matrix = {timeout: 20sec}",
        "matrix config | where source != default",
        "",
        "table<setting: string, value: duration, default: duration, source: string>",
    );

    // Rooms and messages, as the default session ('bot').
    ex.run("matrix api account/whoami", "", "record<…>");
    ex.run(
        "matrix api createRoom --data {name: 'Ops', room_alias_name: 'ops'} | get room_id",
        "",
        "string",
    );
    ex.run(
        "matrix api 'directory/room/#ops:example.org' | get room_id",
        "",
        "string",
    );
    ex.run(
        "matrix join '#ops:example.org' --session bot",
        "",
        "record<room_id: string>",
    );
    ex.run(
        "\"backup done\" | matrix send '#ops:example.org' --notice",
        "",
        SENT,
    );
    ex.run(
        "matrix send '#ops:example.org' '**disk 91%** on `db1`' --markdown --session bot",
        "",
        SENT,
    );
    ex.run(
        "matrix messages '#ops:example.org' --limit 5",
        "",
        "table<time: datetime, room_id: string, sender: string, type: string, msgtype: string, body: string, formatted_body: oneof<nothing, string>, event_id: string, reply_to: nothing, thread: nothing, relation: nothing, edits: nothing, latest_edit: nothing, url: nothing, info: nothing, redacted: bool, redacts: nothing, reason: nothing, content: record<body: string, m.mentions: record, msgtype: string>, encrypted: bool, verified: nothing, decrypt_error: nothing, authenticity: nothing>",
    );
    let sent = ex.run(
        "matrix messages '#ops:example.org' --limit 1000 | where sender == '@bot:example.org' | length",
        "",
        "int",
    );
    assert_eq!(sent.json, 2, "the two messages the bot sent");
    let ops = answering(&ex, hs, &admin_token);
    ex.run(
        "matrix rooms",
        "",
        "table<room_id: string, alias: string, name: string, members: int, encrypted: bool>",
    );
    ex.run(
        "matrix rooms --session bot | where not encrypted | get alias",
        "",
        "list<string>",
    );

    listening(&ex, hs, &admin_token, &ops);

    // Devices.
    for device in ["OLDDEV1", "OLDDEV2"] {
        ex.prepare(
            &format!(
                "$env.PW | matrix login @bot:localhost -H {} --device-id {device} | ignore",
                hs.url
            ),
            PW,
        );
    }
    ex.run("matrix devices", "", "table<device_id: string, display_name: oneof<nothing, string>, last_seen_ip: oneof<nothing, string>, last_seen: oneof<datetime, nothing>, current: bool, verified: bool>");
    ex.run(
        "matrix devices --session bot | where last_seen < ((date now) - 90day)",
        "",
        "list<any>",
    );
    ex.run(
        "matrix devices rename BOT1 'ops bot (prod)'",
        "",
        "record<device_id: string, display_name: string>",
    );
    // The server has the new name. (This token of the bot's is revoked by `logout --all`.)
    let bot_token = hs.login("@bot:localhost", PW);
    assert_eq!(
        hs.call(&bot_token, "GET", "devices/BOT1", &json!({}))["display_name"],
        "ops bot (prod)"
    );
    let deleted = ex.run(
        "input -s | matrix devices delete OLDDEV1 OLDDEV2",
        PW,
        "record<deleted: list<string>, removed_sessions: list<any>>",
    );
    assert_eq!(deleted.json["deleted"], json!(["OLDDEV1", "OLDDEV2"]));
    // No device is 90 days old: the filter matches nothing, and nothing is deleted or asked.
    let none = ex.run(
        "matrix devices | where not current and last_seen != null and last_seen < ((date now) - 90day) | matrix devices delete",
        "",
        "record<deleted: list<any>, removed_sessions: list<any>>",
    );
    assert_eq!(none.json["deleted"], json!([]));

    // Administration.
    ex.run(
        "matrix admin login-as @bot:example.org --valid-for 1hr --session admin",
        "",
        EXPIRING,
    );

    ex.run(
        "matrix api '/_synapse/admin/v2/users' --query {limit: 5} --session admin | get users",
        "",
        "table<…>",
    );

    // Renewing and revoking.
    ex.prepare(
        &format!(
            "$env.PW | matrix login @bot:localhost -H {} --refresh | matrix session save bot",
            hs.url
        ),
        PW,
    );
    let (old_access, old_refresh) = saved_tokens(&ex, "bot");
    ex.run("matrix refresh --session bot", "", REFRESHABLE);
    // The saved session has new tokens that work, and the old refresh token is spent.
    let (new_access, new_refresh) = saved_tokens(&ex, "bot");
    assert!(new_access != old_access, "the access token is the same");
    assert!(new_refresh != old_refresh, "the refresh token is the same");
    assert_eq!(hs.whoami_status(&new_access), 200);
    assert_eq!(
        hs.refresh_status(old_refresh.as_deref().expect("a refresh token")),
        403,
        "the old refresh token is spent"
    );
    ex.run(
        "let s = (input -s | matrix login @bot:example.org --refresh); $s | matrix refresh",
        PW,
        REFRESHABLE,
    );
    let (old_bot, _) = saved_tokens(&ex, "old-bot");
    let old_bot_device = hs.whoami(&old_bot)["device_id"]
        .as_str()
        .expect("a device")
        .to_owned();
    let logged_out = ex.run("matrix logout --session old-bot", "", "record<user_id: string, device_id: string, revoked: string, removed_sessions: list<string>>");
    assert_eq!(logged_out.json["device_id"], old_bot_device.as_str());
    // Its token is refused, and its device is gone.
    assert_eq!(hs.whoami_status(&old_bot), 401);
    let oldbot_now = hs.login("@oldbot:localhost", PW);
    let devices = hs.call(&oldbot_now, "GET", "devices", &json!({}))["devices"].clone();
    assert!(
        devices
            .as_array()
            .expect("devices")
            .iter()
            .all(|device| device["device_id"] != old_bot_device.as_str()),
        "{devices}"
    );
    ex.run("matrix logout --all", "", "record<user_id: string, device_id: nothing, revoked: string, removed_sessions: list<string>>");
    // Every token of the bot's is refused: the saved one, and one the test made.
    assert_eq!(hs.whoami_status(&new_access), 401);
    assert_eq!(hs.whoami_status(&bot_token), 401);

    ex.all_ran(|command, example| {
        !needs_mas(command, example) && !needs_a_person(command, example)
    });
}

/// A file's permission bits.
fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("a file")
        .permissions()
        .mode()
        & 0o777
}

/// The access and refresh tokens of the saved session `name`: from the session file, or from
/// its keyring item.
fn saved_tokens(ex: &Examples, name: &str) -> (String, Option<String>) {
    let text = std::fs::read_to_string(ex.config.join("nu_plugin_matrix/sessions.json"))
        .expect("the session file");
    let file: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let entry = &file["sessions"][name];
    let tokens = match entry["keyring"].as_str() {
        Some(key) => serde_json::from_str(&keyring().lookup(key).expect("the item"))
            .expect("the item's JSON"),
        None => entry.clone(),
    };
    (
        tokens["access_token"].as_str().expect("a token").to_owned(),
        tokens["refresh_token"].as_str().map(str::to_owned),
    )
}

/// The user at the browser: signs in at the single sign-on page nu printed, as the provider's
/// user `sub`.
fn sign_in(sub: &str) -> impl FnOnce(&mut Running) + '_ {
    move |nu| {
        let line = nu.line_with("/login/sso/redirect", std::time::Duration::from_secs(30));
        let url = line
            .split_whitespace()
            .find(|word| word.contains("/login/sso/redirect"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"));
        let page = Browser::new().sign_in(url, sub);
        assert_eq!(page.status, 200, "{}", page.body);
    }
}

/// The `matrix listen` examples: the bots run until stopped, once they did their job; the
/// others end by themselves. @admin plays the human.
fn listening(ex: &Examples, hs: &Synapse, admin_token: &str, ops: &str) {
    let within = Duration::from_secs(20);
    // The bot joins what it is invited to.
    let room_id = hs.call(
        admin_token,
        "POST",
        "createRoom",
        &json!({"name": "Ping room", "invite": ["@bot:localhost"]}),
    )["room_id"]
        .as_str()
        .expect("a room")
        .to_owned();
    ex.run_until_stopped(
        "matrix listen --invites --session bot | each {|e| try { if $e.type == invite { $e | matrix join --session bot } } catch {|err| print -e $err.msg } }",
        || {
            wait_until(within, || {
                hs.call(admin_token, "GET", &format!("rooms/{room_id}/joined_members"), &json!({}))
                    ["joined"]
                    .get("@bot:localhost")
                    .is_some()
            })
        },
    );
    // The bot answers !ping.
    ex.run_until_stopped(
        "matrix listen --session bot | where msgtype == 'm.text' and body == '!ping' | each {|m| try { 'pong' | matrix send $m.room_id --notice --session bot } catch {|e| print -e $e.msg } }",
        || {
            std::thread::sleep(Duration::from_secs(1));
            hs.send_text(admin_token, &room_id, "!ping");
            wait_until(within, || {
                let page = hs.call(
                    admin_token,
                    "GET",
                    &format!("rooms/{room_id}/messages?dir=b&limit=5"),
                    &json!({}),
                );
                page["chunk"].as_array().is_some_and(|events| {
                    events.iter().any(|event| {
                        event["sender"] == "@bot:localhost" && event["content"]["body"] == "pong"
                    })
                })
            });
            // And in an encrypted DM a person (matrix-nio) opens with the bot: the row comes
            // decrypted, the pong goes encrypted. A first !ping may go out before the bot's
            // device has its keys on the server; it is asked again.
            let human = Nio::login(hs, "exhuman");
            let dm = human.create_dm("@bot:localhost");
            let bot_token = hs.login("@bot:localhost", PW);
            hs.call(&bot_token, "POST", &format!("join/{dm}"), &json!({}));
            let answered = (0..6).any(|_| {
                human.send(&dm, "!ping");
                human.try_read_until(&dm, "pong", 5).is_some_and(|seen| {
                    seen.iter()
                        .any(|m| m["body"] == "pong" && m["decrypted"] == true)
                })
            });
            assert!(answered, "no encrypted pong in the DM");
        },
    );
    // #ops has @admin in it since `answering`.
    // Messages until the listener has its three and ends (however long it takes to start).
    let listened = ex.run_while(
        "matrix listen '#ops:example.org' --limit 3 | select sender body",
        "table<sender: string, body: string>",
        |nu| {
            let started = std::time::Instant::now();
            let mut n = 0;
            while !nu.has_ended() {
                assert!(started.elapsed() < Duration::from_secs(60), "never ended");
                hs.send_text(admin_token, ops, &format!("tick {n}"));
                n += 1;
                std::thread::sleep(Duration::from_millis(300));
            }
        },
    );
    assert_eq!(listened.json.as_array().map(Vec::len), Some(3));
    // What came since the last run, once.
    ex.prepare(
        "matrix listen --session bot --since saved --once | ignore",
        "",
    );
    hs.send_text(admin_token, ops, "while away");
    let missed = ex.run(
        "matrix listen --session bot --since saved --once | select time room sender body",
        "",
        "table<time: datetime, room: string, sender: string, body: string>",
    );
    assert_eq!(missed.json[0]["body"], "while away", "{}", missed.json);
    assert_eq!(missed.json[0]["room"], "#ops:localhost");
    // A bot that acks what it handled: the saved position moves past what it acked.
    ex.run_until_stopped(
        "matrix listen --session bot --since saved --ack | each {|m| print $m.body; $m | matrix listen ack | ignore }",
        || {
            std::thread::sleep(Duration::from_secs(2));
            hs.send_text(admin_token, ops, "acked");
            std::thread::sleep(Duration::from_secs(2));
        },
    );
    hs.send_text(admin_token, ops, "after the acked");
    let after = ex.run(
        "matrix listen --session bot --since saved --once | select time room sender body",
        "",
        "table<time: datetime, room: string, sender: string, body: string>",
    );
    assert_eq!(
        after.json[0]["body"], "after the acked",
        "an acked message came again"
    );
    assert_eq!(
        after.json.as_array().map(Vec::len),
        Some(1),
        "{}",
        after.json
    );
}

/// The answers of `matrix send`, `react`, `edit`, `redact`, and the rows that show them, in
/// #ops (the bot's room, @admin invited); #ops' room ID.
fn answering(ex: &Examples, hs: &Synapse, admin_token: &str) -> String {
    ex.prepare(
        "let ops = (matrix api 'directory/room/#ops:localhost').room_id
        matrix api $'rooms/($ops)/invite' --data {user_id: '@admin:localhost'} | ignore",
        "",
    );
    hs.call(admin_token, "POST", "join/%23ops:localhost", &json!({}));
    let ops = hs.call(
        admin_token,
        "GET",
        "directory/room/%23ops:localhost",
        &json!({}),
    )["room_id"]
        .as_str()
        .expect("#ops")
        .to_owned();
    let mentioned = ex.run(
        "matrix send '#ops:example.org' 'db1 is down' --mention ['@alice:example.org']",
        "",
        SENT,
    );
    let event = |id: &JsonValue| {
        hs.call(
            admin_token,
            "GET",
            &format!("rooms/{ops}/event/{}", id.as_str().unwrap()),
            &json!({}),
        )
    };
    assert_eq!(
        event(&mentioned.json["event_id"])["content"]["m.mentions"],
        json!({"user_ids": ["@alice:localhost"]})
    );
    let reacted = ex.run(
        "let asked = (matrix send '#ops:example.org' 'deploy v2 now?'); matrix react $asked.room_id $asked.event_id 🚀 --session bot",
        "",
        SENT,
    );
    let reaction = event(&reacted.json["event_id"]);
    assert_eq!(reaction["type"], "m.reaction");
    assert_eq!(reaction["content"]["m.relates_to"]["key"], "🚀");
    let edited = ex.run(
        "let sent = (matrix send '#ops:example.org' 'deploying…' --session bot); matrix edit $sent.room_id $sent.event_id 'deployed ✅' --session bot",
        "",
        SENT,
    );
    let edit = event(&edited.json["event_id"]);
    assert_eq!(edit["content"]["m.new_content"]["body"], "deployed ✅");
    assert_eq!(edit["content"]["m.relates_to"]["rel_type"], "m.replace");
    // The newest message of the bot is that edit: editing it edits the original again.
    let fixed = ex.run(
        "matrix messages '#ops:example.org' --session bot | where sender == '@bot:example.org' | first | matrix edit '**fixed**' --markdown --session bot",
        "",
        SENT,
    );
    let fix = event(&fixed.json["event_id"]);
    assert_eq!(
        fix["content"]["m.relates_to"]["event_id"], edit["content"]["m.relates_to"]["event_id"],
        "the second edit replaces the original, not the first edit"
    );
    assert_eq!(
        fix["content"]["m.new_content"]["formatted_body"],
        "<p><strong>fixed</strong></p>"
    );
    let thumbs = hs.call(
        admin_token,
        "PUT",
        &format!("rooms/{ops}/send/m.reaction/thumbs1"),
        &json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": reacted.json["event_id"], "key": "👍"}}),
    );
    assert!(thumbs["event_id"].is_string());
    let counted = ex.run(
        "matrix messages '#ops:example.org' --type m.reaction --limit 100 | where relation.key == '👍' | length",
        "",
        "int",
    );
    assert_eq!(counted.json, 1);
    ex.file("report.pdf", "%PDF-1.4 uptime 99.9%");
    let filed = ex.run(
        "open --raw report.pdf | matrix send '#ops:example.org' --file report.pdf --session bot",
        "",
        SENT,
    );
    let file = event(&filed.json["event_id"]);
    assert_eq!(file["content"]["msgtype"], "m.file");
    assert_eq!(file["content"]["info"]["mimetype"], "application/pdf");
    ex.run(
        "matrix messages '#ops:example.org' --session bot | where msgtype == 'm.file' | first | matrix download --session bot | save --raw -f saved.pdf",
        "",
        "nothing",
    );
    assert_eq!(
        std::fs::read_to_string(ex.dir.join("saved.pdf")).expect("the saved file"),
        "%PDF-1.4 uptime 99.9%"
    );
    let taken_back = ex.run(
        "let sent = (matrix send '#ops:example.org' 'wrong room, sorry'); matrix redact $sent.room_id $sent.event_id --reason 'wrong room'",
        "",
        SENT,
    );
    assert_eq!(
        event(&taken_back.json["event_id"])["type"],
        "m.room.redaction"
    );
    hs.send_text(admin_token, &ops, "the password is hunter2");
    let redacted = ex.run(
        "matrix messages '#ops:example.org' --session bot | where body != null and body =~ 'password' | each { matrix redact --reason 'secret pasted' --session bot }",
        "",
        "table<event_id: string, room_id: string, txn_id: string>",
    );
    assert_eq!(redacted.json.as_array().map(Vec::len), Some(1));
    let page = hs.call(
        admin_token,
        "GET",
        &format!("rooms/{ops}/messages?dir=b&limit=30"),
        &json!({}),
    );
    let pasted = page["chunk"]
        .as_array()
        .and_then(|events| {
            events
                .iter()
                .find(|e| e["unsigned"]["redacted_because"]["content"]["reason"] == "secret pasted")
        })
        .expect("the pasted password redacted");
    assert!(pasted["content"].get("body").is_none());

    // The bots: a !ping in a thread gets its pong in the thread, as a reply; !deploy a 👀.
    let within = Duration::from_secs(20);
    let latest_of_bot = || {
        let page = hs.call(
            admin_token,
            "GET",
            &format!("rooms/{ops}/messages?dir=b&limit=10"),
            &json!({}),
        );
        page["chunk"]
            .as_array()
            .and_then(|events| {
                events
                    .iter()
                    .find(|e| e["sender"] == "@bot:localhost")
                    .cloned()
            })
            .unwrap_or_default()
    };
    ex.run_until_stopped(
        "matrix listen --session bot | where body == '!ping' | each { matrix send pong --reply --session bot }",
        || {
            std::thread::sleep(Duration::from_secs(1));
            let root = hs.send_text(admin_token, &ops, "a thread");
            let ping = hs.call(
                admin_token,
                "PUT",
                &format!("rooms/{ops}/send/m.room.message/ping1"),
                &json!({"msgtype": "m.text", "body": "!ping", "m.relates_to": {
                    "rel_type": "m.thread", "event_id": root, "is_falling_back": true,
                    "m.in_reply_to": {"event_id": root}}}),
            )["event_id"]
                .as_str()
                .expect("the !ping")
                .to_owned();
            wait_until(within, || latest_of_bot()["content"]["body"] == "pong");
            let relates = &latest_of_bot()["content"]["m.relates_to"];
            assert_eq!(relates["rel_type"], "m.thread", "{relates}");
            assert_eq!(relates["event_id"], root.as_str());
            assert_eq!(relates["is_falling_back"], false);
            assert_eq!(relates["m.in_reply_to"]["event_id"], ping.as_str());
            assert_eq!(
                latest_of_bot()["content"]["m.mentions"],
                json!({"user_ids": ["@admin:localhost"]})
            );
        },
    );
    ex.run_until_stopped(
        "matrix listen --session bot | where body == '!deploy' | each { matrix react 👀 --session bot }",
        || {
            std::thread::sleep(Duration::from_secs(1));
            let asked = hs.send_text(admin_token, &ops, "!deploy");
            wait_until(within, || {
                let reaction = latest_of_bot();
                reaction["type"] == "m.reaction"
                    && reaction["content"]["m.relates_to"]["event_id"] == asked.as_str()
                    && reaction["content"]["m.relates_to"]["key"] == "👀"
            });
        },
    );
    ops
}

/// Waits until `done` (asked every 200 ms); fails after `within`.
fn wait_until(within: Duration, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < within, "not done within {within:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
