//! The guides' examples: every Nushell block of README.md and docs/*.md, parsed in the real nu,
//! and run against Synapse with the example names swapped for the test server's
//! (`https://matrix.example.org` is its URL, `example.org` is `localhost`, `input -s` reads
//! `$env.PW`). A comment right before a block says when it is tested another way:
//!
//! - `<!-- docs-test: command examples (...) -->`: each of its lines is the text of a command's
//!   example, which `tests/e2e_command_examples.rs` (or the MAS suite) runs as `help` shows it;
//! - `<!-- docs-test: a bot: NAME -->`: it runs until stopped; the saved session NAME, invited to
//!   a room, must join it and answer `!ping` with `pong`;
//! - `<!-- docs-test: parse only (why) -->`: it is only parsed (it installs the plugin, say).
//!
//! Any other block runs as one script, in its file's order, and must succeed.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nu_plugin::Plugin;
use nu_plugin_matrix::plugin::MatrixPlugin;
use serde_json::json;
use support::nio::Nio;
use support::{Running, Synapse, nu_with, root, scratch, synapse};

const PW: &str = "pw-Docs-1";

/// How a block is tested.
#[derive(Debug, Clone, PartialEq, Eq)]
enum How {
    Run,
    ParseOnly,
    CommandExamples,
    Bot(String),
}

#[derive(Debug)]
struct Block {
    file: String,
    line: usize,
    how: How,
    code: String,
}

impl Block {
    /// The code to parse or run: in a transcript (lines after a `> ` prompt are what it
    /// printed), the prompted lines alone.
    fn source(&self) -> String {
        let prompted: Vec<&str> = self
            .code
            .lines()
            .filter_map(|line| line.strip_prefix("> "))
            .collect();
        if prompted.is_empty() {
            self.code.clone()
        } else {
            prompted.join("\n")
        }
    }

    fn place(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// The guides, README.md first.
fn guides() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    docs.insert(0, root().join("README.md"));
    docs
}

/// Every ```nu block of `path`, with how it is tested.
fn blocks_of(path: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(path).expect("a guide");
    let file = path
        .strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string();
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut at = 0;
    while at < lines.len() {
        if lines[at] != "```nu" {
            at += 1;
            continue;
        }
        let marker = at
            .checked_sub(1)
            .and_then(|before| lines[before].strip_prefix("<!-- docs-test: "))
            .map(|rest| rest.trim_end_matches(" -->"));
        let how = match marker {
            None => How::Run,
            Some(text) if text.starts_with("parse only (") => How::ParseOnly,
            Some(text) if text.starts_with("command examples") => How::CommandExamples,
            Some(text) if text.starts_with("a bot: ") => How::Bot(text[7..].trim().to_owned()),
            Some(text) => panic!("{file}:{at}: unknown docs-test marker {text:?}"),
        };
        let end = (at + 1..lines.len())
            .find(|&i| lines[i] == "```")
            .unwrap_or_else(|| panic!("{file}:{at}: a block that does not end"));
        blocks.push(Block {
            file: file.clone(),
            line: at + 1,
            how,
            code: lines[at + 1..end].join("\n"),
        });
        at = end + 1;
    }
    blocks
}

fn all_blocks() -> Vec<Block> {
    guides().iter().flat_map(|path| blocks_of(path)).collect()
}

#[test]
fn every_block_parses_in_real_nu() {
    let blocks = all_blocks();
    assert!(blocks.len() > 15, "{} blocks", blocks.len());
    let sources: Vec<String> = blocks.iter().map(Block::source).collect();
    // A plugin registry with the plugin in it, as the README's install leaves it: `plugin use
    // matrix` parses only with one.
    let registry = scratch("docs-registry").join("plugins.msgpackz");
    let add = format!(
        "plugin add --plugin-config '{}' '{}'",
        registry.display(),
        support::plugin_binary()
    );
    let added = nu_with(&add, |_| {});
    assert!(added.success, "{}", added.stderr);
    // (Nushell reads the registry for `plugin use` only with its config files on: here, those
    // of an empty config folder of the test's.)
    let output = std::process::Command::new(support::nu_binary())
        .env("XDG_CONFIG_HOME", scratch("docs-parse-config"))
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .arg("--plugin-config")
        .arg(&registry)
        .arg("-c")
        .arg("$env.BLOCKS | from json | each {|b| ast --json $b | get error } | to json --raw")
        .env("BLOCKS", serde_json::to_string(&sources).expect("JSON"))
        .output()
        .expect("run nu");
    let run = support::NuRun {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        success: output.status.success(),
    };
    assert!(run.success, "{}", run.stderr);
    let errors: Vec<serde_json::Value> =
        serde_json::from_str(run.stdout.trim()).expect("a JSON list");
    let broken: Vec<String> = blocks
        .iter()
        .zip(&errors)
        .filter(|(_, error)| error.as_str() != Some("null") && !error.is_null())
        .map(|(block, error)| format!("{}: {error}", block.place()))
        .collect();
    assert!(broken.is_empty(), "blocks that do not parse: {broken:#?}");
}

#[test]
fn blocks_of_command_examples_are_the_commands_examples() {
    let examples: Vec<String> = MatrixPlugin::new()
        .commands()
        .iter()
        .flat_map(|command| command.examples())
        .map(|example| example.example.to_owned())
        .collect();
    let mut checked = 0;
    for block in all_blocks()
        .iter()
        .filter(|block| block.how == How::CommandExamples)
    {
        for line in block.source().lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            assert!(
                examples.iter().any(|example| example == line),
                "{}: `{line}` is no command's example (so no test runs it)",
                block.place()
            );
            checked += 1;
        }
    }
    assert!(checked > 10, "{checked}");
}

