//! A real Secret Service for the keyring tests: GNOME Keyring on a D-Bus session bus of its own
//! (`scripts/keyring`), and `secret-tool` to look at its items as a person with a keyring app
//! would.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::{root, start_script};

/// The bus address every other nu run gets: nothing listens there, so `secrets: auto` keeps
/// tokens in the file and no test touches the keyring of the machine it runs on.
pub const NO_BUS: &str = "unix:path=/nonexistent/nu_plugin_matrix-tests/bus";

/// One keyring daemon and its bus, stopped when the test binary exits.
pub struct TestKeyring {
    /// Its bus, for `DBUS_SESSION_BUS_ADDRESS`.
    pub address: String,
    dir: PathBuf,
}

static SHARED: OnceLock<TestKeyring> = OnceLock::new();

/// The keyring of this test binary, started on first use. Tests share it: each saves under its
/// own config folder, so their items never meet.
pub fn keyring() -> &'static TestKeyring {
    SHARED.get_or_init(|| own_keyring("keyring"))
}

/// A keyring for one test alone (to lock it, or stop it).
pub fn own_keyring(name: &str) -> TestKeyring {
    let (address, dir) = start_script("keyring", name, &[]);
    TestKeyring { address, dir }
}

impl TestKeyring {
    /// Locks its login keyring.
    pub fn lock(&self) {
        self.script("lock");
    }

    /// Stops the daemon: nothing answers for the Secret Service any more.
    pub fn stop_daemon(&self) {
        self.script("stop-keyring");
    }

    fn script(&self, what: &str) {
        let status = Command::new(root().join("scripts/keyring"))
            .arg(what)
            .arg(&self.dir)
            .status()
            .expect("run scripts/keyring");
        assert!(status.success(), "scripts/keyring {what} failed");
    }

    /// The secret of the item of this plugin under `key`, if there is one.
    pub fn lookup(&self, key: &str) -> Option<String> {
        let output = self
            .secret_tool()
            .args(["lookup", "service", "nu_plugin_matrix", "username", key])
            .output()
            .expect("run secret-tool");
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Deletes the item under `key`, as a person in a keyring app would.
    pub fn delete_by_hand(&self, key: &str) {
        let status = self
            .secret_tool()
            .args(["clear", "service", "nu_plugin_matrix", "username", key])
            .status()
            .expect("run secret-tool");
        assert!(status.success());
    }

    /// What `secret-tool search` shows of this plugin's items with this key: labels and
    /// attributes.
    pub fn describe(&self, key: &str) -> String {
        let output = self
            .secret_tool()
            .args(["search", "service", "nu_plugin_matrix", "username", key])
            .output()
            .expect("run secret-tool");
        String::from_utf8_lossy(&output.stdout).into_owned()
            + String::from_utf8_lossy(&output.stderr).as_ref()
    }

    fn secret_tool(&self) -> Command {
        let mut command = Command::new("secret-tool");
        command
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .stdin(Stdio::null());
        command
    }

    /// Points a nu run at this keyring.
    pub fn give(&self, command: &mut Command) {
        command.env("DBUS_SESSION_BUS_ADDRESS", &self.address);
    }
}
