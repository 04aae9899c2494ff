//! The bot's side of a conversation, against real parts: Synapse, the real nu, and matrix-nio
//! as the other person in an encrypted direct chat. What nio sends (each kind a person sends)
//! comes to `matrix listen` and `matrix messages` as one row shape with the right columns; what
//! the bot answers (replies, threads, reactions, edits, redactions) nio sees as that kind.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value as JsonValue, json};
use support::bot::{Bot, dm, row_of};
use support::nio::Nio;

/// The rows among a listener's lines, by event ID.
fn rows_by_id(lines: &str) -> BTreeMap<String, JsonValue> {
    lines
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(row_of)
        .filter_map(|row| Some((row["event_id"].as_str()?.to_owned(), row)))
        .collect()
}

/// Checks the columns of the row of each kind nio sent (`ids`: kind → event ID); `messages`:
/// the rows are `matrix messages`' (read after the redaction and the edit, which the server
/// then shows on the events they change).
fn check_kinds(rows: &BTreeMap<String, JsonValue>, ids: &JsonValue, messages: bool) {
    let row = |kind: &str| {
        let id = ids[kind].as_str().expect("an event ID");
        rows.get(id)
            .unwrap_or_else(|| panic!("no row for the {kind} ({id}): {rows:#?}"))
    };
    let id = |kind: &str| ids[kind].clone();
    for kind in ids.as_object().expect("kinds").keys() {
        let row = row(kind);
        // Redactions are never encrypted; nio's room_send leaves reactions in the clear.
        let clear = ["redaction", "reaction"].contains(&kind.as_str());
        assert_eq!(row["encrypted"], !clear, "{kind}: {row}");
        assert_eq!(row["decrypt_error"], JsonValue::Null, "{kind}: {row}");
    }
    let plain = row("plain");
    assert_eq!(
        (&plain["type"], &plain["msgtype"]),
        (&json!("m.room.message"), &json!("m.text"))
    );
    if messages {
        // Shown with its latest edit, decrypted.
        assert_eq!(plain["body"], "kinds plain edited", "{plain}");
        assert_eq!(plain["latest_edit"], id("edit"));
    } else {
        assert_eq!(plain["body"], "kinds plain");
    }
    let html = row("html");
    if messages {
        assert_eq!(html["redacted"], true, "{html}");
        assert_eq!(html["reason"], "kinds reason");
        assert_eq!(
            (&html["body"], &html["msgtype"]),
            (&JsonValue::Null, &JsonValue::Null)
        );
        // Its ciphertext went with the redaction: it stays the event the server has.
        assert_eq!(html["type"], "m.room.encrypted");
    } else {
        assert_eq!(html["formatted_body"], "<b>kinds</b> html", "{html}");
        assert_eq!(html["redacted"], false);
    }
    assert_eq!(row("notice")["msgtype"], "m.notice");
    let reply = row("reply");
    assert_eq!(
        (&reply["reply_to"], &reply["thread"]),
        (&id("plain"), &JsonValue::Null)
    );
    let thread = row("thread");
    assert_eq!(thread["thread"], id("plain"), "{thread}");
    assert_eq!(
        thread["reply_to"],
        JsonValue::Null,
        "a thread's fallback is no reply"
    );
    assert_eq!(thread["relation"]["rel_type"], "m.thread");
    let edit = row("edit");
    assert_eq!(
        edit["body"], "kinds plain edited",
        "the new text, not `* `: {edit}"
    );
    assert_eq!(edit["edits"], id("plain"));
    let reaction = row("reaction");
    assert_eq!(reaction["type"], "m.reaction");
    assert_eq!(reaction["msgtype"], JsonValue::Null);
    assert_eq!(
        reaction["relation"],
        json!({"rel_type": "m.annotation", "event_id": id("plain"), "key": "👍"})
    );
    let image = row("image");
    assert_eq!(
        (&image["msgtype"], &image["body"]),
        (&json!("m.image"), &json!("dot.png"))
    );
    assert!(
        image["url"]
            .as_str()
            .is_some_and(|url| url.starts_with("mxc://")),
        "{image}"
    );
    assert_eq!(image["info"]["mimetype"], "image/png");
    assert_eq!(image["info"]["w"], 1);
    let file = row("file");
    assert_eq!(file["msgtype"], "m.file");
    assert!(
        file["url"]
            .as_str()
            .is_some_and(|url| url.starts_with("mxc://"))
    );
    let redaction = row("redaction");
    assert_eq!(redaction["type"], "m.room.redaction");
    assert_eq!(redaction["redacts"], id("html"), "{redaction}");
    assert_eq!(redaction["reason"], "kinds reason");
}

