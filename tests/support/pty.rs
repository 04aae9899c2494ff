//! A pseudo-terminal (util-linux `script`) around a shell command, for what only happens at a
//! terminal: the hidden password prompt, Tab completion in the interactive line editor.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub struct Terminal {
    child: Child,
    keyboard: Arc<Mutex<ChildStdin>>,
    screen: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
}

impl Terminal {
    /// The process ID of `script`, the terminal's owner (the command runs below it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs `command` (a shell command line) in a pseudo-terminal; the typescript goes to
    /// `typescript`.
    pub fn start(command: &str, typescript: &std::path::Path) -> Self {
        let mut child = Command::new("script")
            .arg("-qfec")
            .arg(command)
            .arg(typescript)
            .env("NO_COLOR", "1")
            .env("no_proxy", "127.0.0.1,localhost")
            // No Secret Service: the machine's own keyring is never touched.
            .env("DBUS_SESSION_BUS_ADDRESS", super::keyring::NO_BUS)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run util-linux `script` (a pseudo-terminal)");
        let keyboard = Arc::new(Mutex::new(child.stdin.take().expect("stdin")));
        let screen = Arc::new(Mutex::new(Vec::new()));
        let mut output = child.stdout.take().expect("stdout");
        let (sink, answers) = (screen.clone(), keyboard.clone());
        let reader = thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = output.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                let chunk = &buffer[..n];
                // A line editor asks where the cursor is and waits: answer as a terminal does.
                let asks = chunk.windows(4).filter(|w| w == b"\x1b[6n").count();
                for _ in 0..asks {
                    let _ = answers.lock().unwrap().write_all(b"\x1b[1;1R");
                }
                sink.lock().unwrap().extend_from_slice(chunk);
            }
        });
        Self {
            child,
            keyboard,
            screen,
            reader: Some(reader),
        }
    }

    /// An interactive nu with this plugin (no config files, no history), its session file in
    /// `config`, ready at its prompt.
    pub fn nu_prompt(config: &std::path::Path, name: &str) -> Self {
        let command = format!(
            "XDG_CONFIG_HOME='{config}' XDG_DATA_HOME='{config}/data' {nu} --no-config-file --no-history --plugins '[{plugin}]'",
            config = config.display(),
            nu = super::nu_binary().display(),
            plugin = super::plugin_binary(),
        );
        let terminal = Self::start(&command, &super::scratch(name).join("typescript"));
        terminal.wait_for("Startup Time", Duration::from_secs(20));
        terminal
    }

    /// Everything shown so far.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    /// Waits until the screen shows `needle`; fails after `within`, showing the screen.
    pub fn wait_for(&self, needle: &str, within: Duration) {
        let started = Instant::now();
        while !self.screen().contains(needle) {
            assert!(
                started.elapsed() < within,
                "no {needle:?} on the screen within {within:?}: {}",
                self.screen()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `line` (a leading Ctrl-C clears the line first), then Tab, and waits for `shown`
    /// (the completed text); returns how long the completion took to show.
    pub fn tab_completes(&self, line: &str, shown: &str, within: Duration) -> Duration {
        self.type_keys(line.as_bytes());
        self.wait_for(line.trim_start_matches('\x03'), within);
        let started = Instant::now();
        self.type_keys(b"\t");
        self.wait_for(shown, within);
        started.elapsed()
    }

    /// Types `keys`.
    pub fn type_keys(&self, keys: &[u8]) {
        self.keyboard
            .lock()
            .unwrap()
            .write_all(keys)
            .expect("type at the terminal");
    }

    /// Waits for the command to end (killing it after `within`); returns whether it succeeded
    /// and the whole screen.
    pub fn finish(mut self, within: Duration) -> (bool, String) {
        let started = Instant::now();
        let success = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status.success();
            }
            if started.elapsed() > within {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break false;
            }
            thread::sleep(Duration::from_millis(50));
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        (success, self.screen())
    }
}
