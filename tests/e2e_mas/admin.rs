//! Bots on MAS: `matrix admin token`, `tokens`, `revoke` and `login-as` through MAS's admin API,
//! with an admin session from `matrix login --oauth --admin`, in the real nu.

use std::time::Duration;

use super::json;
use crate::support::mas::mas;
use crate::support::{Running, nu_pw, scratch, unique_user};

#[test]
fn an_admin_session_issues_lists_and_revokes_personal_tokens() {
    let mas = mas();
    let admin = unique_user("masadmin");
    let admin_id = mas.register_admin(&admin, "pw-Admin-1");
    let bot = unique_user("masbot");
    let bot_id = mas.register(&bot, "pw-Bot-1");
    let config = scratch(&format!("config-{admin}"));
    let script = format!(
        r#"matrix login {admin_id} -H {url} --oauth --no-browser --admin --save adm | ignore
        let t = (matrix admin token {bot_id} --name 'ops bot')
        print ($t | reject access_token | to json --raw)
        print ($t.access_token | into string)
        print ($t | matrix whoami | to json --raw)
        let u = (matrix admin token {bot} --valid-for 1hr)
        print (matrix admin revoke $u.personal_session_id | to json --raw)
        print (try {{ $u | matrix whoami | ignore; "works" }} catch {{|e| $e.msg }})
        let l = (matrix admin login-as {bot_id} --valid-for 10min)
        print ($l | matrix whoami | get user_id)
        print (matrix admin tokens {bot_id} | to json --raw)
        print (try {{ matrix admin token @nobody-{bot}:localhost }} catch {{|e| $e.msg }})
        print (try {{ matrix admin tokens @{bot}:elsewhere.example }} catch {{|e| $e.msg }})
        print (try {{ matrix admin revoke $u.personal_session_id }} catch {{|e| $e.msg }})"#,
        url = mas.url
    );
    let mut nu = Running::start(&script, |command| {
        command.env("XDG_CONFIG_HOME", &config);
    });
    super::approve_what_nu_shows(&mut nu, &admin, "pw-Admin-1");
    let run = nu.finish(Duration::from_secs(90));
    assert!(run.success, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let issued = json(lines[0]);
    assert_eq!(issued["user_id"], bot_id.as_str());
    let device = issued["device_id"].as_str().expect("a device");
    assert_eq!(device.len(), 12, "{issued}");
    let id = issued["personal_session_id"].as_str().expect("an ID");
    assert!(lines[1].starts_with("mpt_…"), "masked: {}", lines[1]);
    let me = json(lines[2]);
    assert_eq!(me["user_id"], bot_id.as_str(), "the token works on Synapse");
    assert_eq!(me["device_id"], device);
    let revoked = json(lines[3]);
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    assert_eq!(revoked["user_id"], bot_id.as_str(), "whose token it was");
    assert!(
        lines[4].contains("no longer valid"),
        "refused: {}",
        lines[4]
    );
    assert_eq!(lines[5], bot_id, "login-as on MAS");
    let listed = json(lines[6]);
    let listed = listed.as_array().expect("a table");
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["name"], "ops bot");
    assert_eq!(listed[0]["user_id"], bot_id.as_str());
    assert!(listed[0]["revoked_at"].is_null());
    assert!(
        listed[1]["revoked_at"].is_string(),
        "the second was revoked"
    );
    assert!(
        listed[2]["name"]
            .as_str()
            .unwrap_or_default()
            .starts_with("login-as"),
        "{listed:?}"
    );
    assert!(
        !run.stdout.contains("access_token\":\"mpt_"),
        "lists never show a token"
    );
    assert!(lines[7].contains("No user @nobody-"), "{}", lines[7]);
    assert!(
        lines[8].contains("is not a user of localhost"),
        "{}",
        lines[8]
    );
    // Revoked twice: MAS's 409 read as what it is, not as a taken user name.
    assert_eq!(lines[9], "This token is already revoked", "{}", lines[9]);
}