const EVERY_KIND: &str = "[m.room.message m.reaction m.room.redaction]";

#[test]
fn each_kind_nio_sends_has_its_columns_in_listen_and_messages() {
    let bot = Bot::new("cvbot");
    let nio = Nio::login(support::synapse(), "cvhuman");
    let room = dm(&bot, &nio);
    let mut listener = bot.listen(&format!("--type {EVERY_KIND}"));
    let ids = nio.send_kinds(&room);
    listener.line_with("kinds end", Duration::from_secs(40));
    listener.interrupt();
    let listened = listener.finish(Duration::from_secs(10));
    let rows = rows_by_id(&listened.stderr);
    check_kinds(&rows, &ids, false);
    // The DM, unnamed, goes by the other person (Synapse's default display name: the
    // localpart), in the rows and in `matrix rooms`.
    let localpart = nio.user_id[1..].split(':').next().expect("a localpart");
    let plain = &rows[ids["plain"].as_str().expect("an ID")];
    assert_eq!(plain["room"], localpart, "{plain}");
    let rooms = bot.json("matrix rooms --session bot");
    assert_eq!(rooms[0]["name"], localpart, "{rooms}");

    let read = bot.json(&format!(
        "matrix messages '{room}' --type {EVERY_KIND} --limit 50 --session bot | reject time"
    ));
    let rows: BTreeMap<String, JsonValue> = read
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            (
                row["event_id"].as_str().expect("an ID").to_owned(),
                row.clone(),
            )
        })
        .collect();
    check_kinds(&rows, &ids, true);
    // The bot's own reaction in the encrypted DM goes encrypted, its relation in the clear, and
    // reads back decrypted.
    let plain_id = ids["plain"].as_str().expect("an ID");
    bot.ok(&format!(
        "matrix react '{room}' '{plain_id}' 🎉 --session bot | ignore"
    ));
    let reactions = bot.json(&format!(
        "matrix messages '{room}' --type m.reaction --session bot | where sender == '{}'",
        bot.user_id
    ));
    let reaction = &reactions[0];
    assert_eq!(reaction["encrypted"], true, "{reaction}");
    assert_eq!(reaction["type"], "m.reaction");
    assert_eq!(reaction["relation"]["key"], "🎉");
    assert_eq!(reaction["relation"]["event_id"], plain_id);
    // nio's encrypted image, downloaded and decrypted from its row.
    let fetched = bot.ok(&format!(
        "matrix messages '{room}' --session bot | where event_id == '{}' | first | matrix download --session bot | encode hex",
        ids["image"].as_str().expect("an ID")
    ));
    assert_eq!(fetched.to_lowercase(), DOT_PNG);
    // By default, messages only: no reaction, no redaction (a redacted encrypted event stays,
    // as the m.room.encrypted it is: it may have been a message).
    let types = bot.json(&format!(
        "matrix messages '{room}' --limit 50 --session bot | get type | uniq | sort"
    ));
    assert_eq!(types, json!(["m.room.encrypted", "m.room.message"]));
}

