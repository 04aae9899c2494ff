//! The test harness: a real Synapse on 127.0.0.1 (one per test binary, started on first use and
//! stopped when the test binary exits), the real `nu` binary, and a fault-injecting loopback
//! server for answers no real homeserver gives.
//!
//! Synapse and nu come from `scripts/deps`, which installs them into `.cache/`. A test that needs
//! them and does not find them fails and says so.

#![allow(dead_code)] // each test binary uses a different part

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

pub mod bot;
pub mod browser;
pub mod examples;
pub mod keyring;
pub mod mas;
pub mod nio;
pub mod peer;
pub mod processes;
pub mod proxy;
pub mod pty;
pub mod relay;

use hmac::{Hmac, Mac};
use serde_json::{Value as JsonValue, json};
use sha1::Sha1;

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch folder for this test binary, under the target directory. Folders left by earlier
/// test processes that are gone are removed on first use.
pub fn scratch(name: &str) -> PathBuf {
    static CLEANED: OnceLock<()> = OnceLock::new();
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    CLEANED.get_or_init(|| remove_stale_scratch(base));
    let dir = base.join(format!("{}-{}", name, std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a scratch folder under target/tmp");
    dir
}

fn remove_stale_scratch(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .rsplit('-')
            .next()
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The real `nu` binary installed by scripts/deps.
pub fn nu_binary() -> PathBuf {
    let nu = root().join(".cache/nu/node_modules/@nushell/linux-x64/bin/nu");
    assert!(
        nu.is_file(),
        "the real nu binary is missing at {}: run scripts/deps (or scripts/test) first",
        nu.display()
    );
    nu
}

/// The plugin binary cargo built for this test run.
pub fn plugin_binary() -> &'static str {
    env!("CARGO_BIN_EXE_nu_plugin_matrix")
}

pub struct Synapse {
    pub url: String,
    pub dir: PathBuf,
    shared_secret: String,
    agent: ureq::Agent,
}

static SYNAPSE: OnceLock<Synapse> = OnceLock::new();
static SYNAPSE_NO_PASSWORD: OnceLock<Synapse> = OnceLock::new();

/// The Synapse of this test binary, started on first use.
pub fn synapse() -> &'static Synapse {
    SYNAPSE.get_or_init(|| start_synapse("synapse", &[]))
}

/// A second Synapse, with password login turned off, started on first use.
pub fn synapse_without_password_login() -> &'static Synapse {
    SYNAPSE_NO_PASSWORD
        .get_or_init(|| start_synapse("synapse-nopw", &[("SYNAPSE_PASSWORD_LOGIN", "false")]))
}

static SYNAPSE_OPEN: OnceLock<Synapse> = OnceLock::new();

/// A Synapse with open registration that requires a registration token, and without
/// simplified sliding sync (as servers without MSC4186 are), started on first use.
pub fn synapse_with_registration_tokens() -> &'static Synapse {
    SYNAPSE_OPEN.get_or_init(|| {
        start_synapse(
            "synapse-open",
            &[
                ("SYNAPSE_OPEN_REGISTRATION", "true"),
                ("SYNAPSE_SLIDING_SYNC", "false"),
            ],
        )
    })
}

static SYNAPSE_SSO: OnceLock<Synapse> = OnceLock::new();

/// A Synapse with single sign-on through an OpenID provider on loopback (oidc-provider-mock,
/// which signs in whoever types a user name; the IdP ID is `oidc-mock`), that sends login
/// tokens straight to `http://127.0.0.1:` addresses and hands out login tokens to sessions.
/// Password login works too. Both start on first use.
pub fn synapse_with_sso() -> &'static Synapse {
    SYNAPSE_SSO.get_or_init(|| {
        let (issuer, _) = start_script("oidc-provider", "oidc-provider", &[]);
        start_synapse(
            "synapse-sso",
            &[
                ("SYNAPSE_OIDC_ISSUER", &issuer),
                ("SYNAPSE_SSO_CLIENT_WHITELIST", "http://127.0.0.1:"),
                ("SYNAPSE_LOGIN_TOKENS", "true"),
            ],
        )
    })
}