#[test]
fn sessions_that_may_not_use_the_admin_api_are_told_how_to_get_one() {
    let mas = mas();
    let user = unique_user("masplain");
    let user_id = mas.register(&user, "pw-Plain-1");
    // An OAuth 2.0 session without the admin scope: MAS refuses it.
    let mut nu = Running::start(
        &format!(
            "matrix login {user_id} -H {} --oauth --no-browser | matrix admin tokens",
            mas.url
        ),
        |_| {},
    );
    super::approve_what_nu_shows(&mut nu, &user, "pw-Plain-1");
    let run = nu.finish(Duration::from_secs(60));
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(
        text.contains("This session may not use MAS's admin API"),
        "{text}"
    );
    assert!(text.contains("--oauth --admin"), "{text}");
    // A password login on MAS gives a compatibility token: refused before anything is sent.
    let run = nu_pw(
        &format!(
            "$env.PW | matrix login {user_id} -H {} | matrix admin token {user}",
            mas.url
        ),
        "pw-Plain-1",
    );
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(text.contains("it is no OAuth 2.0 session"), "{text}");
    assert!(text.contains("--oauth --admin"), "{text}");
}

#[test]
fn matrix_register_creates_a_bot_on_mas_with_an_admin_session() {
    let mas = mas();
    let admin = unique_user("masreg");
    let admin_id = mas.register_admin(&admin, "pw-Admin-2");
    let bot = unique_user("masnewbot");
    let bot_id = format!("@{bot}:localhost");
    let config = scratch(&format!("config-{admin}"));
    let script = format!(
        r#"matrix login {admin_id} -H {url} --oauth --no-browser --admin --save adm | ignore
        let r = (matrix register {bot} --session adm --save bot)
        print ($r | reject access_token password | to json --raw)
        print ($r | matrix whoami | get user_id)
        let pw = ($r.password | matrix token reveal)
        print ($pw | matrix login {bot_id} -H {url} | get user_id)
        print (try {{ matrix register {bot} --session adm }} catch {{|e| $e.msg }})
        print (try {{ matrix register other-{bot} -H {url} }} catch {{|e| $e.msg }})"#,
        url = mas.url
    );
    let mut nu = Running::start(&script, |command| {
        command.env("XDG_CONFIG_HOME", &config);
    });
    super::approve_what_nu_shows(&mut nu, &admin, "pw-Admin-2");
    let run = nu.finish(Duration::from_secs(90));
    assert!(run.success, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let made = json(lines[0]);
    assert_eq!(made["user_id"], bot_id.as_str(), "{made}");
    assert_eq!(made["device_id"].as_str().map(str::len), Some(12));
    assert_eq!(lines[1], bot_id, "its personal token works on Synapse");
    assert_eq!(
        lines[2], bot_id,
        "its password logs in (MAS's compatibility layer)"
    );
    assert!(lines[3].contains("the name is taken"), "{}", lines[3]);
    // Synapse's ways of registering, on a server run by MAS: pointed to the admin session.
    assert!(lines[4].contains("run by MAS"), "{}", lines[4]);
}

#[test]
fn a_bot_registered_on_mas_is_redeployed_as_the_readme_says() {
    // The README's bot section and its re-deploy, on MAS: the session `register` made saved,
    // its password and recovery key in 0600 files, a new device logged in with the password
    // and made trusted with the key.
    let mas = mas();
    let admin = unique_user("masredeploy");
    let admin_id = mas.register_admin(&admin, "pw-Admin-3");
    let bot = unique_user("masredeployed");
    let bot_id = format!("@{bot}:localhost");
    let config = scratch(&format!("config-{admin}"));
    let (password_file, key_file) = (
        config.join("bot-password.txt"),
        config.join("recovery-key.txt"),
    );
    let script = format!(
        r#"matrix login {admin_id} -H {url} --oauth --no-browser --admin --save adm | ignore
        let made = (matrix register {bot} --session adm --save bot)
        $made.password | matrix token save '{password}' | ignore
        matrix e2ee bootstrap --session bot | get recovery_key | matrix token save '{key}' | ignore
        let old = (matrix session get bot | get device_id)
        open '{password}' | matrix login {bot_id} -H {url} --save bot | ignore
        open '{key}' | matrix e2ee recover --session bot | ignore
        let devices = (matrix devices --session bot)
        print ([($devices | where current | get verified | first) ($devices | where device_id == $old | length)] | to json -r)"#,
        url = mas.url,
        password = password_file.display(),
        key = key_file.display(),
    );
    let mut nu = Running::start(&script, |command| {
        command
            .env("XDG_CONFIG_HOME", &config)
            .env("XDG_DATA_HOME", config.join("data"));
    });
    super::approve_what_nu_shows(&mut nu, &admin, "pw-Admin-3");
    let run = nu.finish(Duration::from_secs(120));
    assert!(run.success, "{}", run.stderr);
    assert_eq!(
        run.stdout.trim().lines().last(),
        Some("[true,1]"),
        "{}",
        run.stdout
    );
    for file in [&password_file, &key_file] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file)
            .expect("written")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
}

