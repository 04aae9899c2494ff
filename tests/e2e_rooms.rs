//! Using a session in pipelines: `matrix api`, rooms, sending and reading messages, in the real
//! nu against the real Synapse.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// More messages than one page (Synapse gives at most 1,000): the rows go on across pages, in
/// order, and a limit or `first` stops where asked.
#[test]
fn messages_stream_page_by_page() {
    let (as_user, user_id) = user_with_session("pages");
    let hs = synapse();
    let run = as_user("matrix api createRoom --data {} | get room_id");
    assert!(run.success, "{}", run.stderr);
    let room_id = run.stdout.trim().to_owned();
    let token = hs.login(&user_id, "pw-pages-42");
    for i in 1..=1030 {
        hs.send_text(&token, &room_id, &format!("m{i}"));
    }
    let run = as_user(&format!(
        "{{limited: (matrix messages '{room_id}' --limit 120 | length), \
          all: (matrix messages '{room_id}' --limit 2000 | length), \
          newest: (matrix messages '{room_id}' --limit 2000 | first | get body), \
          oldest: (matrix messages '{room_id}' --limit 2000 | last | get body), \
          first3: (matrix messages '{room_id}' --limit 2000 | first 3 | get body)}} | to json"
    ));
    assert!(run.success, "{}", run.stderr);
    let out = json(&run.stdout);
    assert_eq!(out["limited"], 120);
    assert_eq!(out["all"], 1030);
    assert_eq!(out["newest"], "m1030");
    assert_eq!(out["oldest"], "m1");
    assert_eq!(
        out["first3"],
        serde_json::json!(["m1030", "m1029", "m1028"])
    );
}

#[test]
fn an_encrypted_room_gets_encrypted_messages_and_unknown_rooms_are_named() {
    let (as_user, _) = user_with_session("e2ee");
    let run = as_user(
        "matrix api createRoom --data {initial_state: [{type: m.room.encryption, state_key: '', \
         content: {algorithm: m.megolm.v1.aes-sha2}}]} | get room_id",
    );
    assert!(run.success, "{}", run.stderr);
    let room_id = run.stdout.trim().to_owned();
    let run = as_user(&format!(
        "let sent = ('secret plans' | matrix send '{room_id}')
         let raw = (matrix api $'rooms/{room_id}/event/($sent.event_id)')
         let read = (matrix messages '{room_id}' | get 0)
         [$raw.type ($raw.content | columns | sort | str join ,) $read.body $read.encrypted] | to json -r"
    ));
    assert!(run.success, "{}", run.stderr);
    // The server has ciphertext only; the sender's own device reads it back.
    assert_eq!(
        run.stdout.trim(),
        r#"["m.room.encrypted","algorithm,ciphertext,device_id,sender_key,session_id","secret plans",true]"#
    );
    let run = as_user(&format!(
        "matrix rooms | where room_id == '{room_id}' | get 0.encrypted"
    ));
    assert_eq!(run.stdout.trim(), "true", "{}", run.stderr);
    // A room with no name, alias or encryption is listed too.
    let run = as_user(
        "let room = (matrix api createRoom --data {} | get room_id)
         matrix rooms | where room_id == $room | reject room_id | to json -r",
    );
    assert_eq!(
        run.stdout.trim(),
        r#"[{"alias":null,"name":null,"members":1,"encrypted":false}]"#,
        "{}",
        run.stderr
    );

    let run = as_user("matrix send '#nowhere-at-all:localhost' hello");
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(text.contains("No room #nowhere-at-all:localhost"), "{text}");
}

