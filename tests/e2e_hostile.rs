//! What a hostile afternoon found, each held against the real parts: Synapse, the real nu, and
//! matrix-nio (with its encryption extra) as the other person of an encrypted direct chat.
//! Cleartext sent into an encrypted room however `matrix api`'s path is spelled; a recovery key
//! of any length; crypto stores damaged, emptied or deleted; `recover` on a device that never
//! used encryption.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use support::bot::{Bot, dm};
use support::nio::Nio;
use support::synapse;

#[test]
fn matrix_api_sends_no_cleartext_into_an_encrypted_room_however_the_path_is_spelled() {
    let bot = Bot::new("hsapi");
    let nio = Nio::login(synapse(), "hsapipeer");
    let room = dm(&bot, &nio);
    // Each way round the old guard: a dot segment, a leading space, POST without a
    // transaction ID, another version's prefix, an empty segment.
    let sends = [
        format!(
            "matrix api 'rooms/./{room}/send/m.room.message/dot-1' -X PUT -d {{msgtype: m.text, body: 'leak-1'}}"
        ),
        format!(
            "matrix api ' rooms/{room}/send/m.room.message/space-2' -X PUT -d {{msgtype: m.text, body: 'leak-2'}}"
        ),
        format!(
            "matrix api 'rooms/{room}/send/m.room.message' -X POST -d {{msgtype: m.text, body: 'leak-3'}}"
        ),
        format!(
            "matrix api '/_matrix/client/r0/rooms/{room}/send/m.room.message/r0-4' -X PUT -d {{msgtype: m.text, body: 'leak-4'}}"
        ),
        format!(
            "matrix api 'rooms//{room}/send/m.room.message/empty-5' -X PUT -d {{msgtype: m.text, body: 'leak-5'}}"
        ),
        format!(
            "matrix api '/_matrix/client/api/v1/rooms/{room}/send/m.room.message/v1-6' -X PUT -d {{msgtype: m.text, body: 'leak-6'}}"
        ),
    ];
    for send in &sends {
        let sent = bot.json(&format!("{send} --session bot"));
        assert!(
            sent["event_id"]
                .as_str()
                .is_some_and(|id| id.starts_with('$')),
            "{send}: {sent}"
        );
    }
    // On the server: ciphertext only.
    let raw = bot.ok(&format!(
        "matrix api 'rooms/{room}/messages' -q {{dir: b, limit: 50}} --session bot --raw"
    ));
    assert!(!raw.contains("leak-"), "cleartext on the server: {raw}");
    let kinds = bot.ok(&format!(
        "matrix api 'rooms/{room}/messages' -q {{dir: b, limit: 50}} --session bot | get chunk | where sender == '{}' and type =~ 'm.room.(message|encrypted)' | get type | uniq | to json -r",
        bot.user_id
    ));
    assert_eq!(kinds, r#"["m.room.encrypted"]"#);
    // The other person reads each, and so does the bot.
    let read = nio.read_until(&room, "leak-6", 20);
    let bodies: Vec<&str> = read.iter().filter_map(|m| m["body"].as_str()).collect();
    for n in 1..=6 {
        assert!(bodies.contains(&format!("leak-{n}").as_str()), "{bodies:?}");
    }
    let mine = bot.ok(&format!(
        "let rows = (matrix messages '{room}' --session bot | where body =~ '^leak-'); $rows | length"
    ));
    assert_eq!(mine, "6");
    // --plaintext still sends in the clear, where it is meant.
    bot.ok(&format!(
        "matrix api 'rooms/./{room}/send/m.room.message/meant-6' -X PUT -d {{msgtype: m.notice, body: 'meant in the clear'}} --plaintext --session bot | ignore"
    ));
    let raw = bot.ok(&format!(
        "matrix api 'rooms/{room}/messages' -q {{dir: b, limit: 5}} --session bot --raw"
    ));
    assert!(raw.contains("meant in the clear"), "{raw}");
}

#[test]
fn a_recovery_key_of_any_length_or_kind_gets_an_answer_at_once() {
    let bot = Bot::new("hskey");
    let started = Instant::now();
    let run = bot.nu("'' | fill -c 'x' -w 10_000_000 | matrix e2ee recover --session bot");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "10M characters took {:?}",
        started.elapsed()
    );
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(
        text.contains("This is too long for a recovery key"),
        "{text}"
    );
    assert!(text.contains("10000000 characters"), "{text}");
    assert!(text.contains("12 groups of 4"), "{text}");

    let run = bot.nu("0x[00 ff fe 10] | matrix e2ee recover --session bot");
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(
        text.contains("The piped recovery key is not text"),
        "{text}"
    );
    assert!(!text.contains("password"), "{text}");
    let text = bot
        .nu("'  ' | matrix e2ee recover --session bot")
        .stderr_folded();
    assert!(text.contains("The piped recovery key is empty"), "{text}");
}

