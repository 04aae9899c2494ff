//! The command examples that need a homeserver, run end to end: each example's text as its
//! command shows it, with the example names swapped for the test servers' (`example.org` is
//! `localhost`, `https://matrix.example.org` the server's URL, `input -s` reads `$env.PW`), run
//! in the real nu, and the shape of what it gives (`describe`) compared with the expected one.
//! An example whose text no command shows, or that fails, fails the test; so does an example
//! left unrun at the end.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use nu_plugin::Plugin;
use nu_plugin_matrix::plugin::MatrixPlugin;

use super::pty::Terminal;
use super::{NuRun, Running, nu_binary, nu_with, plugin_binary, scratch};

/// Whether an example needs another person (a matrix-sdk peer, emoji compared at a
/// terminal): `tests/e2e_verify.rs` runs those, by their text ([`example_text`]).
pub fn needs_a_person(command: &str, example: &str) -> bool {
    ["matrix e2ee verify", "matrix e2ee withdraw"].contains(&command)
        || example.starts_with("matrix devices @admin:example.org")
}

/// The text of the example of `command` that starts with `start`, `@admin:example.org` made
/// `admin` (a test's person).
pub fn example_text(command: &str, start: &str, admin: &str) -> String {
    MatrixPlugin::new()
        .commands()
        .iter()
        .filter(|candidate| candidate.name() == command)
        .flat_map(|candidate| candidate.examples())
        .map(|example| example.example.to_owned())
        .find(|example| example.starts_with(start))
        .unwrap_or_else(|| panic!("{command} has no example starting {start:?}"))
        .replace("@admin:example.org", admin)
}

/// Whether an example needs MAS (the MAS suite runs those): OAuth 2.0 logins, and the
/// commands of MAS's admin API.
pub fn needs_mas(command: &str, example: &str) -> bool {
    example.contains("--oauth")
        || [
            "matrix admin session",
            "matrix admin token",
            "matrix admin tokens",
            "matrix admin revoke",
        ]
        .contains(&command)
}

/// What an example gave: its `describe`, and its value as JSON.
pub struct Gave {
    pub shape: String,
    pub json: serde_json::Value,
}

pub struct Examples {
    /// Example text → the test's text, in the order they are applied.
    swaps: Vec<(String, String)>,
    /// The folder the examples run in, with the files they open.
    pub dir: PathBuf,
    /// `XDG_CONFIG_HOME`: where the sessions they save go.
    pub config: PathBuf,
    env: Vec<(String, String)>,
    /// The examples run so far, and shape mismatches (reported together at the end).
    ran: Mutex<BTreeSet<String>>,
    wrong: Mutex<Vec<String>>,
}

impl Examples {
    /// Examples against the homeserver at `url`; `swaps` are replacements of this test's own,
    /// applied before the common ones; `env` is set for every run (a discovery origin).
    pub fn new(name: &str, url: &str, swaps: &[(&str, &str)], env: &[(&str, &str)]) -> Self {
        let dir = scratch(name);
        let config = dir.join("config");
        std::fs::create_dir_all(&config).expect("a config folder");
        let mut all: Vec<(String, String)> = swaps
            .iter()
            .map(|(from, to)| ((*from).to_owned(), (*to).to_owned()))
            .collect();
        for (from, to) in [
            ("https://matrix.example.org", url),
            ("example.org", "localhost"),
            ("input -s \"Password: \"", "$env.PW"),
            ("input -s 'Token: '", "$env.PW"),
            ("input -s", "$env.PW"),
        ] {
            all.push((from.to_owned(), to.to_owned()));
        }
        Self {
            swaps: all,
            config,
            dir,
            env: env
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
            ran: Mutex::new(BTreeSet::new()),
            wrong: Mutex::new(Vec::new()),
        }
    }

    /// Writes a file the examples open.
    pub fn file(&self, name: &str, contents: &str) {
        std::fs::write(self.dir.join(name), contents).expect("write an example's file");
    }