#[test]
fn the_library_example_gives_a_bot_a_token_with_the_admin_client() {
    let mas = mas();
    let (client_id, secret) = mas.admin_client();
    let secret = nu_plugin_matrix::Password::new(secret);
    let bot = unique_user("exbot");
    // A new user: made, then given a token; an existing one: given another.
    for _ in 0..2 {
        let session =
            super::mas_bot::bot_token(&mas.url, &client_id, &secret, &bot).expect("a bot token");
        assert_eq!(session.user_id, *format!("@{bot}:localhost").as_str());
        assert!(session.access_token.reveal().starts_with("mpt_"));
        assert_eq!(session.device_id.len(), 12);
    }
    // A wrong secret: the token endpoint refuses the client.
    let wrong = nu_plugin_matrix::Password::new("not-the-secret".to_owned());
    match super::mas_bot::bot_token(&mas.url, &client_id, &wrong, &bot) {
        Err(nu_plugin_matrix::Error::OAuth(err)) => {
            assert_eq!(err.error, "invalid_client", "{err}");
            assert!(!err.to_string().contains("not-the-secret"));
        }
        other => panic!("a wrong secret must be refused: {other:?}"),
    }
}

#[test]
fn an_admin_client_session_works_piped_and_saved() {
    let mas = mas();
    let (client_id, secret) = mas.admin_client();
    let bot = unique_user("clientbot");
    mas.register(&bot, "pw-Bot-2");
    let dir = scratch(&format!("adminclient-{bot}"));
    let secret_file = dir.join("secret.txt");
    std::fs::write(&secret_file, format!("{secret}\n")).expect("written");
    let config = dir.join("config");
    let script = format!(
        r#"let a = (open --raw {file} | matrix admin session --client-id {client_id} -H {url} --save masadm)
        print ($a | reject access_token expires_at | to json --raw)
        print ($a.access_token | into string)
        print ($a | matrix admin token {bot} | matrix whoami | get user_id)
        print (matrix admin tokens {bot} --session masadm | length)
        print (matrix session list | where name == masadm | get device_id.0)
        print (try {{ matrix whoami --session masadm }} catch {{|e| $e.msg }})
        matrix session use masadm
        print (matrix session list | where default | get name | to json --raw)
        print (try {{ 'not-the-secret' | matrix admin session --client-id {client_id} -H {url} }} catch {{|e| $e.msg }})
        matrix session remove masadm
        print (matrix session list | length)"#,
        file = secret_file.display(),
        url = mas.url
    );
    let run = crate::support::nu_with(&script, |command| {
        command.env("XDG_CONFIG_HOME", &config);
    });
    assert!(run.success, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let session = json(lines[0]);
    assert_eq!(session["client_id"], client_id.as_str());
    assert_eq!(
        session["home_server"], "localhost",
        "from MAS's site config"
    );
    assert_eq!(session["saved_as"], "masadm");
    assert!(lines[1].starts_with("mat_…"), "masked: {}", lines[1]);
    assert_eq!(lines[2], format!("@{bot}:localhost"), "piped: a bot token");
    assert_eq!(lines[3], "1", "saved: a fresh admin token");
    assert_eq!(lines[4], format!("admin client {client_id}"));
    assert!(
        lines[5].contains("is a saved MAS admin client"),
        "{}",
        lines[5]
    );
    assert_eq!(
        lines[6], r#"["masadm"]"#,
        "an admin client may be the default"
    );
    assert!(
        lines[7].contains("does not know this client, or the secret is wrong"),
        "{}",
        lines[7]
    );
    assert_eq!(lines[8], "0", "removed");
    assert!(!run.all().contains(&secret), "the secret never shows");
}

/// A bot's token from the saved admin session `adm`, written once for both kinds of server.
const BOT_SCRIPT: &str =
    "matrix admin login-as $env.BOT --valid-for 10min | matrix whoami | get user_id";

#[test]
fn one_bot_script_serves_synapse_and_mas() {
    // Synapse: `adm` is a server admin's password session.
    let synapse = crate::support::synapse();
    let admin = unique_user("synadm");
    synapse.register_admin(&admin, "pw-SynAdm-1");
    let bot = unique_user("synbot");
    let bot_id = synapse.register(&bot, "pw-SynBot-1");
    let config = scratch(&format!("config-{admin}"));
    let run = crate::support::nu_cfg(
        &format!(
            "$env.PW | matrix login @{admin}:localhost -H {} --save adm | ignore",
            synapse.url
        ),
        &config,
        "pw-SynAdm-1",
    );
    assert!(run.success, "{}", run.stderr);
    let run = crate::support::nu_with(BOT_SCRIPT, |command| {
        command.env("XDG_CONFIG_HOME", &config).env("BOT", &bot_id);
    });
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), bot_id);

    // MAS: `adm` is its admin client.
    let mas = mas();
    let (client_id, secret) = mas.admin_client();
    let bot = unique_user("masscriptbot");
    let bot_id = mas.register(&bot, "pw-Bot-3");
    let config = scratch(&format!("config-mas-{bot}"));
    let run = crate::support::nu_with(
        &format!(
            "$env.SECRET | matrix admin session --client-id {client_id} -H {} --save adm | ignore\n{BOT_SCRIPT}",
            mas.url
        ),
        |command| {
            command
                .env("XDG_CONFIG_HOME", &config)
                .env("SECRET", &secret)
                .env("BOT", &bot_id);
        },
    );
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), bot_id);
}

