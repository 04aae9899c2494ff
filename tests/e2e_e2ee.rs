//! End-to-end encryption against real parts: Synapse, the real nu, and matrix-nio (with its
//! encryption extra) as the other person in an encrypted direct chat.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::Value as JsonValue;
use support::bot::{Bot, dm, row_of};
use support::nio::Nio;
use support::{Running, synapse, unique_user};

#[test]
fn a_bot_reads_and_answers_an_encrypted_dm_and_reads_its_history() {
    let bot = Bot::new("e2bot");
    let nio = Nio::login(synapse(), "e2human");
    let room = dm(&bot, &nio);

    let mut listener = bot.listen("--since saved");
    let sent = nio.send(&room, "hello bot");
    let row = row_of(&listener.line_with(&sent, Duration::from_secs(30)));
    assert_eq!(row["body"], "hello bot", "{row}");
    assert_eq!(row["type"], "m.room.message");
    assert_eq!(row["msgtype"], "m.text");
    assert_eq!(row["encrypted"], true);
    assert_eq!(row["verified"], false); // nio has no cross-signing
    assert_eq!(row["decrypt_error"], JsonValue::Null);
    listener.interrupt();
    listener.finish(Duration::from_secs(10));

    let answer = bot.json(&format!("matrix send '{room}' 'hello human' --session bot"));
    let seen = nio.read_until(&room, "hello human", 30);
    let mine = seen
        .iter()
        .find(|message| message["event_id"] == answer["event_id"])
        .unwrap_or_else(|| panic!("{seen:?}"));
    assert_eq!(mine["decrypted"], true, "{mine}");
    assert_eq!(mine["sender"], bot.user_id.as_str());

    let history = bot.json(&format!(
        "matrix messages '{room}' --session bot | select body encrypted decrypt_error"
    ));
    assert_eq!(
        history,
        serde_json::json!([
            {"body": "hello human", "encrypted": true, "decrypt_error": null},
            {"body": "hello bot", "encrypted": true, "decrypt_error": null},
        ])
    );
    // The server saw only ciphertext.
    let raw = bot.json(&format!(
        "matrix api 'rooms/{room}/event/{}' --session bot | select type content.algorithm",
        answer["event_id"].as_str().expect("event ID")
    ));
    assert_eq!(raw["type"], "m.room.encrypted");
    assert_eq!(raw["content.algorithm"], "m.megolm.v1.aes-sha2");
}

#[test]
fn a_new_plugin_process_reuses_the_store_and_a_later_device_gets_the_room_key() {
    let bot = Bot::new("e2keep");
    let nio = Nio::login(synapse(), "e2first");
    let room = dm(&bot, &nio);
    let before = bot.json("matrix e2ee status --session bot | select ed25519 store");
    let sent = nio.send(&room, "before the restart");
    // One nu: read, stop the plugin, then a new plugin process reads and sends.
    let after = bot.json(&format!(
        "let first = (matrix messages '{room}' --session bot | get 0.body)
         plugin stop matrix
         let status = (matrix e2ee status --session bot)
         let again = (matrix messages '{room}' --session bot | get 0)
         let answer = (matrix send '{room}' 'after the restart' --session bot)
         {{first: $first, again: $again.body, event: $again.event_id, ed25519: $status.ed25519,
           store: $status.store, answer: $answer.event_id}}"
    ));
    assert_eq!(after["first"], "before the restart");
    assert_eq!(after["again"], "before the restart");
    assert_eq!(after["event"], sent.as_str());
    assert_eq!(after["ed25519"], before["ed25519"], "the store was remade");
    assert_eq!(after["store"], before["store"]);
    assert_eq!(bot.stores().len(), 1);
    let seen = nio.read_until(&room, "after the restart", 30);
    assert!(
        seen.iter()
            .any(|m| m["body"] == "after the restart" && m["decrypted"] == true),
        "{seen:?}"
    );

    // A second person joins later: the bot's next message reaches their device too.
    let later = Nio::login(synapse(), "e2later");
    bot.ok(&format!(
        "matrix api 'rooms/{room}/invite' --method POST --data {{user_id: '{}'}} --session bot | ignore",
        later.user_id
    ));
    later.join(&room);
    let next = bot.json(&format!(
        "matrix send '{room}' 'welcome, late one' --session bot"
    ));
    let seen = later.read_until(&room, "welcome, late one", 30);
    let welcome = seen
        .iter()
        .find(|m| m["event_id"] == next["event_id"])
        .unwrap_or_else(|| panic!("{seen:?}"));
    assert_eq!(welcome["decrypted"], true, "{welcome}");
}