    /// Runs a script of the test's own (preparing sessions) in the examples' folder and
    /// config, `$env.PW` set to `secret`; it must succeed.
    pub fn prepare(&self, script: &str, secret: &str) {
        let run = self.nu(script, secret);
        assert!(run.success, "preparing `{script}`: {}", run.stderr);
    }

    /// Runs `example`, `$env.PW` set to `secret` (what `input -s` would read), and checks its
    /// shape; with `setup`, a line of nu (a setting) runs first.
    pub fn run(&self, example: &str, secret: &str, shape: &str) -> Gave {
        self.run_after("", example, secret, shape)
    }

    pub fn run_after(&self, setup: &str, example: &str, secret: &str, shape: &str) -> Gave {
        let script = self.script(setup, example);
        let run = self.nu(&script, secret);
        assert!(
            run.success,
            "the example `{example}` failed (run as `{script}`): {}",
            run.stderr
        );
        self.judge(example, shape, &run.stdout)
    }

    /// Runs `example` at a terminal, typing `password` at the plugin's own password prompt.
    pub fn run_at_terminal(&self, example: &str, password: &str, shape: &str) -> Gave {
        let script_file = self.dir.join("example.nu");
        std::fs::write(&script_file, self.script("", example)).expect("write the script");
        let env: String = self
            .env
            .iter()
            .map(|(key, value)| format!("{key}='{value}' "))
            .collect();
        let command = format!(
            "cd '{dir}' && {env}XDG_CONFIG_HOME='{config}' XDG_DATA_HOME='{config}/data' {nu} --no-config-file --plugins '[{plugin}]' '{script}'",
            dir = self.dir.display(),
            config = self.config.display(),
            nu = nu_binary().display(),
            plugin = plugin_binary(),
            script = script_file.display(),
        );
        let terminal = Terminal::start(&command, &self.dir.join("typescript"));
        terminal.wait_for("Password for", Duration::from_secs(20));
        terminal.type_keys(format!("{password}\r").as_bytes());
        let (success, screen) = terminal.finish(Duration::from_secs(30));
        assert!(
            success,
            "the example `{example}` failed at a terminal: {screen}"
        );
        let printed = screen
            .split_once("Password for")
            .map_or(screen.as_str(), |(_, after)| after)
            .split_once('\n')
            .map_or("", |(_, after)| after)
            .replace('\r', "");
        self.judge(example, shape, &printed)
    }

    /// Runs `example` in the background while `user` plays the user it waits for (signs in
    /// at the page it prints, approves a device), with no graphical session to open a browser.
    pub fn run_while(&self, example: &str, shape: &str, user: impl FnOnce(&mut Running)) -> Gave {
        let script = self.script("", example);
        let mut nu = Running::start(&script, |command| {
            self.set_up(command, "");
            command.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
        });
        user(&mut nu);
        let run = nu.finish(Duration::from_secs(60));
        assert!(
            run.success,
            "the example `{example}` failed: {}",
            run.stderr
        );
        self.judge(example, shape, &run.stdout)
    }

    /// Runs `example`, which goes on until stopped (a bot), while `act` does what it reacts to
    /// and waits for its effect; then stops it as Ctrl-C would. It must have printed no error.
    pub fn run_until_stopped(&self, example: &str, act: impl FnOnce()) {
        let script = self.script("", example);
        let nu = Running::start(&script, |command| self.set_up(command, ""));
        act();
        nu.interrupt();
        let run = nu.finish(Duration::from_secs(30));
        // Nushell reports the Ctrl-C itself as an error; any other is the example's.
        assert!(
            run.stderr.matches("Error:").count() <= run.stderr.matches("interrupted").count(),
            "the example `{example}` failed: {}",
            run.stderr
        );
        self.ran.lock().unwrap().insert(example.to_owned());
    }