/// A Synapse of the caller's own (not shared with the other tests of the binary), for a test
/// that stops and restarts it.
pub fn start_own_synapse(name: &str) -> Synapse {
    start_synapse(name, &[])
}

/// A Synapse whose listener speaks https with this certificate and key (PEM files).
pub fn start_synapse_with_tls(cert: &Path, key: &Path) -> Synapse {
    let cert = cert.to_string_lossy().into_owned();
    let key = key.to_string_lossy().into_owned();
    start_synapse(
        "synapse-tls",
        &[("SYNAPSE_TLS_CERT", &cert), ("SYNAPSE_TLS_KEY", &key)],
    )
}

/// A Synapse of the caller's own with these `scripts/synapse` settings (its environment
/// variables), started now and stopped when the test binary exits.
pub fn start_synapse_with(name: &str, env: &[(&str, &str)]) -> Synapse {
    start_synapse(name, env)
}

/// Runs `scripts/<script> start <scratch folder> --watch <this test process>` with `env`, and
/// returns what it printed (the server's URL) and the folder.
pub fn start_script(script: &str, name: &str, env: &[(&str, &str)]) -> (String, PathBuf) {
    let dir = scratch(name);
    let output = Command::new(root().join("scripts").join(script))
        .envs(env.iter().copied())
        .arg("start")
        .arg(&dir)
        .arg("--watch")
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|err| panic!("run scripts/{script}: {err}"));
    assert!(
        output.status.success(),
        "scripts/{script} could not start it (run scripts/deps first; its log is in {})",
        dir.display()
    );
    let url = String::from_utf8(output.stdout)
        .expect("a URL")
        .trim()
        .to_owned();
    (url, dir)
}

fn start_synapse(name: &str, env: &[(&str, &str)]) -> Synapse {
    {
        let (url, dir) = start_script("synapse", name, env);
        let shared_secret = std::fs::read_to_string(dir.join("shared_secret"))
            .expect("Synapse's shared secret")
            .trim()
            .to_owned();
        Synapse {
            url,
            dir,
            shared_secret,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .new_agent(),
        }
    }
}

static USER_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A user name no other test of this run uses.
pub fn unique_user(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        USER_COUNTER.fetch_add(1, Ordering::Relaxed),
        std::process::id()
    )
}

impl Synapse {
    /// Registers a user with the shared secret (Synapse's admin API) and returns its user ID.
    pub fn register(&self, localpart: &str, password: &str) -> String {
        self.register_as(localpart, password, false)["user_id"]
            .as_str()
            .expect("registered")
            .to_owned()
    }

    /// Registers a server admin; returns its access token.
    pub fn register_admin(&self, localpart: &str, password: &str) -> String {
        self.register_as(localpart, password, true)["access_token"]
            .as_str()
            .expect("a token")
            .to_owned()
    }

    fn register_as(&self, localpart: &str, password: &str, admin: bool) -> JsonValue {
        let endpoint = format!("{}/_synapse/admin/v1/register", self.url);
        let nonce = self.get_json(&endpoint, None)["nonce"]
            .as_str()
            .expect("a nonce")
            .to_owned();
        let mut mac = Hmac::<Sha1>::new_from_slice(self.shared_secret.as_bytes()).expect("any key");
        for (i, part) in [
            nonce.as_str(),
            localpart,
            password,
            if admin { "admin" } else { "notadmin" },
        ]
        .iter()
        .enumerate()
        {
            if i > 0 {
                mac.update(b"\0");
            }
            mac.update(part.as_bytes());
        }
        let body = json!({
            "nonce": nonce, "username": localpart, "password": password, "admin": admin,
            "mac": hex::encode(mac.finalize().into_bytes()),
        });
        self.post_json(&endpoint, &body)
    }

