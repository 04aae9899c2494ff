//! The other person of the encryption tests as Element X is: matrix-sdk 0.18, driven through
//! the project's own small client (`tests/peer`), one command per run, its device, store and
//! sync position in a folder of its own.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::Once;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::Value as JsonValue;

use super::{Synapse, root, scratch, unique_user};

/// A matrix-sdk user (or a second device of one) on the test Synapse.
pub struct Peer {
    dir: PathBuf,
    /// The user's ID.
    pub user_id: String,
    /// The user's password (empty for [`Peer::login_as`]'s, which is the other user's).
    pub password: String,
}

impl Peer {
    /// Registers a new user on `hs` and logs matrix-sdk in with it, cross-signing set up as
    /// Element X does. `excluding_insecure`: Element X's "exclude insecure devices" mode.
    pub fn login(hs: &Synapse, prefix: &str, excluding_insecure: bool) -> Self {
        let localpart = unique_user(prefix);
        let password = format!("pw-{localpart}-5");
        let user_id = hs.register(&localpart, &password);
        let peer = Self {
            dir: scratch(&format!("peer-{localpart}")),
            user_id,
            password: password.clone(),
        };
        let mode = if excluding_insecure {
            "insecure-excluded"
        } else {
            "all"
        };
        peer.run(&["login", &hs.url, &peer.user_id, &password, mode]);
        peer
    }

    /// Logs matrix-sdk in as `user_id` (who has cross-signing and a recovery key already) on a
    /// device of its own, and recovers with `recovery_key`: the device is cross-signed.
    pub fn login_as(hs: &Synapse, user_id: &str, password: &str, recovery_key: &str) -> Self {
        let peer = Self {
            dir: scratch(&format!("peer-as-{}", unique_user("as"))),
            user_id: user_id.to_owned(),
            password: password.to_owned(),
        };
        peer.run(&["login-as", &hs.url, user_id, password, recovery_key]);
        peer
    }

    /// A new encrypted room (history shared with members), `invitees` invited (the room's
    /// history shared with each first); its ID.
    pub fn create_room(&self, invitees: &[&str]) -> String {
        let mut args = vec!["create-room"];
        args.extend(invitees);
        self.run(&args).trim().to_owned()
    }

    /// Invites `user_id`, sharing the room's history with them first (MSC4268).
    pub fn invite(&self, room_id: &str, user_id: &str) {
        self.run(&["invite", room_id, user_id]);
    }

    /// Sends `text`; its event ID.
    pub fn send(&self, room_id: &str, text: &str) -> String {
        self.run(&["send", room_id, text]).trim().to_owned()
    }

    /// Joins `room_id`, importing the history its inviter shared.
    pub fn join(&self, room_id: &str) {
        self.run(&["join", room_id]);
    }

    /// The bodies of the room's messages, newest first (`None`: not decrypted).
    pub fn read(&self, room_id: &str) -> Vec<Option<String>> {
        self.run(&["read", room_id])
            .lines()
            .map(|line| {
                let row: serde_json::Value = serde_json::from_str(line).expect("JSON");
                row["body"].as_str().map(str::to_owned)
            })
            .collect()
    }

    /// Syncs for `seconds` in the background (answering key requests, taking keys).
    pub fn serve(&self, seconds: u32) -> Child {
        command()
            .arg(&self.dir)
            .args(["serve", &seconds.to_string()])
            .spawn()
            .expect("matrix-peer starts")
    }

    /// A new encrypted room marked as the direct room with `user_id` (invited); its ID.
    pub fn create_dm(&self, user_id: &str) -> String {
        self.run(&["create-dm", user_id]).trim().to_owned()
    }

    /// `user_id`'s identity as the SDK sees it: `{"verified", "master_key"}`.
    pub fn identity(&self, user_id: &str) -> JsonValue {
        serde_json::from_str(self.run(&["identity", user_id]).trim()).expect("JSON")
    }

    /// New cross-signing keys for the account (its identity changes), as Element X's reset.
    pub fn reset_identity(&self) {
        self.run(&["reset-identity", &self.password]);
    }