#[test]
fn a_damaged_key_id_is_not_a_damaged_store_and_store_files_are_private() {
    let bot = Bot::new("hskeyid");
    let nio = Nio::login(synapse(), "hskeyidpeer");
    let room = dm(&bot, &nio);
    nio.send(&room, "before the damage");
    let before = bot.json("matrix e2ee status --session bot | select store ed25519");
    let [store] = bot.stores().try_into().expect("one store");
    std::fs::write(store.join("key-id"), "garbage").expect("damaged");
    // The store opens with the session's key: it is used, not set aside, and the device goes on.
    bot.ok(&format!(
        "matrix send '{room}' 'after the damage' --session bot | ignore"
    ));
    let after = bot.json("matrix e2ee status --session bot | select store ed25519");
    assert_eq!(after, before);
    assert_eq!(bot.stores(), vec![store.clone()], "nothing set aside");
    let read = bot.ok(&format!(
        "matrix messages '{room}' --session bot | where body == 'before the damage' | length"
    ));
    assert_eq!(read, "1");
    nio.read_until(&room, "after the damage", 20);
    for entry in std::fs::read_dir(&store).expect("the store").flatten() {
        let mode = entry.metadata().expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", entry.path().display());
    }
    // A link in key-id's place is replaced, never written through.
    let victim = bot.config.join("victim.txt");
    std::fs::write(&victim, "mine").expect("victim");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).expect("mode");
    std::fs::remove_file(store.join("key-id")).expect("removed");
    std::os::unix::fs::symlink(&victim, store.join("key-id")).expect("link");
    bot.ok("matrix e2ee status --session bot | ignore");
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "mine");
    let mode = std::fs::metadata(&victim)
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o644);
    assert!(!store.join("key-id").is_symlink());
    // A folder in its place: a labelled error naming the store, no crash.
    std::fs::remove_file(store.join("key-id")).expect("removed");
    std::fs::create_dir(store.join("key-id")).expect("a folder");
    let run = bot.nu(&format!(
        "matrix send '{room}' 'with a folder for key-id' --session bot"
    ));
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(text.contains("The crypto store cannot be used"), "{text}");
    assert!(text.contains("key-id"), "{text}");
    assert!(
        !text.contains("panic") && !text.contains("Failed to receive"),
        "{text}"
    );
}

#[test]
fn a_store_emptied_or_deleted_never_forks_the_device() {
    let bot = Bot::new("hsfork");
    let nio = Nio::login(synapse(), "hsforkpeer");
    let room = dm(&bot, &nio);
    nio.send(&room, "sealed for the old store");
    let device = bot.ok("matrix session get bot | get device_id");
    let [store] = bot.stores().try_into().expect("one store");
    let database = store.join("matrix-sdk-crypto.sqlite3");
    let keys_of = || {
        bot.ok(&format!(
            "matrix api keys/query -d {{device_keys: {{'{}': ['{device}']}}}} --session bot | get device_keys | values | first | get {device}.keys | to json -r",
            bot.user_id
        ))
    };
    let keys = keys_of();

    // Emptied: 0 bytes. The command fails, named and with the way out; nothing is touched.
    for extra in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{extra}", database.display()));
    }
    std::fs::write(&database, b"").expect("truncated");
    let run = bot.nu(&format!(
        "matrix send '{room}' 'from a new account?' --session bot"
    ));
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(
        text.contains("This device's encryption keys are lost"),
        "{text}"
    );
    assert!(text.contains("cannot be restored"), "{text}");
    assert!(text.contains("without --device-id"), "{text}");
    assert!(text.contains("matrix e2ee recover"), "{text}");
    let name = store
        .file_name()
        .and_then(|name| name.to_str())
        .expect("a name");
    assert!(text.replace(' ', "").contains(name), "{text}");
    assert!(!text.contains("already exists"), "{text}");
    assert_eq!(std::fs::metadata(&database).expect("still there").len(), 0);
    assert_eq!(keys_of(), keys, "the server's keys of the device changed");
    // matrix messages still gives the rows, each saying why it stays sealed.
    let rows = bot.json(&format!(
        "let rows = (matrix messages '{room}' --session bot | where encrypted); $rows | select body decrypt_error"
    ));
    let rows = rows.as_array().expect("rows");
    assert!(!rows.is_empty(), "no rows");
    for row in rows {
        assert!(
            row["decrypt_error"]
                .as_str()
                .is_some_and(|why| why.contains("cannot be restored")),
            "{row}"
        );
    }

    // Deleted: the same, and the folder is not made again.
    std::fs::remove_dir_all(&store).expect("deleted");
    let run = bot.nu("matrix e2ee status --session bot");
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(
        text.contains("This device's encryption keys are lost"),
        "{text}"
    );
    assert!(!store.exists(), "a new store was made for the lost device");
    let run = bot.nu(&format!("matrix send '{room}' 'again?' --session bot"));
    assert!(!run.success);
    assert!(!store.exists());
    assert_eq!(keys_of(), keys);

    // The way out works: a new device.
    bot.login("bot", "");
    bot.ok(&format!(
        "matrix send '{room}' 'from the new device' --session bot | ignore"
    ));
    nio.read_until(&room, "from the new device", 20);
}