    /// Creates a registration token with an admin token.
    pub fn create_registration_token(&self, admin_token: &str, token: &str) {
        let url = format!("{}/_synapse/admin/v1/registration_tokens/new", self.url);
        let mut response = self
            .agent
            .post(&url)
            .header("Authorization", format!("Bearer {admin_token}"))
            .send_json(json!({"token": token, "uses_allowed": 10}))
            .expect("POST to Synapse");
        let status = response.status();
        let answer: JsonValue = response.body_mut().read_json().expect("JSON");
        assert!(status.is_success(), "{status} {answer}");
    }

    pub fn get_json(&self, url: &str, token: Option<&str>) -> JsonValue {
        let mut request = self.agent.get(url);
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let mut response = request.call().expect("GET from Synapse");
        response.body_mut().read_json().expect("JSON from Synapse")
    }

    pub fn post_json(&self, url: &str, body: &JsonValue) -> JsonValue {
        let mut response = self
            .agent
            .post(url)
            .send_json(body)
            .expect("POST to Synapse");
        let status = response.status();
        let answer: JsonValue = response.body_mut().read_json().expect("JSON from Synapse");
        assert!(status.is_success(), "{url}: {status} {answer}");
        answer
    }

    /// Sets a user's password with the admin API of `admin_token`; the user's devices stay
    /// logged in.
    pub fn set_password(&self, admin_token: &str, user_id: &str, password: &str) {
        let url = format!("{}/_synapse/admin/v2/users/{user_id}", self.url);
        let response = self
            .agent
            .put(&url)
            .header("Authorization", format!("Bearer {admin_token}"))
            .send_json(json!({"password": password, "logout_devices": false}))
            .expect("PUT to Synapse");
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
    }

    /// A client-server API call with `token`: `method` `/_matrix/client/v3/<path>` with a JSON
    /// body; the JSON answer of a 2xx, else a failed test.
    pub fn call(&self, token: &str, method: &str, path: &str, body: &JsonValue) -> JsonValue {
        let url = format!("{}/_matrix/client/v3/{path}", self.url);
        let bearer = format!("Bearer {token}");
        let sent = match method {
            "GET" => self.agent.get(&url).header("Authorization", &bearer).call(),
            "PUT" => self
                .agent
                .put(&url)
                .header("Authorization", &bearer)
                .send_json(body),
            _ => self
                .agent
                .post(&url)
                .header("Authorization", &bearer)
                .send_json(body),
        };
        let mut response = sent.expect("a call to Synapse");
        let status = response.status();
        let answer: JsonValue = response.body_mut().read_json().expect("JSON from Synapse");
        assert!(status.is_success(), "{method} {url}: {status} {answer}");
        answer
    }

    /// Sends a text message to a room as the user of `token`; returns its event ID.
    pub fn send_text(&self, token: &str, room_id: &str, body: &str) -> String {
        static TXN: AtomicUsize = AtomicUsize::new(0);
        let txn = format!(
            "t{}x{}",
            TXN.fetch_add(1, Ordering::Relaxed),
            std::process::id()
        );
        let path = format!("rooms/{room_id}/send/m.room.message/{txn}");
        self.call(
            token,
            "PUT",
            &path,
            &json!({"msgtype": "m.text", "body": body}),
        )["event_id"]
            .as_str()
            .expect("an event ID")
            .to_owned()
    }

    /// Stops Synapse and runs it again, on the same port with the same data.
    pub fn restart(&self) {
        let status = Command::new(root().join("scripts/synapse"))
            .arg("restart")
            .arg(&self.dir)
            .arg("--watch")
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .status()
            .expect("run scripts/synapse restart");
        assert!(status.success(), "Synapse did not come back");
    }

    /// Stops Synapse.
    pub fn stop(&self) {
        let status = Command::new(root().join("scripts/synapse"))
            .arg("stop")
            .arg(&self.dir)
            .status()
            .expect("run scripts/synapse stop");
        assert!(status.success());
    }

    /// The HTTP status of `GET /account/whoami` with this token.
    pub fn whoami_status(&self, token: &str) -> u16 {
        self.agent
            .get(format!("{}/_matrix/client/v3/account/whoami", self.url))
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .expect("GET from Synapse")
            .status()
            .as_u16()
    }