    /// Answers `user_id`'s next verification request, for up to `seconds`.
    pub fn answer_verification(&self, user_id: &str, seconds: u32) -> Verifier {
        Verifier::start(&self.dir, &["verify-answer", user_id, &seconds.to_string()])
    }

    /// Hears `user_id`'s next verification request and never answers it.
    pub fn ignore_verification(&self, user_id: &str, seconds: u32) -> Verifier {
        let seconds = seconds.to_string();
        Verifier::start(
            &self.dir,
            &["verify-answer", user_id, &seconds, "unanswered"],
        )
    }

    /// Asks `user_id` for a verification: `way` is `["room"]` or `["to-device", DEVICE]`.
    pub fn request_verification(&self, user_id: &str, way: &[&str], seconds: u32) -> Verifier {
        let mut args = vec!["verify-request", user_id];
        args.extend(way);
        let seconds = seconds.to_string();
        args.push(&seconds);
        Verifier::start(&self.dir, &args)
    }

    fn run(&self, args: &[&str]) -> String {
        let output: Output = command()
            .arg(&self.dir)
            .args(args)
            .output()
            .expect("matrix-peer runs");
        assert!(
            output.status.success(),
            "matrix-peer {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// The peer's command: `scripts/test` builds it into the project's target folder before the
/// tests (sharing the dependencies it has in common with the crate); a test run without it
/// builds it first into a folder of its own (once per test process).
fn command() -> Command {
    static BUILT: Once = Once::new();
    let shared = root().join("target/debug/matrix-peer");
    let own = root().join("target/peer");
    if !shared.exists() {
        BUILT.call_once(|| {
            let status = Command::new(env!("CARGO"))
                .args(["build", "--locked", "--quiet", "--manifest-path"])
                .arg(root().join("tests/peer/Cargo.toml"))
                .arg("--target-dir")
                .arg(&own)
                .status()
                .expect("cargo runs");
            assert!(status.success(), "tests/peer does not build");
        });
    }
    let binary = if shared.exists() {
        shared
    } else {
        own.join("debug/matrix-peer")
    };
    let mut command = Command::new(binary);
    command.env("no_proxy", "127.0.0.1,localhost");
    command.env("RUST_LOG", "off");
    command
}

/// The SDK's side of one verification, running: its JSON lines read, its answer given.
pub struct Verifier {
    child: Child,
    keyboard: ChildStdin,
    lines: Receiver<String>,
    said: Vec<String>,
}

impl Verifier {
    fn start(dir: &std::path::Path, args: &[&str]) -> Self {
        let mut child = command()
            .arg(dir)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("matrix-peer starts");
        let keyboard = child.stdin.take().expect("stdin");
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        let (send, lines) = channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        let mut verifier = Self {
            child,
            keyboard,
            lines,
            said: Vec::new(),
        };
        verifier.line_with("listening", Duration::from_secs(60));
        verifier
    }

    /// The next line that has `field`, as JSON; fails after `within` with what was said.
    pub fn line_with(&mut self, field: &str, within: Duration) -> JsonValue {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "matrix-peer said no {field:?} within {within:?}: {:?}",
                    self.said
                )
            });
            self.said.push(line.clone());
            let json: JsonValue = serde_json::from_str(&line).expect("JSON line");
            if json.get(field).is_some() {
                return json;
            }
        }
    }

    /// The emoji the SDK shows: `[{symbol, description}]`.
    pub fn emoji(&mut self) -> Vec<(String, String)> {
        let said = self.line_with("emoji", Duration::from_secs(60));
        said["emoji"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|emoji| {
                (
                    emoji["symbol"].as_str().unwrap_or_default().to_owned(),
                    emoji["description"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// The person's answer: `confirm`, `mismatch` or `cancel`.
    pub fn answer(&mut self, answer: &str) {
        writeln!(self.keyboard, "{answer}").expect("matrix-peer reads");
        self.keyboard.flush().expect("matrix-peer reads");
    }

    /// How it ended: `{"outcome": "done", "verified"}` or `{"outcome": "cancelled", "code",
    /// "by_me"}` or `{"outcome": "none"}`.
    pub fn outcome(mut self) -> JsonValue {
        let outcome = self.line_with("outcome", Duration::from_secs(60));
        let _ = self.child.wait();
        outcome
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