    /// Fails unless every example that carries no result, of the commands and examples `mine`
    /// picks, ran.
    pub fn all_ran(&self, mine: impl Fn(&str, &str) -> bool) {
        let ran = self.ran.lock().unwrap();
        let unrun: Vec<String> = MatrixPlugin::new()
            .commands()
            .iter()
            .flat_map(|command| {
                command
                    .examples()
                    .into_iter()
                    .filter(|example| mine(command.name(), example.example))
                    .map(|example| (example.example.to_owned(), example.result.is_none()))
                    .collect::<Vec<_>>()
            })
            .filter(|(example, unchecked)| *unchecked && !ran.contains(example))
            .map(|(example, _)| example)
            .collect();
        assert!(unrun.is_empty(), "examples no test ran: {unrun:#?}");
        let wrong = self.wrong.lock().unwrap();
        assert!(
            wrong.is_empty(),
            "examples of the wrong shape:\n{}",
            wrong.join("\n")
        );
    }

    fn script(&self, setup: &str, example: &str) -> String {
        assert!(
            is_an_example(example),
            "no command shows the example `{example}`"
        );
        let local = self
            .swaps
            .iter()
            .fold(example.to_owned(), |text, (from, to)| {
                text.replace(from, to)
            });
        format!(
            "{setup}\nlet result = do {{ {local} }}\nprint $\"shape: ($result | describe)\"\nprint $\"json: ($result | to json --raw)\""
        )
    }

    fn nu(&self, script: &str, secret: &str) -> NuRun {
        nu_with(script, |command| self.set_up(command, secret))
    }

    fn set_up(&self, command: &mut Command, secret: &str) {
        command
            .current_dir(&self.dir)
            .env("XDG_CONFIG_HOME", &self.config)
            .env("XDG_DATA_HOME", self.config.join("data"))
            .env("PW", secret)
            .envs(self.env.iter().map(|(key, value)| (key, value)));
    }

    fn judge(&self, example: &str, shape: &str, printed: &str) -> Gave {
        self.ran.lock().unwrap().insert(example.to_owned());
        // Marked lines: nu may print its own notes at a terminal.
        let marked = |mark: &str| {
            printed
                .lines()
                .find_map(|line| line.trim().strip_prefix(mark))
                .unwrap_or_else(|| panic!("`{example}` printed no {mark:?} line: {printed}"))
                .to_owned()
        };
        let gave = sorted_oneofs(&marked("shape: "));
        let json = serde_json::from_str(&marked("json: "))
            .unwrap_or_else(|err| panic!("`{example}` gave no JSON ({err}): {printed}"));
        if !shape_matches(shape, &gave) {
            self.wrong.lock().unwrap().push(format!(
                "`{example}`\n  expected {shape}\n  gave     {gave}"
            ));
        }
        Gave { shape: gave, json }
    }
}

fn is_an_example(text: &str) -> bool {
    MatrixPlugin::new()
        .commands()
        .iter()
        .flat_map(|command| command.examples())
        .any(|example| example.example == text)
}

/// Whether `gave` is `shape`; a shape ending in `…>` (the columns of a server's own answer)
/// matches any that starts as it does.
fn shape_matches(shape: &str, gave: &str) -> bool {
    match shape.strip_suffix("…>") {
        Some(start) => gave.starts_with(start),
        None => gave == shape,
    }
}

/// `describe` lists the types of a `oneof` in the order the rows had them: sorted here.
fn sorted_oneofs(shape: &str) -> String {
    let mut out = String::new();
    let mut rest = shape;
    while let Some(at) = rest.find("oneof<") {
        let (before, after) = rest.split_at(at + "oneof<".len());
        out.push_str(before);
        let end = after.find('>').unwrap_or(after.len());
        let mut types: Vec<&str> = after[..end].split(", ").collect();
        types.sort_unstable();
        out.push_str(&types.join(", "));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}
