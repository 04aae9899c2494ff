//! The promise that secrets never leak: one session driven through every command and output
//! path; neither its password nor its tokens may appear anywhere but in an explicit reveal and
//! the 0600 session file.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::{nu_cfg, scratch, synapse, unique_user};

#[test]
fn no_output_path_shows_the_password_or_a_token() {
    let hs = synapse();
    let password = "pw-Secret-Canary-4711";
    let user_id = hs.register(&unique_user("canary"), password);
    let dir = scratch("secrets");
    let config = dir.join("config");
    std::fs::create_dir_all(&config).expect("config folder");
    let script = format!(
        r#"cd {dir}
        let s = ($env.PW | matrix login {user_id} -H {url} --refresh --save canary --device-name canary)
        # The one explicit reveal, to a file the test reads but does not scan.
        $s | matrix token reveal | to json | save -f revealed.json
        print $s
        print ($s | table -e)
        print $s.access_token
        print ($s | get access_token)
        print ($s | get refresh_token)
        print ($s | to json)
        print ($s | to csv)
        print ($s | to text)
        print ($s | to md)
        print ($s | debug)
        print ($s.access_token | debug)
        print ($s | describe)
        print $"($s.access_token) and ($s.refresh_token)"
        print ($s.access_token | into string)
        $s | save -f session.json
        $s | save -f session.csv
        $s.access_token | save -f token.txt
        print ($s | matrix whoami)
        print ($s | matrix devices)
        print (matrix session list)
        print (matrix session get canary)
        print ($s | matrix refresh)
        print (matrix whoami)
        print ($s | matrix api account/whoami)
        print ($s | matrix api account/whoami --raw)
        print (try {{ $s | matrix api no/such/endpoint }} catch {{|e| $e.msg }})
        print (try {{ $s | matrix api account/whoami --data {{t: $s.access_token}} --method POST }} catch {{|e| $e.msg }})
        print ($s | matrix rooms)
        print (try {{ 'hi' | matrix send '#nowhere:localhost' }} catch {{|e| $e.msg }})
        let plain = ($s.access_token | matrix token reveal)
        print ($plain | matrix token import -H {url})
        print (try {{ $plain | matrix whoami }} catch {{|e| $e.msg }})
        print (try {{ $plain | matrix token reveal }} catch {{|e| $e.msg }})
        print (try {{ $env.PW | matrix login @nobody:localhost -H {url} }} catch {{|e| $e.msg }})
        print (try {{ $env.PW | matrix login {user_id} -H http://127.0.0.1:9 }} catch {{|e| $e.msg }})
        print (try {{ matrix devices delete NOSUCHDEV --password wrong-password }} catch {{|e| $e.msg }})
        print (matrix logout)
        print (try {{ $s | matrix whoami }} catch {{|e| $e.msg }})
        $s | matrix whoami"#,
        dir = dir.display(),
        url = hs.url
    );
    let run = nu_cfg(&script, &config, password);
    // The last line fails on purpose (a logged-out token): its error goes to stderr.
    assert!(!run.success, "the final whoami must fail");
    assert!(
        run.stderr.contains("no longer valid") || run.stderr.contains("has expired"),
        "{}",
        run.stderr
    );

    // Every step ran: the outputs of the late ones are there.
    for step in [
        "matrix_token",                  // describe
        "canary",                        // devices: the device name
        "Login refused",                 // a failing login with the real password in play
        "Could not reach",               // a failing login to a closed port
        "Wrong password",                // devices delete
        "revoked",                       // logout
        "Expected a Matrix token value", // reveal of a plain string
        "does not know this endpoint",   // matrix api, a 404
        "cannot go into a request body", // matrix api, a token value in --data
        "No room #nowhere:localhost",    // matrix send
    ] {
        assert!(
            run.stdout.contains(step),
            "step output {step:?} missing:\n{}",
            run.stdout
        );
    }

    let revealed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("revealed.json")).expect("reveal"))
            .expect("JSON");
    let access = revealed["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    let refresh = revealed["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    assert!(access.starts_with("syt_") && refresh.starts_with("syr_"));

    let mut haystacks = vec![
        ("stdout", run.stdout.clone()),
        ("stderr", run.stderr.clone()),
    ];
    for file in ["session.json", "session.csv", "token.txt"] {
        let text = std::fs::read_to_string(dir.join(file)).expect(file);
        haystacks.push((file, text));
    }
    for (what, text) in &haystacks {
        for (secret, name) in [
            (password, "password"),
            (access.as_str(), "access token"),
            (refresh.as_str(), "refresh token"),
        ] {
            assert!(
                !text.contains(secret),
                "the {name} leaked into {what}:\n{}",
                support::scrubbed(text, &[password, &access, &refresh])
            );
        }
        // Not even the secret part of a token: the random middle of Synapse's tokens.
        let middle = &access[8..access.len() - 6];
        assert!(
            !text.contains(middle),
            "part of the access token leaked into {what}"
        );
    }
    // Refreshed and imported tokens were never revealed: no unmasked Synapse token at all.
    let unmasked = regex_like_token(&run.stdout) || regex_like_token(&run.stderr);
    assert!(!unmasked, "an unmasked token appears in the output");

    // The session file holds tokens, readable by its owner only.
    let store = config.join("nu_plugin_matrix/sessions.json");
    let mode = std::fs::metadata(&store)
        .expect("session file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// True when `text` holds something shaped like a whole Synapse token (`syt_` or `syr_` and more
/// than the four characters a masked token keeps).
fn regex_like_token(text: &str) -> bool {
    for prefix in ["syt_", "syr_"] {
        for (at, _) in text.match_indices(prefix) {
            let rest = &text[at + prefix.len()..];
            let run = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .count();
            if run > 4 {
                return true;
            }
        }
    }
    false
}
