//! Using a session in pipelines: `matrix api`, rooms, sending and reading messages, in the real
//! nu against the real Synapse.

mod support;

use serde_json::Value as JsonValue;

/// The Rust example, compiled into this test so that it is always current.
#[path = "../examples/notify.rs"]
mod notify_example;
use support::{NuRun, scratch, synapse, unique_user};

fn json(text: &str) -> JsonValue {
    serde_json::from_str(text.trim()).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

/// A user with a saved default session (named `me`) in its own config folder; returns a runner
/// for scripts with that folder, and the user ID.
fn user_with_session(prefix: &str) -> (impl Fn(&str) -> NuRun, String) {
    let hs = synapse();
    let password = format!("pw-{prefix}-42");
    let user_id = hs.register(&unique_user(prefix), &password);
    let config = scratch(&format!("rooms-{}", unique_user(prefix)));
    let login = support::nu_cfg(
        &format!(
            "$env.PW | matrix login {user_id} -H {} --save me | ignore",
            hs.url
        ),
        &config,
        &password,
    );
    assert!(login.success, "{}", login.stderr);
    let run = move |script: &str| support::nu_cfg(script, &config, "");
    (run, user_id)
}

#[test]
fn api_calls_any_endpoint_with_the_session() {
    let hs = synapse();
    let (as_user, user_id) = user_with_session("api");
    let run = as_user(
        "{me: (matrix api account/whoami), raw: (matrix api account/whoami --raw | describe), \
          text: (matrix api account/whoami --raw | from json | get user_id)} | to json",
    );
    assert!(run.success, "{}", run.stderr);
    let out = json(&run.stdout);
    assert_eq!(out["me"]["user_id"], user_id.as_str());
    assert_eq!(out["raw"], "string");
    assert_eq!(out["text"], user_id.as_str());

    // An unknown endpoint: the labelled error points at the path.
    let run = as_user("matrix api no/such/endpoint");
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(
        text.contains("The homeserver does not know this endpoint"),
        "{text}"
    );
    assert!(text.contains("404 M_UNRECOGNIZED"), "{text}");

    // An admin endpoint: refused for a plain user, answered for an admin.
    let admin_path = format!("/_synapse/admin/v2/users/{user_id}");
    let run = as_user(&format!("matrix api '{admin_path}'"));
    assert!(!run.success);
    assert!(
        run.stderr_folded().contains("M_FORBIDDEN"),
        "{}",
        run.stderr
    );
    let admin_password = "admin-pw-42";
    let admin = hs.register_admin(&unique_user("apiadmin"), admin_password);
    let run = support::nu_with(
        &format!(
            "$env.T | matrix token import -H {} | matrix api '{admin_path}' | select name admin | to json",
            hs.url
        ),
        |command| {
            command.env("T", &admin);
        },
    );
    assert!(run.success, "{}", run.stderr);
    let out = json(&run.stdout);
    assert_eq!(out["name"], user_id.as_str());
    assert_eq!(out["admin"], false);
    assert!(!run.all().contains(&admin[4..]), "the admin token leaked");
}

#[test]
fn rooms_join_send_and_read_back_in_pipelines() {
    let (as_alice, alice) = user_with_session("alice");
    let (as_bob, bob) = user_with_session("bob");
    let alias_name = unique_user("ops");
    let alias = format!("#{alias_name}:localhost");
    // Alice creates the room through `matrix api` (a POST, since there is data).
    let run = as_alice(&format!(
        "matrix api createRoom --data {{name: 'Ops', room_alias_name: '{alias_name}', preset: public_chat}} | get room_id"
    ));
    assert!(run.success, "{}", run.stderr);
    let room_id = run.stdout.trim().to_owned();
    assert!(room_id.starts_with('!'), "{room_id}");
    // The alias goes into the path as it is: `#` and `:` are encoded for it.
    let run = as_bob(&format!(
        "matrix api 'directory/room/{alias}' | get room_id"
    ));
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), room_id);

    // Bob joins by alias, then both send: from the pipeline, and as Markdown notice.
    let run = as_bob(&format!("matrix join '{alias}' | get room_id"));
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), room_id);
    let run = as_alice(&format!(
        "\"backup done\\n\" | matrix send '{alias}' | to json"
    ));
    assert!(run.success, "{}", run.stderr);
    let sent = json(&run.stdout);
    assert!(
        sent["event_id"].as_str().unwrap().starts_with('$'),
        "{sent}"
    );
    assert_eq!(sent["room_id"], room_id.as_str());
    let run = as_bob(&format!(
        "matrix send '{room_id}' '**disk 91%** on `db1`' --markdown --notice | get event_id"
    ));
    assert!(run.success, "{}", run.stderr);

    // Read back, newest first, with dates.
    let run = as_alice(&format!(
        "matrix messages '{alias}' --limit 5 | each {{|m| $m | update time ($m.time | describe)}} | to json"
    ));
    assert!(run.success, "{}", run.stderr);
    let messages = json(&run.stdout);
    let messages = messages.as_array().expect("a list");
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["sender"], bob.as_str());
    assert_eq!(messages[0]["msgtype"], "m.notice");
    assert_eq!(messages[0]["body"], "**disk 91%** on `db1`");
    assert_eq!(messages[0]["time"], "datetime");
    assert_eq!(messages[1]["sender"], alice.as_str());
    assert_eq!(messages[1]["msgtype"], "m.text");
    assert_eq!(messages[1]["body"], "backup done");
    // The HTML went along.
    let run = as_alice(&format!(
        "matrix api 'rooms/{room_id}/event/{}' | get content.formatted_body",
        messages[0]["event_id"].as_str().unwrap()
    ));
    assert!(run.success, "{}", run.stderr);
    assert!(
        run.stdout.contains("<strong>disk 91%</strong>"),
        "{}",
        run.stdout
    );

    // Both list the room, with its alias, name and two members.
    let run = as_bob(&format!(
        "matrix rooms | where room_id == '{room_id}' | first | to json"
    ));
    assert!(run.success, "{}", run.stderr);
    let room = json(&run.stdout);
    assert_eq!(room["alias"], alias.as_str());
    assert_eq!(room["name"], "Ops");
    assert_eq!(room["members"], 2);
    assert_eq!(room["encrypted"], false);
}

