//! Creating users and tokens as an admin, against the real Synapse: shared-secret registration
//! (secret from the pipeline, a Synapse config, a registration_shared_secret_path file) and the
//! admin API that logs in as another user.

mod support;

use support::{nu, nu_with, scratch, synapse, synapse_with_registration_tokens, unique_user};

fn sections(stdout: &str) -> Vec<String> {
    stdout
        .split("-----\n")
        .map(|s| s.trim().to_owned())
        .collect()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

fn run(script: &str) -> support::NuRun {
    let hs = synapse();
    nu_with(script, |command| {
        command.env("SYNAPSE_DIR", &hs.dir);
    })
}

#[test]
fn register_with_a_generated_password_from_the_synapse_config() {
    let hs = synapse();
    let name = unique_user("newbot");
    let result = run(&format!(
        r#"let r = (matrix register {name} -H {url} --synapse-config ($env.SYNAPSE_DIR | path join homeserver.yaml) --display-name 'New Bot')
        print ($r | reject access_token password | to json --raw)
        print "-----"; print ($r | to json)
        print "-----"; print ($r | matrix token reveal | select access_token password | to json --raw)"#,
        url = hs.url
    ));
    assert!(result.success, "{}", result.stderr);
    let parts = sections(&result.stdout);
    let fields = json(&parts[0]);
    assert_eq!(fields["user_id"], format!("@{name}:localhost"));
    assert_eq!(fields["homeserver"], hs.url.as_str());
    let revealed = json(&parts[2]);
    let password = revealed["password"].as_str().expect("password").to_owned();
    let token = revealed["access_token"].as_str().expect("token").to_owned();
    assert_eq!(password.len(), 32, "a generated password");
    assert!(
        parts[1].contains("\"password\": \"********\""),
        "{}",
        parts[1]
    );
    assert!(!parts[1].contains(&password) && !parts[1].contains(&token));
    assert!(!result.stderr.contains(&password));
    // The account works: its token, and a later login with the generated password.
    assert_eq!(hs.whoami(&token)["user_id"], format!("@{name}:localhost"));
    let later = hs.login(&format!("@{name}:localhost"), &password);
    assert_eq!(hs.whoami(&later)["user_id"], format!("@{name}:localhost"));
}

#[test]
fn an_admin_registered_from_the_pipeline_can_log_in_as_another_user() {
    let hs = synapse();
    let admin = unique_user("admin");
    let target = unique_user("target");
    let result = run(&format!(
        r#"let secret = (open --raw ($env.SYNAPSE_DIR | path join shared_secret) | str trim)
        let a = ($secret | matrix register {admin} -H {url} --admin --password 'pw-Admin-77')
        let t = ($secret | matrix register @{target}:localhost -H {url})
        let as_target = ($a | matrix admin login-as @{target}:localhost)
        print ($as_target | matrix whoami | get user_id)
        print "-----"; print ($a | matrix admin login-as @{target}:localhost --valid-for 3sec | matrix token reveal | get access_token)
        print "-----"; print (try {{ $t | matrix admin login-as @{admin}:localhost }} catch {{|e| $e.msg }})
        print "-----"; print (try {{ $secret | matrix register {target} -H {url} }} catch {{|e| $e.msg }})
        print "-----"; print (try {{ 'not-the-secret' | matrix register {target}x -H {url} }} catch {{|e| $e.msg }})"#,
        url = hs.url
    ));
    assert!(result.success, "{}", result.stderr);
    let parts = sections(&result.stdout);
    assert_eq!(
        parts[0],
        format!("@{target}:localhost"),
        "login-as gives a working token"
    );
    let short = parts[1].clone();
    assert_eq!(hs.whoami_status(&short), 200);
    assert_eq!(
        parts[2],
        format!("@{target}:localhost is not a server admin")
    );
    assert_eq!(parts[3], format!("The user name {target} is taken"));
    assert_eq!(parts[4], "The shared secret is wrong");
    // The admin's own password works for a login.
    hs.login(&format!("@{admin}:localhost"), "pw-Admin-77");
    // --valid-for 3sec: the token stops working.
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert_eq!(hs.whoami_status(&short), 401, "the login-as token expired");
}

#[test]
fn the_secret_can_come_from_registration_shared_secret_path() {
    let hs = synapse();
    let dir = scratch("secret-path");
    let secret = std::fs::read_to_string(hs.dir.join("shared_secret")).expect("secret");
    std::fs::write(dir.join("secret.txt"), secret).expect("write secret");
    std::fs::write(
        dir.join("homeserver.yaml"),
        format!(
            "registration_shared_secret_path: {}\n",
            dir.join("secret.txt").display()
        ),
    )
    .expect("write config");
    std::fs::write(
        dir.join("plain-secret"),
        std::fs::read(hs.dir.join("shared_secret")).expect("secret"),
    )
    .expect("write");
    for (i, flag) in [
        format!("--synapse-config {}", dir.join("homeserver.yaml").display()),
        format!(
            "--shared-secret-file {}",
            dir.join("plain-secret").display()
        ),
    ]
    .iter()
    .enumerate()
    {
        let name = unique_user(&format!("pathbot{i}"));
        let result = run(&format!(
            "matrix register {name} -H {} {flag} | get user_id",
            hs.url
        ));
        assert!(result.success, "{flag}: {}", result.stderr);
        assert_eq!(result.stdout.trim(), format!("@{name}:localhost"));
    }
}

#[test]
fn open_registration_is_refused_by_default_and_works_with_a_token() {
    // The default config: registration closed.
    let hs = synapse();
    let result = run(&format!(
        "matrix register closedbot -H {} --password pw-Closed-1",
        hs.url
    ));
    assert!(!result.success);
    let text = result.stderr_folded();
    assert!(
        text.contains("Registration is closed on this homeserver"),
        "{text}"
    );
    assert!(text.contains("--synapse-config"), "{text}");

    // Open registration that requires a token.
    let open = synapse_with_registration_tokens();
    let admin_token = open.register_admin(&unique_user("tokadmin"), "pw-TokAdmin-1");
    open.create_registration_token(&admin_token, "tok-Join-123");
    let name = unique_user("joiner");
    let without = nu(&format!("matrix register {name} -H {}", open.url));
    assert!(!without.success);
    let text = without.stderr_folded();
    assert!(
        text.contains("it requires: m.login.registration_token"),
        "{text}"
    );
    assert!(text.contains("--registration-token"), "{text}");

    let wrong = nu(&format!(
        "matrix register {name} -H {} --registration-token nope-999",
        open.url
    ));
    assert!(!wrong.success);
    assert!(
        wrong
            .stderr_folded()
            .contains("The registration token was not accepted"),
        "{}",
        wrong.stderr
    );

    let good = nu(&format!(
        "matrix register {name} -H {} --registration-token tok-Join-123 | matrix token reveal | to json --raw",
        open.url
    ));
    assert!(good.success, "{}", good.stderr);
    let session = json(good.stdout.trim());
    assert_eq!(session["user_id"], format!("@{name}:localhost"));
    let token = session["access_token"].as_str().expect("token");
    assert_eq!(open.whoami(token)["user_id"], format!("@{name}:localhost"));
    let password = session["password"].as_str().expect("password");
    open.login(&format!("@{name}:localhost"), password);
}

#[test]
fn the_readme_bot_in_three_lines_works() {
    let hs = synapse();
    let dir = scratch("three-lines");
    let name = unique_user("threeline");
    let result = run(&format!(
        r#"cd {dir}
        let hs = "{url}"; let config = ($env.SYNAPSE_DIR | path join homeserver.yaml)
        let bot = (matrix register {name} -H $hs --synapse-config $config)
        let session = ($bot.password | matrix token reveal | matrix login $bot.user_id -H $hs --device-id BOT)
        ^install -m 600 /dev/null bot.token; $session.access_token | matrix token reveal | save -f bot.token"#,
        dir = dir.display(),
        url = hs.url
    ));
    assert!(result.success, "{}", result.stderr);
    use std::os::unix::fs::PermissionsExt;
    let file = dir.join("bot.token");
    assert_eq!(
        std::fs::metadata(&file)
            .expect("token file")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let token = std::fs::read_to_string(&file).expect("token");
    let me = hs.whoami(&token);
    assert_eq!(me["user_id"], format!("@{name}:localhost"));
    assert_eq!(me["device_id"], "BOT");
}