#[test]
fn an_event_without_its_key_is_a_row_with_the_reason_and_the_stream_goes_on() {
    let bot = Bot::new("e2utd");
    let nio = Nio::login(synapse(), "e2sender");
    let room = dm(&bot, &nio);
    let mut listener = bot.listen("");
    // A Megolm event whose session no device ever shared with the bot.
    let hs = synapse();
    let stranger = hs.register(&unique_user("e2stranger"), "pw-stranger-1");
    let token = hs.login(&stranger, "pw-stranger-1");
    bot.ok(&format!(
        "matrix api 'rooms/{room}/invite' --method POST --data {{user_id: '{stranger}'}} --session bot | ignore"
    ));
    hs.call(
        &token,
        "POST",
        &format!("rooms/{room}/join"),
        &serde_json::json!({}),
    );
    let sealed = hs.call(
        &token,
        "PUT",
        &format!("rooms/{room}/send/m.room.encrypted/utd1"),
        &Nio::forged_megolm("nobody can read this"),
    )["event_id"]
        .as_str()
        .expect("sent")
        .to_owned();
    let row = row_of(&listener.line_with(&sealed, Duration::from_secs(30)));
    assert_eq!(row["type"], "m.room.encrypted", "{row}");
    assert_eq!(row["body"], JsonValue::Null);
    assert_eq!(row["encrypted"], true);
    let why = row["decrypt_error"].as_str().expect("a reason");
    assert!(why.contains("missing room key"), "{why}");
    // The stream goes on: the next message comes decrypted.
    let next = nio.send(&room, "still there?");
    let row = row_of(&listener.line_with(&next, Duration::from_secs(30)));
    assert_eq!(row["body"], "still there?");
    listener.interrupt();
    listener.finish(Duration::from_secs(10));
}

#[test]
fn a_listener_and_cron_sends_share_one_session_for_a_minute() {
    let bot = Bot::new("e2two");
    let nio = Nio::login(synapse(), "e2pair");
    let room = dm(&bot, &nio);
    let mut listener = bot.listen("--since saved");
    let started = std::time::Instant::now();
    let mut from_nio = Vec::new();
    let mut from_bot = Vec::new();
    let mut round = 0;
    while started.elapsed() < Duration::from_secs(60) {
        round += 1;
        // A cron job: a nu process of its own, with the same saved session.
        let sent = bot.json(&format!(
            "matrix send '{room}' 'cron {round}' --session bot"
        ));
        from_bot.push(sent["event_id"].as_str().expect("event ID").to_owned());
        from_nio.push(nio.send(&room, &format!("human {round}")));
        std::thread::sleep(Duration::from_secs(4));
    }
    assert!(round >= 8, "only {round} rounds in a minute");
    for event_id in &from_nio {
        let row = row_of(&listener.line_with(event_id, Duration::from_secs(30)));
        assert_eq!(row["encrypted"], true, "{row}");
        assert!(
            row["body"]
                .as_str()
                .is_some_and(|body| body.starts_with("human ")),
            "{row}"
        );
    }
    listener.interrupt();
    listener.finish(Duration::from_secs(10));
    let seen = nio.read_until(&room, &format!("cron {round}"), 30);
    for event_id in &from_bot {
        let message = seen
            .iter()
            .find(|m| m["event_id"] == event_id.as_str())
            .unwrap_or_else(|| panic!("{event_id} not seen: {seen:?}"));
        assert_eq!(message["decrypted"], true, "{message}");
    }
}

