//! A real matrix-authentication-service deployment for the OAuth 2.0 suite (`tests/e2e_mas.rs`):
//! PostgreSQL, MAS, a Synapse that delegates its accounts to it, and the router in front of both,
//! all on 127.0.0.1, started once per test binary by `scripts/mas` and stopped when it exits.
//! MAS comes from the release named by `MAS_DIST` (`scripts/deps` installs it).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use super::browser::{Browser, Page, absolute};
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

    /// Registers a MAS admin (`--admin`: may ask for the `urn:mas:admin` scope where MAS's
    /// policy looks at it) and returns its user ID.
    pub fn register_admin(&self, localpart: &str, password: &str) -> String {
        self.script(&["register", localpart, password, "--admin"]);
        format!("@{localpart}:localhost")
    }

    /// The admin client of its configuration (client credentials, `urn:mas:admin`): its ID and
    /// its secret.
    pub fn admin_client(&self) -> (String, String) {
        let read = |name: &str| {
            std::fs::read_to_string(self.dir.join(name))
                .unwrap_or_else(|err| panic!("{name}: {err}"))
                .trim()
                .to_owned()
        };
        (read("admin_client_id"), read("admin_client_secret"))
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

/// Plays the user on MAS's own pages for a device authorization: opens the verification page,
/// types the user code, signs in with the password, and approves the device (or refuses it).
pub fn approve_device(
    verification_uri: &str,
    user_code: &str,
    username: &str,
    password: &str,
    approve: bool,
) {
    let mut browser = Browser::new();
    let link = browser.get(verification_uri);
    let entered = browser.post_form(
        verification_uri,
        &[("csrf", &csrf_of(&link.body)), ("code", user_code)],
    );
    let device_url = next_url(verification_uri, &entered);
    // Not signed in yet: the device page sends the browser to the login form.
    let to_login = browser.get(&device_url);
    let login_url = next_url(&device_url, &to_login);
    let form = browser.get(&login_url);
    let signed_in = browser.post_form(
        &login_url,
        &[
            ("csrf", &csrf_of(&form.body)),
            ("username", username),
            ("password", password),
        ],
    );
    assert_eq!(
        next_url(&login_url, &signed_in),
        device_url,
        "back to the device"
    );
    let consent = browser.get(&device_url);
    let csrf = csrf_of(&consent.body);
    let answer = if approve {
        browser.post_form(
            &device_url,
            &[
                ("csrf", &csrf),
                ("confirm_device", "on"),
                ("action", "consent"),
            ],
        )
    } else {
        browser.post_form(&device_url, &[("csrf", &csrf), ("action", "reject")])
    };
    assert_eq!(answer.status, 200, "{}", answer.body);
}

/// Plays the user on MAS's account page approving a reset of their cross-signing keys: signs
/// in on MAS's login form, then makes the call the page's "Finish reset" button makes (its
/// GraphQL mutation, with the browser session).
pub fn allow_cross_signing_reset(username: &str, password: &str) {
    let issuer = mas().issuer.trim_end_matches('/').to_owned();
    let mut browser = Browser::new();
    let login = format!("{issuer}/login");
    let form = browser.get(&login);
    let signed_in = browser.post_form(
        &login,
        &[
            ("csrf", &csrf_of(&form.body)),
            ("username", username),
            ("password", password),
        ],
    );
    assert!(signed_in.status < 400, "signing in: {}", signed_in.body);
    let graphql = format!("{issuer}/graphql");
    let viewer = browser.post_json(
        &graphql,
        &serde_json::json!({"query": "query { viewer { __typename ... on User { id } } }"}),
    );
    let viewer: serde_json::Value = serde_json::from_str(&viewer.body).expect("JSON");
    let user = viewer["data"]["viewer"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("not signed in: {viewer}"))
        .to_owned();
    let allowed = browser.post_json(
        &graphql,
        &serde_json::json!({
            "query": "mutation Allow($userId: ID!) { allowUserCrossSigningReset(input: {userId: $userId}) { user { id } } }",
            "variables": {"userId": user},
        }),
    );
    let allowed: serde_json::Value = serde_json::from_str(&allowed.body).expect("JSON");
    assert!(
        allowed["data"]["allowUserCrossSigningReset"]["user"]["id"].is_string(),
        "{allowed}"
    );
}

/// Where a 3xx answer points, as a whole URL.
fn next_url(from: &str, page: &Page) -> String {
    assert!(
        (300..400).contains(&page.status),
        "expected a redirect from {from}, got {}: {}",
        page.status,
        page.body
    );
    absolute(from, page.location.as_deref().expect("a Location"))
}

/// The CSRF token of the first form on a page.
fn csrf_of(html: &str) -> String {
    let start = html.find(r#"name="csrf" value=""#).expect("a csrf field") + 19;
    let end = start + html[start..].find('"').expect("its end");
    html[start..end].to_owned()
}

/// Plays the user in the browser for an authorization code sign-in: opens the authorization page,
/// signs in on MAS's login form, gives consent, and returns the address MAS sends the browser
/// back to (the listener's, with the code and `state`), without visiting it.
pub fn authorize_in_browser(authorization_url: &str, username: &str, password: &str) -> String {
    let mut browser = Browser::new();
    let mut url = authorization_url.to_owned();
    let mut page = browser.get(&url);
    for _ in 0..12 {
        if (300..400).contains(&page.status) {
            let next = next_url(&url, &page);
            if next.starts_with("http://127.0.0.1:") && next.contains("/callback?") {
                return next;
            }
            url = next;
            page = browser.get(&url);
        } else if page.body.contains(r#"name="username""#) {
            let csrf = csrf_of(&page.body);
            page = browser.post_form(
                &url,
                &[
                    ("csrf", &csrf),
                    ("username", username),
                    ("password", password),
                ],
            );
        } else if page.status == 200 && page.body.contains(r#"name="csrf""#) {
            // The consent page: "Continue".
            let csrf = csrf_of(&page.body);
            page = browser.post_form(&url, &[("csrf", &csrf)]);
        } else {
            panic!("unexpected page at {url} ({}): {}", page.status, page.body);
        }
    }
    panic!("MAS did not send the browser back within 12 steps (at {url})");
}