/// What the guides' examples find on the server: @bot and @me with the password `PW`, @admin
/// a server admin, and #ops:localhost (made by @admin) that @bot is in.
struct World<'a> {
    hs: &'a Synapse,
    admin_token: String,
    ops: String,
}

impl World<'_> {
    fn new() -> World<'static> {
        let hs = synapse();
        let admin_token = hs.register_admin("admin", PW);
        hs.register("bot", PW);
        hs.register("me", PW);
        let ops = hs.call(
            &admin_token,
            "POST",
            "createRoom",
            &json!({"name": "Ops", "room_alias_name": "ops", "invite": ["@bot:localhost"]}),
        )["room_id"]
            .as_str()
            .expect("#ops")
            .to_owned();
        let bot_token = hs.login("@bot:localhost", PW);
        hs.call(&bot_token, "POST", &format!("join/{ops}"), &json!({}));
        World {
            hs,
            admin_token,
            ops,
        }
    }

    /// `code` with the example names swapped for the test server's.
    fn local(&self, code: &str) -> String {
        let config = self.hs.dir.join("homeserver.yaml");
        [
            ("https://matrix.example.org", self.hs.url.as_str()),
            (
                "/matrix/synapse/config/homeserver.yaml",
                &config.to_string_lossy(),
            ),
            ("example.org", "localhost"),
            ("input -s \"Password: \"", "$env.PW"),
            ("input -s", "$env.PW"),
        ]
        .iter()
        .fold(code.to_owned(), |text, (from, to)| text.replace(from, to))
    }

    /// The latest events of #ops, newest first.
    fn latest(&self) -> Vec<serde_json::Value> {
        let page = self.hs.call(
            &self.admin_token,
            "GET",
            &format!("rooms/{}/messages?dir=b&limit=10", self.ops),
            &json!({}),
        );
        page["chunk"].as_array().cloned().unwrap_or_default()
    }

    /// The pong of `bot` in #ops, once it came.
    fn pong_from(&self, bot: &str) -> bool {
        // A pong that replies to a !ping, and a 👀 on that !ping.
        let events = self.latest();
        let pinged = |id: &serde_json::Value| {
            events
                .iter()
                .any(|event| &event["event_id"] == id && event["content"]["body"] == "!ping")
        };
        let replied = events.iter().any(|event| {
            event["sender"] == bot
                && event["content"]["body"] == "pong"
                && pinged(&event["content"]["m.relates_to"]["m.in_reply_to"]["event_id"])
        });
        let marked = events.iter().any(|event| {
            event["sender"] == bot
                && event["type"] == "m.reaction"
                && event["content"]["m.relates_to"]["key"] == "👀"
                && pinged(&event["content"]["m.relates_to"]["event_id"])
        });
        replied && marked
    }

    /// Whether `bot` sent a file to #ops.
    fn file_from(&self, bot: &str) -> bool {
        self.latest().iter().any(|event| {
            event["sender"] == bot
                && event["content"]["msgtype"] == "m.file"
                && event["content"]["info"]["mimetype"] == "application/json"
        })
    }

    fn joined(&self, user: &str) -> bool {
        self.hs.call(
            &self.admin_token,
            "GET",
            &format!("rooms/{}/joined_members", self.ops),
            &json!({}),
        )["joined"]
            .get(user)
            .is_some()
    }
}

/// Where a guide's examples run: a folder, and a session file of its own.
struct Place {
    dir: PathBuf,
}

impl Place {
    fn new(name: &str) -> Self {
        let dir = scratch(name);
        std::fs::create_dir_all(dir.join("config")).expect("a config folder");
        Self { dir }
    }