#[test]
fn recover_on_a_device_that_never_used_encryption_leaves_it_listed() {
    let bot = Bot::new("hsrecover");
    let key =
        bot.ok("matrix e2ee bootstrap --session bot | get recovery_key | matrix token reveal");
    // A fresh login whose first encryption command is recover.
    let device = bot.login("fresh", "").stdout.trim().to_owned();
    let run = bot.nu(&format!(
        "'{key}' | matrix e2ee recover --session fresh | get device_id"
    ));
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), device);
    // The server lists it, signed.
    let listed = bot.ok(&format!(
        "matrix api keys/query -d {{device_keys: {{'{}': []}}}} --session bot | get device_keys | values | first | columns | to json -r",
        bot.user_id
    ));
    assert!(
        listed.contains(&format!("\"{device}\"")),
        "{device} not in {listed}"
    );
    let verified = bot.ok(&format!(
        "matrix devices --session bot | where device_id == '{device}' | get verified | to json -r"
    ));
    assert_eq!(verified, "[true]");
}

/// A plain room of the bot's, with a second user who owns it (power level 100) and wrote in it.
fn plain_room(bot: &Bot) -> (String, String) {
    let hs = synapse();
    let owner = hs.register(&support::unique_user("hsowner"), "pw-Owner-1");
    let owner_token = hs.login(&owner, "pw-Owner-1");
    let room = hs.call(
        &owner_token,
        "POST",
        "createRoom",
        &serde_json::json!({"invite": [bot.user_id], "preset": "private_chat"}),
    )["room_id"]
        .as_str()
        .expect("a room")
        .to_owned();
    bot.ok(&format!("matrix join '{room}' --session bot | ignore"));
    let theirs = hs.send_text(&owner_token, &room, "the owner's words");
    (room, theirs)
}

fn refused(bot: &Bot, script: &str) -> String {
    let run = bot.nu(script);
    assert!(!run.success, "{script} worked: {}", run.stdout);
    run.stderr_folded()
}

