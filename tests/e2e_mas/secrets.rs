//! The promise that secrets never leak, for an OAuth 2.0 session: its access and refresh tokens
//! (and those its refresh brings) appear nowhere but in the one explicit reveal.

use std::time::Duration;

use crate::support::mas::mas;
use crate::support::{Running, scratch, unique_user};

#[test]
fn no_output_path_shows_an_oauth_token() {
    let mas = mas();
    let localpart = unique_user("oacanary");
    let user_id = mas.register(&localpart, "pw-Canary-1");
    let dir = scratch(&format!("secrets-{localpart}"));
    let config = dir.join("config");
    std::fs::create_dir_all(&config).expect("config folder");
    let script = format!(
        r#"cd {dir}
        let s = (matrix login {user_id} -H {url} --oauth --no-browser --save oa)
        $s | matrix token reveal | to json | save -f revealed.json
        print $s
        print ($s | table -e)
        print ($s | to json)
        print ($s | to csv)
        print ($s | debug)
        print ($s.refresh_token | debug)
        print $"($s.access_token) and ($s.refresh_token)"
        $s | save -f session.json
        print ($s | matrix whoami)
        print ($s | matrix devices)
        print (matrix session list)
        print (matrix session get oa)
        print ($s | matrix refresh | table -e)
        print (matrix whoami)
        print (try {{ matrix devices delete OTHERDEVICE1 }} catch {{|e| $e.msg }})
        print (try {{ matrix logout --all }} catch {{|e| $e.msg }})
        print (matrix logout --session oa)"#,
        dir = dir.display(),
        url = mas.url
    );
    let mut nu = Running::start(&script, |command| {
        command.env("XDG_CONFIG_HOME", &config);
    });
    super::approve_what_nu_shows(&mut nu, &localpart, "pw-Canary-1");
    let run = nu.finish(Duration::from_secs(90));
    assert!(run.success, "{}", run.stderr);
    for step in [
        "is not offered here", // devices delete and logout --all: the account page
        "revoked",             // logout
    ] {
        assert!(
            run.stdout.contains(step),
            "{step:?} missing:\n{}",
            run.stdout
        );
    }
    let revealed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("revealed.json")).expect("the reveal"),
    )
    .expect("JSON");
    let access = revealed["access_token"].as_str().expect("access token");
    let refresh = revealed["refresh_token"].as_str().expect("refresh token");
    assert!(access.starts_with("mat_") && refresh.starts_with("mar_"));
    let session_file = std::fs::read_to_string(dir.join("session.json")).expect("saved");
    for (what, text) in [
        ("stdout", &run.stdout),
        ("stderr", &run.stderr),
        ("session.json", &session_file),
    ] {
        for secret in [access, refresh] {
            assert!(
                !text.contains(secret),
                "a token leaked into {what}:\n{text}"
            );
        }
        // Nor any other whole MAS token (the refreshed ones were never revealed).
        for prefix in ["mat_", "mar_"] {
            for (at, _) in text.match_indices(prefix) {
                let run = text[at + 4..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .count();
                assert!(run <= 4, "an unmasked token in {what}:\n{text}");
            }
        }
    }
}