/// On a server without simplified sliding sync, `matrix rooms` lists from a filtered `/sync`:
/// the same rows, the second time too (when the plugin knows to ask for that alone).
#[test]
fn rooms_are_listed_by_a_server_without_sliding_sync() {
    let hs = support::synapse_with_registration_tokens();
    let user_id = hs.register(&unique_user("older"), "pw-Older-42");
    let token = hs.login(&user_id, "pw-Older-42");
    let alias_name = unique_user("oldops");
    let named = hs.call(
        &token,
        "POST",
        "createRoom",
        &serde_json::json!({"name": "Ops", "room_alias_name": alias_name}),
    )["room_id"]
        .as_str()
        .expect("a room ID")
        .to_owned();
    let encrypted = hs.call(
        &token,
        "POST",
        "createRoom",
        &serde_json::json!({"initial_state": [{"type": "m.room.encryption", "state_key": "",
            "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]}),
    )["room_id"]
        .as_str()
        .expect("a room ID")
        .to_owned();
    let run = support::nu_pw(
        &format!(
            "let s = ($env.PW | matrix token import -H {})
             let rows = {{ $s | matrix rooms | sort-by room_id | to json -r }}
             print (do $rows)
             print (do $rows)",
            hs.url
        ),
        &token,
    );
    assert!(run.success, "{}", run.stderr);
    let mut rows = vec![
        serde_json::json!({"room_id": named, "alias": format!("#{alias_name}:localhost"),
            "name": "Ops", "members": 1, "encrypted": false}),
        serde_json::json!({"room_id": encrypted, "alias": null, "name": null, "members": 1,
            "encrypted": true}),
    ];
    rows.sort_by_key(|row| row["room_id"].as_str().unwrap_or_default().to_owned());
    let lines: Vec<JsonValue> = run.stdout.lines().map(json).collect();
    let expected = JsonValue::Array(rows);
    assert_eq!(lines, [expected.clone(), expected], "{}", run.stderr);
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

/// A relay to Synapse that loses the answer to the first message send: it passes the request
/// on, then closes the connection instead of answering. Counts the sends it saw.
fn relay_losing_first_send_answer(upstream: &str) -> (String, std::sync::Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sends = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = sends.clone();
    let upstream = upstream.to_owned();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let (upstream, counter) = (upstream.clone(), counter.clone());
            std::thread::spawn(move || {
                let mut client = client;
                let mut server = TcpStream::connect(&upstream).expect("Synapse");
                while let Some(request) = read_message(&mut client) {
                    let is_send = request.starts_with(b"PUT ")
                        && String::from_utf8_lossy(&request).contains("/send/m.room.message/");
                    server.write_all(&request).expect("to Synapse");
                    let Some(answer) = read_message(&mut server) else {
                        break;
                    };
                    if is_send && counter.fetch_add(1, Ordering::SeqCst) == 0 {
                        break; // the answer is lost
                    }
                    if client.write_all(&answer).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (url, sends)
}

/// One HTTP/1.1 message as it came (head, and a Content-Length or chunked body), or `None` at
/// the end of the stream.
fn read_message(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut message = read_line_until(stream, b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&message).to_ascii_lowercase();
    if head.contains("transfer-encoding: chunked") {
        loop {
            let size_line = read_line_until(stream, b"\r\n")?;
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&size_line)
                    .trim()
                    .split(';')
                    .next()?,
                16,
            )
            .ok()?;
            message.extend(size_line);
            let mut chunk = vec![0u8; size + 2];
            stream.read_exact(&mut chunk).ok()?;
            message.extend(chunk);
            if size == 0 {
                return Some(message);
            }
        }
    }
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).ok()?;
    message.extend(body);
    Some(message)
}

/// Bytes up to and including `end`.
fn read_line_until(stream: &mut TcpStream, end: &[u8]) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    while !bytes.ends_with(end) {
        if stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        bytes.push(byte[0]);
    }
    Some(bytes)
}

#[test]
fn a_send_whose_answer_is_lost_is_repeated_once_and_posted_once() {
    let hs = synapse();
    let password = "pw-lossy-42";
    let user_id = hs.register(&unique_user("lossy"), password);
    let upstream = hs.url.trim_start_matches("http://").to_owned();
    let (relay, sends) = relay_losing_first_send_answer(&upstream);
    let run = support::nu_pw(
        &format!(
            // The login answer names Synapse itself (well_known), so the session is made
            // for the relay with token import.
            "let s = ($env.PW | matrix login {user_id} -H {} | matrix token reveal | get access_token \
               | matrix token import -H {relay}); \
             let room = ($s | matrix api createRoom --data {{}} | get room_id); \
             let sent = ($s | matrix send $room 'exactly once'); \
             {{event: $sent.event_id, bodies: ($s | matrix messages $room | get body)}} | to json",
            hs.url
        ),
        password,
    );
    assert!(run.success, "{}", run.stderr);
    let out = json(&run.stdout);
    assert!(out["event"].as_str().unwrap().starts_with('$'), "{out}");
    assert_eq!(out["bodies"], serde_json::json!(["exactly once"]));
    assert_eq!(sends.load(Ordering::SeqCst), 2, "the send was not repeated");
}

/// Tab after `matrix send` and `matrix devices delete` at a real nu prompt offers the joined
/// rooms and the devices, asked of the homeserver; a silent homeserver gives nothing, fast.
#[test]
fn rooms_and_devices_complete_at_the_prompt_and_a_silent_server_gives_nothing_fast() {
    use std::time::{Duration, Instant};
    let hs = synapse();
    let password = "pw-Complete-42";
    let user_id = hs.register(&unique_user("completer"), password);
    let config = scratch(&format!("rooms-{}", unique_user("completer")));
    let setup = support::nu_cfg(
        &format!(
            "$env.PW | matrix login {user_id} -H {} --save me --device-id COMPLDEV1 | ignore
            matrix api createRoom --data {{name: 'Completion Room'}} | get room_id",
            hs.url
        ),
        &config,
        password,
    );
    assert!(setup.success, "{}", setup.stderr);
    let room_id = setup.stdout.trim().to_owned();
    let terminal = support::pty::Terminal::nu_prompt(&config, "pty-room-completion");
    let within = Duration::from_secs(10);
    // Rooms from the server, rooms kept, devices. (How long they take: scripts/bench.)
    for (line, shown) in [
        ("matrix send !", format!("send {room_id}")),
        ("\x03matrix join !", format!("join {room_id}")),
        (
            "\x03matrix devices delete COMPL",
            "delete COMPLDEV1".to_owned(),
        ),
    ] {
        terminal.tab_completes(line, &shown, within);
    }
    terminal.tab_completes(
        "\x03matrix devices rename COMPL",
        "rename COMPLDEV1",
        within,
    );
    // The saved session's homeserver goes silent: accepts, never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let silent_url = format!("http://{}", silent.local_addr().expect("an address"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            held.push(stream);
        }
    });
    let file = config.join("nu_plugin_matrix/sessions.json");
    let text = std::fs::read_to_string(&file).expect("the session file");
    std::fs::write(&file, text.replace(&hs.url, &silent_url)).expect("written");
    terminal.type_keys(b"\x03matrix devices rename X");
    terminal.wait_for("rename X", within);
    // The menu says it found nothing once the completion gave up.
    let started = Instant::now();
    terminal.type_keys(b"\t");
    terminal.wait_for("NO RECORDS FOUND", within);
    let waited = started.elapsed();
    // Given up by the completion's own bound (0.7 s), not by the request's time-out (30 s),
    // with room to spare on a loaded machine.
    assert!(
        waited < Duration::from_secs(10),
        "a silent homeserver held the completion {waited:?}"
    );
    terminal.type_keys(b"\x03exit\r");
    let (exited, screen) = terminal.finish(within);
    assert!(exited, "nu did not exit cleanly: {screen}");
}

/// The columns each table command's help names are those of a real row (`matrix rooms`,
/// `messages`, `devices`, `listen`).
#[test]
fn the_columns_help_names_are_a_real_rows() {
    let (as_user, _) = user_with_session("columns");
    let run = as_user(
        "let room = (matrix api createRoom --data {name: 'Columns'} | get room_id)
         let since = (matrix api sync --query {timeout: 0, filter: '{\"room\":{\"timeline\":{\"limit\":1}}}'} | get next_batch)
         matrix send $room 'a row' | ignore
         {
             'matrix rooms': (matrix rooms | columns),
             'matrix messages': (matrix messages $room | columns),
             'matrix devices': (matrix devices | columns),
             'matrix listen': (matrix listen --own --since $since --once | first | columns)
         } | to json --raw",
    );
    assert!(run.success, "{}", run.stderr);
    let real = json(&run.stdout);
    let tables = support::table_columns();
    assert_eq!(tables.len(), 4, "a new table command: add it here");
    for (name, named, _) in tables {
        assert_eq!(
            real[name.as_str()],
            serde_json::json!(named),
            "`help {name}` names other columns than a real row has"
        );
    }
}
