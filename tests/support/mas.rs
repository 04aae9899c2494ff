//! A real matrix-authentication-service deployment for the OAuth 2.0 suite (`tests/e2e_mas.rs`):
//! PostgreSQL, MAS, a Synapse that delegates its accounts to it, and the router in front of both,
//! all on 127.0.0.1, started once per test binary by `scripts/mas` and stopped when it exits.
//! MAS comes from the release named by `MAS_DIST` (`scripts/deps` installs it).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use super::{root, start_script};

/// The deployment: `url` is the homeserver URL clients use (the router's).
pub struct Mas {
    pub url: String,
    pub dir: PathBuf,
    /// MAS's issuer URL.
    pub issuer: String,
}

static MAS: OnceLock<Mas> = OnceLock::new();

/// The MAS deployment of this test binary, started on first use.
pub fn mas() -> &'static Mas {
    MAS.get_or_init(|| {
        assert!(
            root().join(".cache/mas/mas-cli").exists(),
            "MAS is not installed: run MAS_DIST=<a MAS release tarball or folder> scripts/deps"
        );
        let (url, dir) = start_script("mas", "mas", &[]);
        let issuer = std::fs::read_to_string(dir.join("issuer"))
            .expect("MAS's issuer")
            .trim()
            .to_owned();
        Mas { url, dir, issuer }
    })
}

impl Mas {
    /// Registers a user on MAS (`mas-cli manage register-user`) and returns its user ID.
    pub fn register(&self, localpart: &str, password: &str) -> String {
        self.script(&["register", localpart, password]);
        format!("@{localpart}:localhost")
    }

    /// A compatibility token (`mct_…`) for the user, from `mas-cli manage
    /// issue-compatibility-token`.
    pub fn compat_token(&self, localpart: &str) -> String {
        self.script(&["compat-token", localpart]).trim().to_owned()
    }

    fn script(&self, args: &[&str]) -> String {
        let (command, rest) = args.split_first().expect("a command");
        let output = Command::new(root().join("scripts/mas"))
            .arg(command)
            .arg(&self.dir)
            .args(rest)
            .output()
            .expect("run scripts/mas");
        assert!(
            output.status.success(),
            "scripts/mas {command}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("text")
    }
}
