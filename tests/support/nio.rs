//! The other person of the encryption tests: matrix-nio with its encryption extra (installed by
//! scripts/deps in .cache/nio-venv), driven through `nio_peer.py`, one command per run, its
//! device and keys in a folder of its own.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value as JsonValue;

use super::{Synapse, root, scratch, unique_user};

/// A matrix-nio user on the test Synapse, logged in on a device of its own.
#[derive(Clone)]
pub struct Nio {
    dir: PathBuf,
    /// The user's ID.
    pub user_id: String,
}

impl Nio {
    /// Registers a new user on `hs` and logs nio in with it.
    pub fn login(hs: &Synapse, prefix: &str) -> Self {
        let localpart = unique_user(prefix);
        let password = format!("pw-{localpart}-7");
        let user_id = hs.register(&localpart, &password);
        let nio = Self {
            dir: scratch(&format!("nio-{localpart}")),
            user_id,
        };
        nio.run(&["login", &hs.url, &nio.user_id, &password]);
        nio
    }

    /// Logs nio in as an existing user at `homeserver` (a deployment other than the test
    /// Synapse: MAS's).
    pub fn login_at(homeserver: &str, user_id: &str, password: &str, name: &str) -> Self {
        let nio = Self {
            dir: scratch(&format!("nio-{name}")),
            user_id: user_id.to_owned(),
        };
        nio.run(&["login", homeserver, user_id, password]);
        nio
    }

    /// A new encrypted direct chat with `invitee` invited; its room ID.
    pub fn create_dm(&self, invitee: &str) -> String {
        self.run(&["create-dm", invitee]).trim().to_owned()
    }

    /// Joins `room_id` (invited).
    pub fn join(&self, room_id: &str) {
        self.run(&["join", room_id]);
    }

    /// Sends `text` to `room_id`, encrypted for every device of its members; the event ID.
    pub fn send(&self, room_id: &str, text: &str) -> String {
        self.run(&["send", room_id, text]).trim().to_owned()
    }

    /// Sends `text` in the thread of `root`, as Element does; the event ID.
    pub fn send_in_thread(&self, room_id: &str, text: &str, root: &str) -> String {
        self.run(&["send-thread", room_id, text, root])
            .trim()
            .to_owned()
    }

    /// The file of the message `event_id` of `room_id` (one nio has read), decrypted if it came
    /// encrypted.
    pub fn download(&self, room_id: &str, event_id: &str) -> Vec<u8> {
        let out = self.dir.join("downloaded");
        self.run(&["download", room_id, event_id, &out.to_string_lossy()]);
        std::fs::read(out).expect("the downloaded file")
    }

    /// Sends one event of each kind a person sends (plain, html, notice, reply, thread, edit,
    /// reaction, image, file, redaction, then end: "kinds end"); their event IDs by kind.
    pub fn send_kinds(&self, room_id: &str) -> JsonValue {
        serde_json::from_str(self.run(&["send-kinds", room_id]).trim()).expect("JSON")
    }

    /// The messages of `room_id` that come in until one says `text` (within `seconds`), as nio
    /// decrypted them: `{event_id, sender, body, decrypted}` each.
    pub fn read_until(&self, room_id: &str, text: &str, seconds: u32) -> Vec<JsonValue> {
        self.try_read_until(room_id, text, seconds)
            .unwrap_or_else(|| panic!("nio saw no {text:?} in {room_id} within {seconds}s"))
    }

    /// As [`Nio::read_until`], `None` when `text` did not come in time.
    pub fn try_read_until(
        &self,
        room_id: &str,
        text: &str,
        seconds: u32,
    ) -> Option<Vec<JsonValue>> {
        let (stdout, success) = self.output(&["read", room_id, text, &seconds.to_string()]);
        success.then(|| {
            stdout
                .lines()
                .map(|line| serde_json::from_str(line).expect("a JSON line"))
                .collect()
        })
    }

    /// The messages of `room_id` nio has seen, after one more sync: as [`Nio::read_until`]'s.
    pub fn log(&self, room_id: &str) -> Vec<JsonValue> {
        self.run(&["log", room_id])
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    /// Asks `user_id`'s devices for a room key as another user's client would (an
    /// `m.room_key_request` to every device), then syncs for `seconds`: how many to-device
    /// events came from `user_id` meanwhile (an answer would be one).
    pub fn ask_key(&self, user_id: &str, room_id: &str, key: (&str, &str), seconds: u32) -> u64 {
        let (session_id, sender_key) = key;
        let out = self.run(&[
            "ask-key",
            user_id,
            room_id,
            session_id,
            sender_key,
            &seconds.to_string(),
        ]);
        let answer: JsonValue = serde_json::from_str(out.trim()).expect("JSON");
        answer["answers"].as_u64().expect("a count")
    }

    /// Sends `burst 1` ... `burst COUNT` to `room_id`, all under one room key.
    pub fn send_many(&self, room_id: &str, count: u32) {
        self.run(&["send-many", room_id, &count.to_string()]);
    }

    /// Sends `text` `count` times to `room_id`, all under one room key.
    pub fn send_same(&self, room_id: &str, count: u32, text: &str) {
        self.run(&["send-many", room_id, &count.to_string(), text]);
    }

    /// Sends `text` to `room_id` under a new room key that the members' devices get only
    /// `seconds` later; returns the event ID at once, and the run, which ends once the key is
    /// given (its stdout: the event ID, then `shared`).
    pub fn send_late(
        &self,
        room_id: &str,
        text: &str,
        seconds: u32,
    ) -> (String, std::process::Child) {
        use std::io::BufRead;
        let python = root().join(".cache/nio-venv/bin/python");
        let mut child = Command::new(&python)
            .arg(root().join("tests/support/nio_peer.py"))
            .arg(&self.dir)
            .args(["send-late", room_id, text, &seconds.to_string()])
            .env("no_proxy", "127.0.0.1,localhost")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("{} (run scripts/deps): {err}", python.display()));
        let mut line = String::new();
        let stdout = child.stdout.as_mut().expect("piped");
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("nio's output");
        assert!(line.starts_with('$'), "nio send-late printed {line:?}");
        (line.trim().to_owned(), child)
    }

    /// The content of a real Megolm event whose room key nobody was ever given.
    pub fn forged_megolm(text: &str) -> JsonValue {
        let nobody = Self {
            dir: PathBuf::from("-"),
            user_id: String::new(),
        };
        serde_json::from_str(&nobody.run(&["forge-megolm", text])).expect("JSON")
    }

    fn run(&self, args: &[&str]) -> String {
        let (stdout, success) = self.output(args);
        assert!(success, "nio {args:?} failed:\n{stdout}");
        stdout
    }

    /// What a command printed (its errors after its output), and whether it succeeded.
    fn output(&self, args: &[&str]) -> (String, bool) {
        let python = root().join(".cache/nio-venv/bin/python");
        let output = Command::new(&python)
            .arg(root().join("tests/support/nio_peer.py"))
            .arg(&self.dir)
            .args(args)
            .env("no_proxy", "127.0.0.1,localhost")
            .output()
            .unwrap_or_else(|err| panic!("{} (run scripts/deps): {err}", python.display()));
        let mut stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            stdout.push_str(&String::from_utf8_lossy(&output.stderr));
        }
        (stdout, output.status.success())
    }
}