#[test]
fn arguments_the_server_would_refuse_are_named_with_what_to_do() {
    let bot = Bot::new("hsargs");
    let (room, theirs) = plain_room(&bot);
    let mine = bot.ok(&format!(
        "matrix send '{room}' 'mine' --session bot | get event_id"
    ));

    // Too large: refused before sending, at the message; and the server's own refusal of a
    // redaction reason, explained.
    let text = refused(
        &bot,
        &format!("matrix send '{room}' ('' | fill -c 'x' -w 70000) --session bot"),
    );
    assert!(text.contains("The message is too long"), "{text}");
    assert!(text.contains("the limit is 65536"), "{text}");
    let text = refused(
        &bot,
        &format!(
            "matrix redact '{room}' '{mine}' --reason ('' | fill -c 'r' -w 70000) --session bot"
        ),
    );
    assert!(text.contains("Too large for the homeserver"), "{text}");
    assert!(text.contains("65,536 bytes"), "{text}");

    // Reactions: a key too long, and one given twice.
    let text = refused(
        &bot,
        &format!("matrix react '{room}' '{theirs}' ('' | fill -c 'k' -w 600) --session bot"),
    );
    assert!(text.contains("The reaction key is too long"), "{text}");
    assert!(text.contains("600 characters"), "{text}");
    // The same reaction again is the same answer (one transaction, one event); under another
    // transaction ID, the server's refusal is explained.
    let react = format!("matrix react '{room}' '{theirs}' 👍 --session bot");
    let first = bot.ok(&format!("{react} | get event_id"));
    assert_eq!(bot.ok(&format!("{react} | get event_id")), first);
    let text = refused(&bot, &format!("{react} --txn-id another-try"));
    assert!(text.contains("Already reacted with this key"), "{text}");

    // Redacting another's message without the power: the levels, not "join it first".
    let text = refused(
        &bot,
        &format!("matrix redact '{room}' '{theirs}' --session bot"),
    );
    assert!(text.contains("needs power level 50"), "{text}");
    assert!(text.contains(&format!("{} has 0", bot.user_id)), "{text}");
    assert!(!text.contains("join it first"), "{text}");
    bot.ok(&format!(
        "matrix redact '{room}' '{mine}' --session bot | ignore"
    ));

    // An argument too long for any URL: named as such, not as an unreachable server.
    let text = refused(&bot, "matrix api ('' | fill -c 'p' -w 70000) --session bot");
    assert!(text.contains("An argument is too long"), "{text}");
    assert!(!text.contains("reach"), "{text}");

    // mxc URIs by the spec's grammar; a missing file and an unreachable server said so.
    for bad in ["mxc://../x", "mxc://%2e%2e/abc", "mxc://./x"] {
        let text = refused(&bot, &format!("matrix download '{bad}' --session bot"));
        assert!(text.contains("names no server"), "{bad}: {text}");
    }
    let text = refused(
        &bot,
        "matrix download 'mxc://localhost/NoSuchFile' --session bot",
    );
    assert!(
        text.contains("No such file: mxc://localhost/NoSuchFile"),
        "{text}"
    );
    let text = refused(
        &bot,
        "matrix download 'mxc://127.0.0.1:9/abc' --session bot",
    );
    assert!(
        text.contains("127.0.0.1:9 could not be reached for the file"),
        "{text}"
    );

    // Files: the switches that cannot apply, an empty file, a malformed attachment.
    for flag in ["--notice", "--markdown", "--reply", "--in-thread"] {
        let text = refused(
            &bot,
            &format!("0x[01 02] | matrix send '{room}' --file a.bin {flag} --session bot"),
        );
        assert!(
            text.contains(&format!("{flag} with --file")),
            "{flag}: {text}"
        );
    }
    // A file can be a reply: its event carries the relation and the mention.
    let reply = bot.json(&format!(
        "let sent = (0x[01 02] | matrix send '{room}' --file answer.bin --reply-to '{theirs}' --session bot); matrix api $'rooms/{room}/event/($sent.event_id)' --session bot | get content"
    ));
    assert_eq!(
        reply["m.relates_to"]["m.in_reply_to"]["event_id"],
        theirs.as_str(),
        "{reply}"
    );
    assert!(
        reply["m.mentions"]["user_ids"]
            .to_string()
            .contains("hsowner"),
        "{reply}"
    );
    assert_eq!(reply["msgtype"], "m.file", "{reply}");
    let text = refused(
        &bot,
        &format!("0x[] | matrix send '{room}' --file report.pdf --session bot"),
    );
    assert!(text.contains("report.pdf is empty"), "{text}");
    let sent = bot.ok(&format!(
        "0x[01 02 03] | matrix send '{room}' --file a.bin --session bot | get event_id"
    ));
    let text = refused(
        &bot,
        &format!(
            "matrix messages '{room}' --session bot | where event_id == '{sent}' | first | update content {{|row| $row.content | insert file 'not an object'}} | matrix download --session bot"
        ),
    );
    assert!(text.contains("The row's file is not readable"), "{text}");

    // An alias where an endpoint under rooms/ takes a room ID: resolved first.
    let alias = format!("#{}:localhost", support::unique_user("hsalias"));
    bot.ok(&format!(
        "matrix api -X PUT 'directory/room/{alias}' -d {{room_id: '{room}'}} --session bot | ignore"
    ));
    let guest = synapse().register(&support::unique_user("hsguest"), "pw-Guest-1");
    bot.ok(&format!(
        "matrix api -X POST 'rooms/{alias}/invite' -d {{user_id: '{guest}'}} --session bot | ignore"
    ));
    let membership = bot.ok(&format!(
        "matrix api 'rooms/{alias}/state/m.room.member/{guest}' --session bot | get membership"
    ));
    assert_eq!(membership, "invite");

    // `--type '*'` is every type, as the help says.
    let kinds = bot.ok(&format!(
        "let rows = (matrix messages '{room}' --type '*' --session bot); $rows | get type | uniq | sort | to json -r"
    ));
    for kind in [
        "m.reaction",
        "m.room.member",
        "m.room.message",
        "m.room.redaction",
    ] {
        assert!(kinds.contains(kind), "{kinds}");
    }
}
