//! A bot of the encryption and conversation tests: a saved session `bot` of a fresh user on
//! the test Synapse, in a config folder of its own, driven through the real nu; and the
//! encrypted direct chat a matrix-nio user opens with it.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value as JsonValue;

use super::nio::Nio;
use super::{NuRun, Running, nu_command, scratch, synapse, unique_user};

/// A bot: a saved session `bot` in a config folder of its own (its crypto store under
/// `<config>/data`).
pub struct Bot {
    pub user_id: String,
    pub password: String,
    pub config: PathBuf,
}

impl Bot {
    pub fn new(prefix: &str) -> Self {
        let hs = synapse();
        let localpart = unique_user(prefix);
        let password = format!("pw-{localpart}-9");
        let user_id = hs.register(&localpart, &password);
        let bot = Self {
            user_id,
            password,
            config: scratch(&format!("e2ee-{localpart}")),
        };
        bot.login("bot", "");
        bot
    }

    /// Logs in again and saves the session as `name` (`extra`: more flags).
    pub fn login(&self, name: &str, extra: &str) -> NuRun {
        let run = self.nu(&format!(
            "$env.PW | matrix login {} -H {} --save {name} {extra} | get device_id",
            self.user_id,
            synapse().url
        ));
        assert!(run.success, "{}", run.stderr);
        run
    }

    pub fn nu(&self, script: &str) -> NuRun {
        super::nu_cfg(script, &self.config, &self.password)
    }

    /// Runs `script`, which must succeed; its stdout, trimmed.
    pub fn ok(&self, script: &str) -> String {
        let run = self.nu(script);
        assert!(run.success, "{script}: {}", run.stderr);
        run.stdout.trim().to_owned()
    }

    pub fn json(&self, script: &str) -> JsonValue {
        let out = self.ok(&format!("{script} | to json -r"));
        serde_json::from_str(&out).unwrap_or_else(|err| panic!("{err}: {out}"))
    }

    /// The crypto stores under the bot's data folder.
    pub fn stores(&self) -> Vec<PathBuf> {
        let dir = self.config.join("data/nu_plugin_matrix/crypto");
        let mut stores: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
            .unwrap_or_default();
        stores.sort();
        stores
    }

    /// A `matrix listen` of the saved session, running.
    pub fn listen(&self, flags: &str) -> Running {
        let mut command = nu_command();
        command
            .env("XDG_CONFIG_HOME", &self.config)
            .env("XDG_DATA_HOME", self.config.join("data"))
            .arg("-c")
            .arg(format!(
                "matrix listen --session bot {flags} | each {{|row| print -e ($row | reject content time | to json -r) }}"
            ));
        let listener = Running::spawn(command);
        // Placed (its first sync made) well within this.
        std::thread::sleep(Duration::from_secs(3));
        listener
    }
}

/// A DM from nio to the bot, joined by the bot, whose device has its keys on the server
/// (`matrix e2ee status` made its store).
pub fn dm(bot: &Bot, nio: &Nio) -> String {
    let room = nio.create_dm(&bot.user_id);
    bot.ok(&format!("matrix join '{room}' --session bot | ignore"));
    bot.ok("matrix e2ee status --session bot | ignore");
    room
}

pub fn row_of(line: &str) -> JsonValue {
    serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}"))
}