    fn set_up(&self, command: &mut std::process::Command) {
        command
            .current_dir(&self.dir)
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .env("XDG_DATA_HOME", self.dir.join("config").join("data"))
            .env("PW", PW);
    }

    fn run(&self, script: &str) -> support::NuRun {
        nu_with(script, |command| self.set_up(command))
    }
}

#[test]
fn the_guides_examples_run_against_synapse() {
    let world = World::new();
    let mut ran = 0;
    for guide in guides() {
        let blocks = blocks_of(&guide);
        let name = guide.file_stem().expect("a name").to_string_lossy();
        let place = Place::new(&format!("docs-{name}"));
        // Beyond the README (which makes its own), the guides' bot and admin are saved, the
        // bot first: the default session.
        if !guide.ends_with("README.md") {
            for user in ["bot", "admin"] {
                let saved = place.run(&format!(
                    "$env.PW | matrix login @{user}:localhost -H {} --save {user} | ignore",
                    world.hs.url
                ));
                assert!(saved.success, "{}", saved.stderr);
            }
        }
        for block in &blocks {
            match &block.how {
                How::Run => {
                    let script = world.local(&block.source());
                    let run = place.run(&script);
                    assert!(
                        run.success,
                        "{} failed (run as `{script}`): {}",
                        block.place(),
                        run.stderr
                    );
                    ran += 1;
                }
                How::Bot(session) => {
                    run_bot(&world, &place, block, session);
                    ran += 1;
                }
                How::ParseOnly | How::CommandExamples => {}
            }
        }
        if guide.ends_with("README.md") {
            redeployed(&place);
        }
    }
    assert!(ran >= 6, "{ran} blocks ran");
}

/// What the README's bot and its re-deploy leave: the secrets' files readable by their owner
/// only, the bot's new device cross-signed, and no device beyond the two (the one `register`
/// saved, the one the re-deploy logged in).
fn redeployed(place: &Place) {
    use std::os::unix::fs::PermissionsExt;
    for file in ["pingbot-password.txt", "recovery-key.txt"] {
        let meta = std::fs::metadata(place.dir.join(file)).expect(file);
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{file}");
    }
    let run = place.run(
        "let devices = (matrix devices --session pingbot); [($devices | length) ($devices | where current | get verified | first)] | to json -r",
    );
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "[2,true]");
}

/// Runs a bot's block until its session, invited to #ops, has joined and answered `!ping`.
fn run_bot(world: &World, place: &Place, block: &Block, session: &str) {
    let user = format!("@{session}:localhost");
    world.hs.call(
        &world.admin_token,
        "POST",
        &format!("rooms/{}/invite", world.ops),
        &json!({"user_id": user}),
    );
    let mut command = support::nu_command();
    command.arg("-c").arg(world.local(&block.source()));
    place.set_up(&mut command);
    let nu = Running::spawn(command);
    let within = Duration::from_secs(30);
    let started = Instant::now();
    while !world.joined(&user) {
        assert!(started.elapsed() < within, "{}: no join", block.place());
        std::thread::sleep(Duration::from_millis(200));
    }
    world.hs.send_text(&world.admin_token, &world.ops, "!ping");
    while !world.pong_from(&user) {
        assert!(started.elapsed() < within, "{}: no pong", block.place());
        std::thread::sleep(Duration::from_millis(200));
    }
    // A file on request.
    world
        .hs
        .send_text(&world.admin_token, &world.ops, "!report");
    while !world.file_from(&user) {
        assert!(started.elapsed() < within, "{}: no report", block.place());
        std::thread::sleep(Duration::from_millis(200));
    }
    // The same bot in an encrypted direct chat that a person (matrix-nio) opens with it: it
    // joins, decrypts the !ping and answers encrypted. The first !ping may go out before the
    // bot's device has its keys on the server (as in any client); it is asked again.
    let human = Nio::login(world.hs, "docshuman");
    let dm = human.create_dm(&user);
    let answered = (0..6).any(|_| {
        human.send(&dm, "!ping");
        human.try_read_until(&dm, "pong", 5).is_some_and(|seen| {
            seen.iter()
                .any(|m| m["body"] == "pong" && m["decrypted"] == true)
        })
    });
    assert!(answered, "{}: no encrypted pong in the DM", block.place());
    nu.interrupt();
    let run = nu.finish(within);
    // Nushell reports the Ctrl-C itself as an error; any other is the block's.
    assert!(
        run.stderr.matches("Error:").count() <= run.stderr.matches("nterrupted").count(),
        "{}: {}",
        block.place(),
        run.stderr
    );
}