    /// The status Synapse answers a refresh with `refresh_token` with (200, or 403 once it
    /// was spent and its successor used).
    pub fn refresh_status(&self, refresh_token: &str) -> u16 {
        self.agent
            .post(format!("{}/_matrix/client/v3/refresh", self.url))
            .send_json(serde_json::json!({ "refresh_token": refresh_token }))
            .expect("POST to Synapse")
            .status()
            .as_u16()
    }

    /// A password login straight to Synapse, as the seed document's curl does; the token.
    pub fn login(&self, user_id: &str, password: &str) -> String {
        let body = json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user_id},
            "password": password,
        });
        let answer = self.post_json(&format!("{}/_matrix/client/v3/login", self.url), &body);
        answer["access_token"].as_str().expect("a token").to_owned()
    }

    /// The bytes the server stores at `mxc` (authenticated media), as any member would get
    /// them.
    pub fn download(&self, token: &str, mxc: &str) -> Vec<u8> {
        let path = mxc.strip_prefix("mxc://").expect("an mxc:// URL");
        let url = format!("{}/_matrix/client/v1/media/download/{path}", self.url);
        let mut response = self
            .agent
            .get(&url)
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .expect("a download");
        response.body_mut().read_to_vec().expect("the bytes")
    }

    /// A login token for the user of `token` (`POST /login/get_token`, confirmed with the
    /// password), straight from Synapse.
    pub fn login_token(&self, token: &str, user_id: &str, password: &str) -> String {
        let url = format!("{}/_matrix/client/v1/login/get_token", self.url);
        let ask = |body: JsonValue| -> (u16, JsonValue) {
            let mut response = self
                .agent
                .post(&url)
                .header("Authorization", format!("Bearer {token}"))
                .send_json(body)
                .expect("POST to Synapse");
            let status = response.status().as_u16();
            (status, response.body_mut().read_json().expect("JSON"))
        };
        let (status, challenge) = ask(json!({}));
        assert_eq!(status, 401, "{challenge}");
        let (status, answer) = ask(json!({"auth": {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user_id},
            "password": password,
            "session": challenge["session"],
        }}));
        assert_eq!(status, 200, "{answer}");
        answer["login_token"]
            .as_str()
            .expect("a login token")
            .to_owned()
    }

    /// `GET /account/whoami` with a plaintext token, straight to Synapse.
    pub fn whoami(&self, token: &str) -> JsonValue {
        self.get_json(
            &format!("{}/_matrix/client/v3/account/whoami", self.url),
            Some(token),
        )
    }
}

/// What a `nu -c` run printed.
pub struct NuRun {
    pub stdout: String,
    pub stderr: String,
    pub success: bool,
}

impl NuRun {
    /// stderr with its line wrapping undone (nu wraps help text at 80 columns).
    pub fn stderr_folded(&self) -> String {
        self.stderr
            .lines()
            .map(|line| line.trim().trim_start_matches('|').trim())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Everything the run printed, to search for leaks.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs a script in the real nu with this plugin loaded (no config files, no registry).
pub fn nu(script: &str) -> NuRun {
    nu_with(script, |_| {})
}

/// Runs a script with `$env.PW` set to `password`. Scripts pipe the password from there, so
/// that it never appears in the source text nu quotes in its error messages.
pub fn nu_pw(script: &str, password: &str) -> NuRun {
    nu_with(script, |command| {
        command.env("PW", password);
    })
}

/// Runs a script with its own config folder (`XDG_CONFIG_HOME`, where saved sessions go) and
/// `$env.PW` set to `password`.
pub fn nu_cfg(script: &str, config: &Path, password: &str) -> NuRun {
    nu_with(script, |command| {
        command
            .env("XDG_CONFIG_HOME", config)
            .env("XDG_DATA_HOME", config.join("data"))
            .env("PW", password);
    })
}

/// Runs a script like [`nu`], after `setup` adjusted the command (environment, `setsid`).
pub fn nu_with(script: &str, setup: impl FnOnce(&mut Command)) -> NuRun {
    let mut command = nu_command();
    command.arg("-c").arg(script);
    setup(&mut command);
    finish(command.output().expect("run nu"))
}

/// A nu run in the background, for commands that wait for something the test then does
/// (a browser sign-in). Its standard error can be read line by line while it runs.
pub struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    stderr: String,
    stdout: thread::JoinHandle<String>,
}

impl Running {
    /// Starts `script` like [`nu_with`] does.
    pub fn start(script: &str, setup: impl FnOnce(&mut Command)) -> Self {
        let mut command = nu_command();
        command.arg("-c").arg(script);
        setup(&mut command);
        Self::spawn(command)
    }