/// A saved admin client's secret goes where the `secrets` setting puts tokens: the system
/// keyring (a real GNOME Keyring) under `auto`, never the file; it works from there, moves both
/// ways with `matrix session move`, and its item goes with `matrix session remove`.
#[test]
fn an_admin_clients_secret_follows_the_secrets_setting() {
    let keyring = crate::support::keyring::keyring();
    let mas = mas();
    let (client_id, secret) = mas.admin_client();
    let bot = unique_user("krbot");
    mas.register(&bot, "pw-Bot-4");
    let config = scratch(&format!("adminkeyring-{bot}"));
    let file = config.join("nu_plugin_matrix/sessions.json");
    let nu = |script: &str| {
        let run = crate::support::nu_with(script, |command| {
            command
                .env("XDG_CONFIG_HOME", &config)
                .env("SECRET", &secret);
            keyring.give(command);
        });
        assert!(run.success, "`{script}`: {}", run.stderr);
        assert!(!run.all().contains(&secret), "the secret never shows");
        run.stdout.trim().to_owned()
    };
    let key_of = || -> Option<String> {
        let text = std::fs::read_to_string(&file).expect("the session file");
        let saved: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        saved["admin_clients"]["masadm"]["keyring"]
            .as_str()
            .map(str::to_owned)
    };
    let in_file = || {
        std::fs::read_to_string(&file)
            .expect("the file")
            .contains(&secret)
    };

    nu(&format!(
        "$env.SECRET | matrix admin session --client-id {client_id} -H {} --save masadm | ignore",
        mas.url
    ));
    assert!(!in_file(), "auto with a keyring: not in the file");
    let key = key_of().expect("a keyring reference");
    assert_eq!(
        keyring.lookup(&key).as_deref().map(|s| s.contains(&secret)),
        Some(true)
    );
    assert_eq!(
        nu("matrix session list | where name == masadm | get store.0"),
        "keyring"
    );
    // It works from the keyring: a fresh admin token each command.
    assert_eq!(
        nu(&format!(
            "matrix admin tokens {bot} --session masadm | length"
        )),
        "0"
    );

    nu("matrix session move masadm --to file | ignore");
    assert!(in_file(), "moved into the file");
    assert_eq!(key_of(), None);
    assert!(keyring.lookup(&key).is_none(), "the item is gone");
    assert_eq!(
        nu(&format!(
            "matrix admin tokens {bot} --session masadm | length"
        )),
        "0"
    );

    nu("matrix session move --all --to keyring | ignore");
    assert!(!in_file(), "moved back with --all");
    let key = key_of().expect("a new keyring reference");
    assert!(keyring.lookup(&key).is_some());

    nu("matrix session remove masadm");
    assert!(keyring.lookup(&key).is_none(), "removed with its item");

    // `secrets: file` keeps it in the file, keyring or not.
    nu(&format!(
        "$env.config.plugins.matrix = {{secrets: file}}
        $env.SECRET | matrix admin session --client-id {client_id} -H {} --save masadm | ignore",
        mas.url
    ));
    assert!(in_file());
    assert_eq!(key_of(), None);
}