#[test]
fn a_send_repeated_with_the_same_transaction_id_is_sent_once() {
    let (as_user, _) = user_with_session("txn");
    let run = as_user("matrix api createRoom --data {} | get room_id");
    assert!(run.success, "{}", run.stderr);
    let room_id = run.stdout.trim().to_owned();
    let run = as_user(&format!(
        "let a = (matrix send '{room_id}' 'once' --txn-id retry-1); \
         let b = (matrix send '{room_id}' 'once' --txn-id retry-1); \
         let c = (matrix send '{room_id}' 'twice'); \
         {{same: ($a.event_id == $b.event_id), other: ($a.event_id != $c.event_id), \
          count: (matrix messages '{room_id}' | length)}} | to json"
    ));
    assert!(run.success, "{}", run.stderr);
    let out = json(&run.stdout);
    assert_eq!(out["same"], true);
    assert_eq!(out["other"], true);
    assert_eq!(out["count"], 2);
}

#[test]
fn messages_stream_page_by_page() {
    let (as_user, _) = user_with_session("pages");
    let run = as_user("matrix api createRoom --data {} | get room_id");
    assert!(run.success, "{}", run.stderr);
    let room_id = run.stdout.trim().to_owned();
    let run = as_user(&format!(
        "for i in 1..130 {{ matrix send '{room_id}' $'m($i)' | ignore }}; \
         {{limited: (matrix messages '{room_id}' --limit 120 | length), \
          all: (matrix messages '{room_id}' --limit 1000 | length), \
          newest: (matrix messages '{room_id}' --limit 1000 | first | get body), \
          oldest: (matrix messages '{room_id}' --limit 1000 | last | get body), \
          first3: (matrix messages '{room_id}' --limit 1000 | first 3 | get body)}} | to json"
    ));
    assert!(run.success, "{}", run.stderr);
    let out = json(&run.stdout);
    assert_eq!(out["limited"], 120);
    assert_eq!(out["all"], 130);
    assert_eq!(out["newest"], "m130");
    assert_eq!(out["oldest"], "m1");
    assert_eq!(out["first3"], serde_json::json!(["m130", "m129", "m128"]));
}

#[test]
fn an_encrypted_room_is_refused_and_unknown_rooms_are_named() {
    let (as_user, _) = user_with_session("e2ee");
    let run = as_user(
        "matrix api createRoom --data {initial_state: [{type: m.room.encryption, state_key: '', \
         content: {algorithm: m.megolm.v1.aes-sha2}}]} | get room_id",
    );
    assert!(run.success, "{}", run.stderr);
    let room_id = run.stdout.trim().to_owned();
    let run = as_user(&format!("'secret plans' | matrix send '{room_id}'"));
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(text.contains("This room is end-to-end encrypted"), "{text}");
    assert!(text.contains("does not encrypt"), "{text}");
    // Nothing was sent.
    let run = as_user(&format!("matrix messages '{room_id}' | length"));
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "0");
    let run = as_user(&format!(
        "matrix rooms | where room_id == '{room_id}' | get 0.encrypted"
    ));
    assert_eq!(run.stdout.trim(), "true", "{}", run.stderr);

    let run = as_user("matrix send '#nowhere-at-all:localhost' hello");
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(text.contains("No room #nowhere-at-all:localhost"), "{text}");
}

#[test]
fn the_rust_example_notifies_a_room() {
    let hs = synapse();
    let (as_user, user_id) = user_with_session("notify");
    let alias_name = unique_user("alerts");
    let run = as_user(&format!(
        "matrix api createRoom --data {{room_alias_name: '{alias_name}'}} | get room_id"
    ));
    assert!(run.success, "{}", run.stderr);
    let token = hs.login(&user_id, "pw-notify-42");
    let token = nu_plugin_matrix::AccessToken::new(token);
    let alias = format!("#{alias_name}:localhost");
    let event_id = notify_example::notify(&hs.url, &token, &alias, "**done**").expect("sent");
    assert!(event_id.starts_with('$'), "{event_id}");
    let run = as_user(&format!(
        "matrix messages '{alias}' --limit 1 | get 0 | select msgtype body | to json"
    ));
    assert!(run.success, "{}", run.stderr);
    let message = json(&run.stdout);
    assert_eq!(message["msgtype"], "m.notice");
    assert_eq!(message["body"], "**done**");
    let err = notify_example::notify(&hs.url, &token, "not-a-room", "x").expect_err("refused");
    assert!(err.to_string().contains("not a room ID or alias"), "{err}");
}