    /// Starts `command` (a [`nu_command`] with its arguments), its output read as [`start`]'s.
    pub fn spawn(mut command: Command) -> Self {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("start nu");
        let mut out = child.stdout.take().expect("stdout");
        let stdout = thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            text
        });
        let err = child.stderr.take().expect("stderr");
        let (sender, lines) = std::sync::mpsc::channel();
        thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            stderr: String::new(),
            stdout,
        }
    }

    /// The first line of standard error, from here on, that contains `needle`; fails after
    /// `within`, showing what was printed.
    pub fn line_with(&mut self, needle: &str, within: Duration) -> String {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stderr.push_str(&line);
                    self.stderr.push('\n');
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "nu printed no line with {needle:?} within {within:?}; stderr so far:\n{}",
                    self.stderr
                ),
            }
        }
    }

    /// Sends nu SIGINT, as Ctrl-C at a terminal does.
    pub fn interrupt(&self) {
        self.signal("INT");
    }

    /// Sends nu a signal by name (`TERM`, `KILL`, `HUP`, ...).
    pub fn signal(&self, name: &str) {
        processes::signal(self.child.id(), name);
    }

    /// Whether nu has ended (its status is kept for [`Running::finish`]).
    pub fn has_ended(&mut self) -> bool {
        self.child.try_wait().expect("wait for nu").is_some()
    }

    /// nu's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for nu to end (at most `within`) and returns what it printed.
    pub fn finish(mut self, within: Duration) -> NuRun {
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for nu") {
                break status;
            }
            if started.elapsed() > within {
                let _ = self.child.kill();
                panic!(
                    "nu did not end within {within:?}; stderr so far:\n{}",
                    self.stderr
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = self.stderr;
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            stderr.push_str(&line);
            stderr.push('\n');
        }
        NuRun {
            stdout: self.stdout.join().expect("stdout reader"),
            stderr,
            success: status.success(),
        }
    }
}

/// The real nu with this plugin loaded (no config files, no registry), no colours, nothing on
/// standard input, no system keyring, and a session file of its own (an empty `XDG_CONFIG_HOME`, so that no run
/// sees what another saved, nor the user's own sessions); the caller adds `-c <script>` or a
/// script file and its arguments, and sets `XDG_CONFIG_HOME` for runs that share sessions.
pub fn nu_command() -> Command {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let config = scratch(&format!(
        "nu-config-{}",
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    let mut command = Command::new(nu_binary());
    command
        .env("XDG_DATA_HOME", config.join("data"))
        .env("XDG_CONFIG_HOME", config)
        .arg("--no-config-file")
        .arg("--plugins")
        .arg(format!("[{}]", plugin_binary()))
        .env("NO_COLOR", "1")
        .env("no_proxy", "127.0.0.1,localhost")
        // No Secret Service unless a test gives one (support/keyring.rs).
        .env("DBUS_SESSION_BUS_ADDRESS", keyring::NO_BUS)
        .stdin(Stdio::null());
    command
}

fn finish(output: Output) -> NuRun {
    NuRun {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        success: output.status.success(),
    }
}

/// A loopback server for answers a real homeserver does not give (an HTML error page from a
/// proxy, a redirect, garbage, a hand-made /.well-known). A handler maps each request path to
/// the raw HTTP answer.
pub struct FaultServer {
    pub url: String,
}

type Handler = dyn Fn(&str) -> String + Send + Sync;

impl FaultServer {
    /// A server whose `handler` answers each request path with raw HTTP bytes.
    pub fn with_handler(handler: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let handler: std::sync::Arc<Handler> = std::sync::Arc::new(handler);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let handler = handler.clone();
                thread::spawn(move || answer_once(stream, &*handler));
            }
        });
        Self { url }
    }

    /// A server that answers every request the same.
    pub fn start(raw_answer: String) -> Self {
        Self::with_handler(move |_| raw_answer.clone())
    }

    /// A server that answers every request with this status line, content type and body.
    pub fn answering(status: &str, content_type: &str, body: &str) -> Self {
        Self::start(http(status, content_type, body))
    }

    /// A server with answers for some paths, and a Matrix 404 for the others.
    pub fn routes(routes: Vec<(&str, String)>) -> Self {
        let routes: Vec<(String, String)> = routes
            .into_iter()
            .map(|(path, answer)| (path.to_owned(), answer))
            .collect();
        Self::with_handler(move |path| {
            routes
                .iter()
                .find(|(route, _)| route == path)
                .map(|(_, answer)| answer.clone())
                .unwrap_or_else(|| {
                    http(
                        "404 Not Found",
                        "application/json",
                        r#"{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}"#,
                    )
                })
        })
    }
}