#[test]
fn nio_sees_each_answer_of_the_bot_as_its_kind() {
    let bot = Bot::new("cvans");
    let nio = Nio::login(support::synapse(), "cvasker");
    let room = dm(&bot, &nio);
    // The pipeline of the README: a !ping in a thread is answered in the thread.
    let mut answering = support::Running::start(
        "matrix listen --session bot | where body == '!ping' | each { matrix send pong --reply --session bot | to json -r | print -e $in }",
        |command| {
            command
                .env("XDG_CONFIG_HOME", &bot.config)
                .env("XDG_DATA_HOME", bot.config.join("data"));
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    let root = nio.send(&room, "a question");
    let ping = nio.send_in_thread(&room, "!ping", &root);
    answering.line_with("event_id", Duration::from_secs(30));
    answering.interrupt();
    answering.finish(Duration::from_secs(10));

    let question =
        format!("matrix messages '{room}' --session bot | where event_id == '{root}' | first");
    let answers = bot.json(&format!(
        "let q = ({question})
        let reply = ($q | matrix send 'a reply' --reply --session bot)
        let thread = ($q | matrix send 'in the thread' --in-thread --session bot)
        let reaction = ($q | matrix react 👍 --session bot)
        let sent = (matrix send '{room}' 'typo' --session bot)
        let edit = (matrix edit '{room}' $sent.event_id 'fixed' --session bot)
        let gone = (matrix send '{room}' 'take back' --session bot)
        let redaction = (matrix redact '{room}' $gone.event_id --reason 'oops' --session bot)
        matrix send '{room}' 'answers end' --session bot | ignore
        {{reply: $reply.event_id, thread: $thread.event_id, reaction: $reaction.event_id,
          sent: $sent.event_id, edit: $edit.event_id, gone: $gone.event_id,
          redaction: $redaction.event_id}}"
    ));
    let seen: BTreeMap<String, JsonValue> = nio
        .read_until(&room, "answers end", 30)
        .into_iter()
        .filter_map(|row| Some((row["event_id"].as_str()?.to_owned(), row)))
        .collect();
    let by_id = |what: &str| {
        let id = answers[what].as_str().expect("an ID");
        seen.get(id)
            .unwrap_or_else(|| panic!("nio did not see the {what}: {seen:#?}"))
    };
    let pong = seen
        .values()
        .find(|row| row["body"] == "pong")
        .expect("nio saw the pong");
    let relates = &pong["content"]["m.relates_to"];
    assert_eq!(pong["decrypted"], true);
    assert_eq!(relates["rel_type"], "m.thread", "{pong}");
    assert_eq!(relates["event_id"], root.as_str());
    assert_eq!(relates["m.in_reply_to"]["event_id"], ping.as_str());
    assert_eq!(
        pong["content"]["m.mentions"],
        json!({"user_ids": [nio.user_id]})
    );

    let reply = by_id("reply");
    assert_eq!(reply["decrypted"], true);
    assert_eq!(
        reply["content"]["m.relates_to"],
        json!({"m.in_reply_to": {"event_id": root}})
    );
    let thread = by_id("thread");
    assert_eq!(thread["content"]["m.relates_to"]["rel_type"], "m.thread");
    assert_eq!(thread["content"]["m.relates_to"]["is_falling_back"], true);
    let reaction = by_id("reaction");
    assert_eq!(reaction["type"], "m.reaction", "{reaction}");
    assert_eq!(reaction["decrypted"], true);
    assert_eq!(
        reaction["content"]["m.relates_to"],
        json!({"rel_type": "m.annotation", "event_id": root, "key": "👍"})
    );
    let edit = by_id("edit");
    assert_eq!(edit["content"]["m.new_content"]["body"], "fixed", "{edit}");
    assert_eq!(edit["content"]["m.relates_to"]["event_id"], answers["sent"]);
    let redaction = by_id("redaction");
    assert_eq!(redaction["type"], "m.room.redaction", "{redaction}");
}

#[test]
fn answers_refuse_bad_input_with_labelled_errors() {
    let bot = Bot::new("cvbad");
    let room = bot.ok("matrix api createRoom --data {name: bad} --session bot | get room_id");
    let fails = |script: &str, says: &str| {
        let run = bot.nu(script);
        assert!(!run.success, "{script} worked");
        assert!(run.stderr.contains(says), "{script}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        run.stderr
    };
    let unknown = fails(
        &format!("matrix react '{room}' '$nothere' 👍 --session bot"),
        "No event $nothere",
    );
    assert!(unknown.contains("unknown event"), "{unknown}");
    fails(
        &format!("matrix send '{room}' hi --reply-to '$nothere' --session bot"),
        "No event $nothere",
    );
    fails(
        "matrix send pong --reply --session bot",
        "--reply needs a row on the pipeline",
    );
    let sent = bot.ok(&format!(
        "matrix send '{room}' hello --session bot | get event_id"
    ));
    fails(
        &format!("matrix react '{room}' '{sent}' '' --session bot"),
        "The reaction key is empty",
    );
    fails(
        &format!("matrix react '{room}' not-an-event 👍 --session bot"),
        "is not an event ID",
    );
    fails(
        &format!(
            "{{room_id: '{room}', event_id: '{sent}'}} | matrix react '{room}' x 👍 --session bot"
        ),
        "Too many arguments",
    );
}

/// A 1×1 PNG.
const DOT_PNG: &str = "89504e470d0a1a0a0000000d4948445200000001000000010806000000\
1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082";

#[test]
fn files_go_both_ways_with_the_same_bytes_and_encrypted() {
    let bot = Bot::new("cvfile");
    let nio = Nio::login(support::synapse(), "cvfiler");
    let room = dm(&bot, &nio);
    let png = hex::decode(DOT_PNG).expect("hex");
    std::fs::write(bot.config.join("dot.png"), &png).expect("write");
    std::fs::write(bot.config.join("report.txt"), "uptime 99.9%\n").expect("write");
    let sent = bot.json(&format!(
        "cd '{dir}'
        let image = (open --raw dot.png | matrix send '{room}' --file dot.png --session bot)
        let report = (open --raw report.txt | matrix send '{room}' 'the report' --file report.txt --session bot)
        matrix send '{room}' 'files end' --session bot | ignore
        {{image: $image.event_id, report: $report.event_id}}",
        dir = bot.config.display()
    ));
    let seen = nio.read_until(&room, "files end", 30);
    let of = |what: &str| {
        seen.iter()
            .find(|row| row["event_id"] == sent[what])
            .unwrap_or_else(|| panic!("nio did not see the {what}: {seen:#?}"))
            .clone()
    };
    let image = of("image");
    assert_eq!(image["decrypted"], true);
    let content = &image["content"];
    assert_eq!(content["msgtype"], "m.image", "{image}");
    assert_eq!(content["body"], "dot.png");
    assert_eq!(
        content["info"],
        json!({"mimetype": "image/png", "size": png.len(), "w": 1, "h": 1})
    );
    assert!(
        content.get("url").is_none(),
        "an encrypted room's file has no plain url"
    );
    assert_eq!(content["file"]["v"], "v2");
    assert_eq!(
        nio.download(&room, sent["image"].as_str().expect("ID")),
        png
    );
    let report = of("report");
    assert_eq!(report["content"]["msgtype"], "m.file");
    assert_eq!(
        (&report["content"]["body"], &report["content"]["filename"]),
        (&json!("the report"), &json!("report.txt"))
    );
    assert_eq!(
        nio.download(&room, sent["report"].as_str().expect("ID")),
        b"uptime 99.9%\n"
    );
    // The server has only ciphertext: the bytes at the URL are not the file's.
    let token = support::synapse().login(&bot.user_id, &bot.password);
    let mxc = content["file"]["url"].as_str().expect("a url");
    let stored = support::synapse().download(&token, mxc);
    assert_ne!(stored, png);
    assert_eq!(stored.len(), png.len());
    // And the bot reads its own file back from its row, decrypted.
    let again = bot.ok(&format!(
        "matrix messages '{room}' --session bot | where msgtype == 'm.file' | first | matrix download --session bot | decode"
    ));
    assert_eq!(again, "uptime 99.9%");
}

#[test]
fn a_file_in_a_plain_room_and_one_over_the_limit() {
    let hs =
        support::start_synapse_with("synapse-small-media", &[("SYNAPSE_MAX_UPLOAD_SIZE", "1K")]);
    let user = support::unique_user("cvsmall");
    let user_id = hs.register(&user, "pw-Small-1");
    let config = support::scratch(&format!("conv-{user}"));
    let nu = |script: &str| support::nu_cfg(script, &config, "pw-Small-1");
    let login = nu(&format!(
        "$env.PW | matrix login {user_id} -H {} --save bot | ignore",
        hs.url
    ));
    assert!(login.success, "{}", login.stderr);
    std::fs::write(config.join("small.txt"), "small").expect("write");
    std::fs::write(config.join("big.bin"), vec![7u8; 2048]).expect("write");
    let run = nu(&format!(
        "cd '{dir}'
        let room = (matrix api createRoom --data {{name: files}} --session bot | get room_id)
        let sent = (open --raw small.txt | matrix send $room --file small.txt --session bot)
        let row = (matrix messages $room --session bot | first)
        {{url: $row.url, info: $row.info, back: ($row | matrix download --session bot | decode),
          by_url: (matrix download $row.url --session bot | decode)}} | to json -r",
        dir = config.display()
    ));
    assert!(run.success, "{}", run.stderr);
    let row: JsonValue = serde_json::from_str(run.stdout.trim()).expect("JSON");
    assert!(
        row["url"]
            .as_str()
            .is_some_and(|url| url.starts_with("mxc://localhost/")),
        "{row}"
    );
    assert_eq!(row["info"], json!({"mimetype": "text/plain", "size": 5}));
    assert_eq!(
        (&row["back"], &row["by_url"]),
        (&json!("small"), &json!("small"))
    );

    let big = nu(&format!(
        "cd '{dir}'
        let room = (matrix api createRoom --data {{name: big}} --session bot | get room_id)
        open --raw big.bin | matrix send $room --file big.bin --session bot",
        dir = config.display()
    ));
    assert!(!big.success);
    assert!(
        big.stderr
            .contains("big.bin is 2.0 kB: the server takes files up to 1.0 kB"),
        "{}",
        big.stderr
    );
    assert!(
        big.stderr.contains("too large for this server"),
        "{}",
        big.stderr
    );
    let nothing = nu("matrix send '!r:localhost' --file x.txt --session bot");
    assert!(
        nothing
            .stderr
            .contains("--file needs the file on the pipeline"),
        "{}",
        nothing.stderr
    );
}

/// An older server, without the authenticated media API (spec v1.11): the limit and the
/// download come from the legacy endpoints; a file the new API says is missing is not asked of
/// the old one. (A loopback server: Synapse has the new API.)
#[test]
fn a_server_without_authenticated_media_gets_the_legacy_endpoints() {
    use nu_plugin_matrix::client::Client;
    use nu_plugin_matrix::media::Mxc;
    use support::{FaultServer, http};
    let unknown = || {
        http(
            "404 Not Found",
            "application/json",
            r#"{"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}"#,
        )
    };
    let old = FaultServer::routes(vec![
        ("/_matrix/client/v1/media/config", unknown()),
        (
            "/_matrix/media/v3/config",
            http("200 OK", "application/json", r#"{"m.upload.size": 1234}"#),
        ),
        ("/_matrix/client/v1/media/download/localhost/old", unknown()),
        (
            "/_matrix/media/v3/download/localhost/old",
            http("200 OK", "text/plain", "old bytes"),
        ),
        (
            "/_matrix/client/v1/media/download/localhost/gone",
            http(
                "404 Not Found",
                "application/json",
                r#"{"errcode": "M_NOT_FOUND", "error": "Not found"}"#,
            ),
        ),
        (
            "/_matrix/media/v3/download/localhost/gone",
            http("200 OK", "text/plain", "wrong"),
        ),
    ]);
    let client = Client::new(&old.url).expect("a client");
    let token = nu_plugin_matrix::AccessToken::new("t0ken".to_owned());
    let config = client.media_config(&token).expect("the legacy config");
    assert_eq!(config.upload_size, Some(1234));
    let old_file = Mxc::parse("mxc://localhost/old").expect("an mxc");
    let got = client
        .download(&token, &old_file, 1000)
        .expect("the legacy download");
    assert_eq!(got.bytes, b"old bytes");
    let gone = Mxc::parse("mxc://localhost/gone").expect("an mxc");
    let err = client.download(&token, &gone, 1000).expect_err("missing");
    assert!(err.to_string().contains("M_NOT_FOUND"), "{err}");
}

#[test]
fn answers_to_an_edit_go_to_the_original_and_edits_keep_kind_and_mentions() {
    let bot = Bot::new("cvedit");
    let nio = Nio::login(support::synapse(), "cveditor");
    let room = dm(&bot, &nio);
    let ids = nio.send_kinds(&room);
    let (plain, edit) = (
        ids["plain"].as_str().expect("plain"),
        ids["edit"].as_str().expect("edit"),
    );
    // The edit's row, answered: the reaction and the reply go to the message it edits.
    let row =
        format!("matrix messages '{room}' --session bot | where event_id == '{edit}' | first");
    let reaction = bot.json(&format!(
        "let r = ({row} | matrix react 👀 --session bot); matrix messages '{room}' --type m.reaction --session bot | where event_id == $r.event_id | first | get relation"
    ));
    assert_eq!(reaction["event_id"], plain, "{reaction}");
    let reply = bot.json(&format!(
        "let r = ({row} | matrix send 'seen it' --reply --session bot); matrix messages '{room}' --session bot | where event_id == $r.event_id | first | select reply_to content"
    ));
    assert_eq!(reply["reply_to"], plain, "{reply}");

    // A notice edited by ID in an encrypted room stays a notice (the original is decrypted).
    let edited = bot.json(&format!(
        "let n = (matrix send '{room}' 'status: starting' --notice --session bot); let e = (matrix edit '{room}' $n.event_id 'status: running' --session bot); matrix messages '{room}' --session bot | where event_id == $e.event_id | first | select msgtype body encrypted content"
    ));
    assert_eq!(edited["encrypted"], true, "{edited}");
    assert_eq!(edited["msgtype"], "m.notice", "{edited}");
    assert_eq!(edited["body"], "status: running", "{edited}");
    assert_eq!(
        edited["content"]["m.new_content"]["msgtype"], "m.notice",
        "{edited}"
    );

    // An edit of a reply keeps mentioning whom the reply answered.
    let content = bot.json(&format!(
        "let r = (matrix messages '{room}' --session bot | where event_id == '{plain}' | first | matrix send 'a reply' --reply --session bot); let e = (matrix edit '{room}' $r.event_id 'a better reply' --session bot); matrix messages '{room}' --session bot | where event_id == $e.event_id | first | get content"
    ));
    assert_eq!(
        content["m.new_content"]["m.mentions"]["user_ids"],
        json!([nio.user_id]),
        "{content}"
    );
}

#[test]
fn table_commands_assign_filter_and_return_from_a_def_with_nulls_in_their_rows() {
    let bot = Bot::new("cvlet");
    let nio = Nio::login(support::synapse(), "cvletpeer");
    let room = dm(&bot, &nio);
    nio.send(&room, "first words");
    // The DM has no alias and no name (nulls); rows have null reply_to, thread, url...
    let out = bot.ok(&format!(
        "def my-rooms []: nothing -> table {{ matrix rooms --session bot }}
         def recent [room: string]: nothing -> table {{ matrix messages $room --session bot }}
         let rooms = (matrix rooms --session bot)
         let rows = (matrix messages '{room}' --session bot)
         let devices = (matrix devices --session bot)
         let me = (matrix whoami --session bot)
         let status = (matrix e2ee status --session bot)
         [
           ($rooms | where room_id == '{room}' | get alias | first | describe)
           ($rows | where body == 'first words' | get reply_to | first | describe)
           (my-rooms | where alias == null | length | $in >= 1)
           (recent '{room}' | get body | where $it == 'first words' | length)
           ($devices | where current | length)
           ($me.user_id == '{}')
           ($status.device_id == ($devices | where current | first | get device_id))
         ] | to json -r",
        bot.user_id
    ));
    assert_eq!(out, r#"["nothing","nothing",true,1,1,true,true]"#, "{out}");
    // matrix listen, too, once it has a row.
    bot.ok("matrix listen --session bot --since saved --once | ignore");
    nio.send(&room, "later words");
    let out = bot.ok(
        "let rows = (matrix listen --session bot --since saved --once); $rows | where body == 'later words' | get thread | to json -r",
    );
    assert_eq!(out, "[null]");
}

#[test]
fn a_type_limit_in_an_encrypted_room_counts_the_matching_rows() {
    let bot = Bot::new("cvlimit");
    let nio = Nio::login(support::synapse(), "cvlimitpeer");
    let room = dm(&bot, &nio);
    let target = nio.send(&room, "react to me");
    // Three encrypted reactions, then 30 encrypted messages after them: the newest pages hold
    // no reaction at all.
    bot.ok(&format!(
        "for key in [👍 🎉 👀] {{ matrix react '{room}' '{target}' $key --session bot | ignore }}
         for n in 1..30 {{ matrix send '{room}' $'filler ($n)' --session bot | ignore }}"
    ));
    let keys = bot.ok(&format!(
        "let rows = (matrix messages '{room}' --type m.reaction --limit 3 --session bot); $rows | each {{|r| $r.relation.key }} | to json -r"
    ));
    assert_eq!(keys, r#"["👀","🎉","👍"]"#);
    let two = bot.ok(&format!(
        "matrix messages '{room}' --type m.reaction --limit 2 --session bot | length"
    ));
    assert_eq!(two, "2");
    let all = bot.ok(&format!(
        "matrix messages '{room}' --type m.reaction --limit 100 --session bot | length"
    ));
    assert_eq!(all, "3");
}

#[test]
fn joining_from_an_invitation_to_an_encrypted_dm_publishes_the_keys_first() {
    let bot = Bot::new("cvinvite");
    let nio = Nio::login(support::synapse(), "cvinviter");
    let room = nio.create_dm(&bot.user_id);
    assert!(bot.stores().is_empty(), "no store before encryption is met");
    // The README bot's way: the invitation row, joined. The row says the room is encrypted.
    let encrypted = bot.ok(
        "let invite = (matrix listen --session bot --invites --once | where type == invite | first); $invite | matrix join --session bot | ignore; $invite.encrypted",
    );
    assert_eq!(encrypted, "true");
    // The first message, sent the moment after the join, is encrypted for the bot's device too.
    nio.send(&room, "right after the join");
    let read = bot.json(&format!(
        "matrix messages '{room}' --session bot | where body == 'right after the join' | select encrypted decrypt_error"
    ));
    assert_eq!(
        read,
        json!([{"encrypted": true, "decrypt_error": null}]),
        "{read}"
    );
}