/// The bytes of every file of a store.
fn store_bytes(store: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(store).expect("a store").flatten() {
        bytes.extend(std::fs::read(entry.path()).unwrap_or_default());
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[test]
fn the_store_keeps_no_plaintext_and_goes_with_the_device() {
    let bot = Bot::new("e2gone");
    let nio = Nio::login(synapse(), "e2secret");
    let room = dm(&bot, &nio);
    nio.send(&room, "the launch code is 0000-swordfish");
    bot.ok(&format!(
        "matrix send '{room}' 'the answer is tangerine-42' --session bot"
    ));
    let read = bot.ok(&format!(
        "matrix messages '{room}' --session bot | get body | str join ','"
    ));
    assert!(read.contains("swordfish"), "{read}");
    let [store] = bot.stores().try_into().expect("one store");
    let meta = std::fs::metadata(&store).expect("store");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o700
    );
    let bytes = store_bytes(&store);
    let key = bot.ok("open $'($env.XDG_CONFIG_HOME)/nu_plugin_matrix/sessions.json' | get sessions.bot.crypto_store_key");
    let token = bot.ok("matrix session get bot | get access_token | matrix token reveal");
    for secret in ["swordfish", "tangerine-42", key.as_str(), token.as_str()] {
        assert!(
            !contains(&bytes, secret.as_bytes()),
            "the store holds {secret:?} in the clear"
        );
    }

    // Logging out deletes the device's store.
    bot.ok("matrix logout --session bot | ignore");
    assert!(!store.exists(), "the store outlived its device");
}

#[test]
fn a_replaced_session_gets_its_own_store_and_a_store_of_a_lost_key_is_set_aside() {
    let bot = Bot::new("e2again");
    let nio = Nio::login(synapse(), "e2friend");
    let room = dm(&bot, &nio);
    let first = bot.json("matrix e2ee status --session bot | select store device_id ed25519");
    // A new login under the same name: a new device, a new store; the old one is not used.
    bot.login("bot", "");
    let second = bot.json("matrix e2ee status --session bot | select store device_id");
    assert_ne!(second["store"], first["store"]);
    let first_store = first["store"].as_str().expect("a path");
    assert!(
        Path::new(first_store).exists(),
        "nothing but a logout deletes a store"
    );
    // A new login of the same device (--device-id) is that device: its store and keys go on.
    let device = second["device_id"].as_str().expect("device");
    let before = bot.json("matrix e2ee status --session bot | select store ed25519");
    bot.login("bot", &format!("--device-id {device}"));
    let again = bot.json("matrix e2ee status --session bot | select store ed25519");
    assert_eq!(again, before);
    // The first device's key went with the session it replaced: a login that takes that
    // device back finds its store made under a key it does not have. It is set aside, named,
    // and not used.
    let first_device = first["device_id"].as_str().expect("device");
    bot.login("other", &format!("--device-id {first_device}"));
    let run = bot.nu(&format!(
        "matrix send '{room}' 'fresh keys?' --session other"
    ));
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(text.contains("was set aside"), "{text}");
    assert!(text.contains("without --device-id"), "{text}");
    let aside = bot
        .stores()
        .into_iter()
        .find(|store| store.to_string_lossy().contains(".set-aside-"))
        .unwrap_or_else(|| panic!("no store set aside: {:?}", bot.stores()));
    let name = aside
        .file_name()
        .and_then(|name| name.to_str())
        .expect("a name");
    assert!(text.replace(' ', "").contains(name), "{text}");
    assert!(!Path::new(first_store).exists());
}

#[test]
fn an_unsaved_session_a_damaged_store_and_a_held_lock_get_clear_errors() {
    let bot = Bot::new("e2bad");
    let nio = Nio::login(synapse(), "e2peer");
    let room = dm(&bot, &nio);
    // Unsaved: a clear error that says how to save it; nothing sent.
    let run = bot.nu(&format!(
        "let s = ($env.PW | matrix login {} -H {}); $s | matrix send '{room}' 'in the clear?'",
        bot.user_id,
        synapse().url
    ));
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(
        text.contains("End-to-end encryption needs a saved session"),
        "{text}"
    );
    assert!(text.contains("--save"), "{text}");

    // Held by another process: a bounded wait, then the holder named.
    let [store] = bot.stores().try_into().expect("one store");
    let mut holder = std::process::Command::new("python3");
    holder
        .arg("-c")
        .arg("import fcntl,os,sys,time; f=open(sys.argv[1],'r+'); fcntl.flock(f, fcntl.LOCK_EX); f.truncate(0); f.write(str(os.getpid())); f.flush(); print('held', file=sys.stderr, flush=True); time.sleep(60)")
        .arg(store.join("lock"));
    let mut holder = Running::spawn(holder);
    holder.line_with("held", Duration::from_secs(10));
    let run = bot.nu(&format!("matrix send '{room}' 'while busy' --session bot"));
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(text.contains("The crypto store is busy"), "{text}");
    assert!(
        text.contains(&format!("process {}", holder.pid())),
        "{text}"
    );
    holder.signal("KILL");

    // Damaged: named, left as it is.
    let database = store.join("matrix-sdk-crypto.sqlite3");
    for extra in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{extra}", database.display()));
    }
    std::fs::write(&database, b"this is not a database at all, it was damaged").expect("write");
    let run = bot.nu(&format!(
        "matrix send '{room}' 'after the damage' --session bot"
    ));
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(text.contains("The crypto store cannot be used"), "{text}");
    let name = store
        .file_name()
        .and_then(|name| name.to_str())
        .expect("a name");
    assert!(text.contains(name), "{text}");
    assert_eq!(
        std::fs::read(&database).expect("kept"),
        b"this is not a database at all, it was damaged"
    );
}