/// A raw HTTP/1.1 answer.
pub fn http(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A raw redirect to `location`.
pub fn redirect(location: &str) -> String {
    format!(
        "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

fn answer_once(mut stream: TcpStream, handler: &Handler) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Some(head) = read_head(&mut stream) else {
        return;
    };
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let _ = stream.write_all(handler(&path).as_bytes());
    let _ = stream.flush();
}

/// Reads one request's head (and whatever of its body came with it); `None` when the
/// connection ends or fails first.
pub fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return None,
            Ok(n) => seen.extend_from_slice(&buffer[..n]),
        }
    }
    Some(String::from_utf8_lossy(&seen).into_owned())
}

/// A loopback port with nothing listening on it.
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("an address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// The columns a command's help names (its extra description's `Columns: a, b (what), c.`),
/// and the columns its signature declares for its table, by command name: for every plugin
/// command that returns a table.
pub fn table_columns() -> Vec<(String, Vec<String>, Vec<String>)> {
    use nu_plugin::Plugin;
    nu_plugin_matrix::plugin::MatrixPlugin::new()
        .commands()
        .iter()
        .filter_map(|command| {
            let declared = command.signature().input_output_types.iter().find_map(
                |(_, output)| match output {
                    nu_protocol::Type::Table(columns) if !columns.is_empty() => {
                        Some(columns.iter().map(|(name, _)| name.clone()).collect())
                    }
                    _ => None,
                },
            )?;
            Some((
                command.name().to_owned(),
                help_columns(command.extra_description()),
                declared,
            ))
        })
        .collect()
}

/// The names listed after `Columns: ` up to the sentence's end, without their explanations.
fn help_columns(help: &str) -> Vec<String> {
    let Some((_, rest)) = help.split_once("Columns: ") else {
        return Vec::new();
    };
    let mut list = String::new();
    let mut depth = 0;
    for c in rest.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            '.' if depth == 0 => break,
            _ if depth == 0 => list.push(c),
            _ => {}
        }
    }
    list.split(',')
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .collect()
}

/// `text` with each of `secrets` replaced by `<secret: N characters>`, for failure messages
/// that must not print a secret into a CI log.
pub fn scrubbed(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .fold(text.to_owned(), |text, secret| {
            text.replace(
                secret,
                &format!("<secret: {} characters>", secret.chars().count()),
            )
        })
}

/// Asserts that a relay saw `count` refresh tokens presented (one a refresh request), none of
/// them twice: concurrent refreshes that share a lock spend each token once. Says how many
/// repeated, never a value.
pub fn assert_presented_once(presented: &[String], count: usize) {
    let distinct: std::collections::HashSet<&String> = presented.iter().collect();
    assert_eq!(
        presented.len(),
        count,
        "one refresh token a refresh ({} presented)",
        presented.len()
    );
    assert_eq!(
        distinct.len(),
        presented.len(),
        "{} of {} refresh tokens were presented more than once",
        presented.len() - distinct.len(),
        presented.len()
    );
}
