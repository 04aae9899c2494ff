//! The session file: permissions, atomic writes, locking, old formats.

use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::ids::UserId;
use crate::secret::AccessToken;
use crate::session::{OAuthClient, Session};
use crate::unix_ms;

/// A saved MAS admin client with this secret.
fn admin_client(client_secret: Kept<Password>) -> SavedAdminClient {
    SavedAdminClient {
        homeserver: "https://matrix.example.org".into(),
        home_server: "example.org".into(),
        issuer: "https://auth.example.org/".into(),
        token_endpoint: "https://auth.example.org/oauth2/token".into(),
        client_id: "01JADM1NC11ENT000000000001".into(),
        client_secret,
    }
}

fn session(token: &str) -> Session {
    Session {
        user_id: UserId::parse("@bot:example.org").expect("valid"),
        device_id: "DEV".into(),
        home_server: "example.org".into(),
        homeserver: "https://matrix.example.org".into(),
        access_token: AccessToken::new(token.into()),
        refresh_token: Some(AccessToken::new("syr_refresh".into())),
        expires_at: Some(unix_ms::to_time(1_800_000_000_000)),
        oauth: Some(OAuthClient {
            issuer: "https://auth.example.org/".into(),
            client_id: "01CLIENT".into(),
            token_endpoint: "https://auth.example.org/oauth2/token".into(),
            revocation_endpoint: "https://auth.example.org/oauth2/revoke".into(),
        }),
    }
}

#[test]
fn a_missing_file_is_an_empty_store() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = SessionStore::new(dir.path().join("none/sessions.json"));
    assert_eq!(store.load(), Ok(SavedSessions::default()));
}

#[test]
fn sessions_round_trip_in_a_0600_file() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = SessionStore::new(dir.path().join("nu_plugin_matrix/sessions.json"));
    store
        .update(|saved| {
            saved
                .sessions
                .insert("bot".into(), SavedSession::in_file(&session("syt_one")));
            saved.default = Some("bot".into());
            Ok::<_, StoreError>(())
        })
        .expect("saved");
    let mode = std::fs::metadata(store.path())
        .expect("file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let folder_mode = std::fs::metadata(store.path().parent().expect("folder"))
        .expect("folder")
        .permissions()
        .mode();
    assert_eq!(folder_mode & 0o777, 0o700);
    let saved = store.load().expect("loads");
    assert_eq!(
        saved.default_session().map(|(name, s)| (name, s.clone())),
        Some(("bot", SavedSession::in_file(&session("syt_one"))))
    );
}

#[test]
fn a_corrupt_file_is_reported_and_left_alone() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("sessions.json");
    std::fs::write(
        &path,
        "{\"version\": 1, \"sessions\": {\"x\": \"syt_secret_token\"",
    )
    .expect("write");
    let store = SessionStore::new(&path);
    let err = store.load().expect_err("corrupt");
    assert!(err.problem.contains("not a valid session file"), "{err}");
    assert!(!err.to_string().contains("syt_secret"), "{err}");
    let result = store.update(|saved| {
        saved.default = Some("x".into());
        Ok::<_, StoreError>(())
    });
    assert!(result.is_err());
    assert_eq!(
        std::fs::read_to_string(&path).expect("still there"),
        "{\"version\": 1, \"sessions\": {\"x\": \"syt_secret_token\""
    );
}

#[test]
fn an_error_in_the_change_writes_nothing() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = SessionStore::new(dir.path().join("sessions.json"));
    let result: Result<(), StoreError> = store.update(|saved| {
        saved.default = Some("x".into());
        Err(StoreError {
            path: PathBuf::new(),
            problem: "no".into(),
            hint: String::new(),
        })
    });
    assert!(result.is_err());
    assert!(!store.path().exists());
}

#[test]
fn concurrent_writers_lose_nothing() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = SessionStore::new(dir.path().join("sessions.json"));
    std::thread::scope(|scope| {
        for i in 0..16 {
            let store = store.clone();
            scope.spawn(move || {
                store
                    .update(|saved| {
                        saved.sessions.insert(
                            format!("s{i}"),
                            SavedSession::in_file(&session(&format!("syt_{i}"))),
                        );
                        Ok::<_, StoreError>(())
                    })
                    .expect("saved");
            });
        }
    });
    assert_eq!(store.load().expect("valid").sessions.len(), 16);
}

#[test]
fn admin_clients_and_marks_round_trip() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = SessionStore::new(dir.path().join("sessions.json"));
    let admin = admin_client(Kept::File(Password::new("client-secret-0001".into())));
    store
        .update(|saved| {
            saved.admin_clients.insert("adm".into(), admin.clone());
            saved
                .sessions
                .insert("bot".into(), SavedSession::in_file(&session("syt_1")));
            saved.needs_login.insert("bot".into());
            saved.needs_login.insert("gone".into());
            Ok::<_, StoreError>(())
        })
        .expect("saved");
    let loaded = store.load().expect("valid");
    assert_eq!(loaded.admin_clients.get("adm"), Some(&admin));
    // A mark of a session that is not there is dropped.
    assert_eq!(loaded.needs_login.into_iter().collect::<Vec<_>>(), ["bot"]);
    assert!(!format!("{admin:?}").contains("client-secret-0001"));
}

#[test]
fn a_session_in_the_keyring_keeps_only_its_reference_in_the_file() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = SessionStore::new(dir.path().join("sessions.json"));
    let in_keyring = SavedSession::new(
        &session("syt_in_keyring"),
        Secrets::Keyring {
            key: "bot 0011223344556677".into(),
        },
    );
    store
        .update(|saved| {
            saved.sessions.insert("bot".into(), in_keyring.clone());
            Ok::<_, StoreError>(())
        })
        .expect("saved");
    let text = std::fs::read_to_string(store.path()).expect("written");
    assert!(!text.contains("syt_in_keyring"), "{text}");
    assert!(!text.contains("syr_refresh"), "{text}");
    assert!(
        text.contains("\"keyring\": \"bot 0011223344556677\""),
        "{text}"
    );
    // Older plugins read format 1 only: the new form says so in its version.
    assert!(text.contains("\"version\": 2"), "{text}");
    let loaded = store.load().expect("valid");
    assert_eq!(loaded.sessions.get("bot"), Some(&in_keyring));
    assert_eq!(in_keyring.secrets_at(), SecretsAt::Keyring);
    // A store given no keyring says where the tokens are instead of inventing any.
    let err = store.open("bot", &in_keyring).expect_err("no keyring");
    assert!(err.problem.contains("'bot'"), "{err}");
    assert!(err.problem.contains("keyring"), "{err}");
}

#[test]
fn a_file_without_keyring_sessions_stays_format_1() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = SessionStore::new(dir.path().join("sessions.json"));
    store
        .save("bot", &session("syt_file"), SecretsSetting::Auto, false)
        .expect("saved");
    let text = std::fs::read_to_string(store.path()).expect("written");
    assert!(text.contains("\"version\": 1"), "{text}");
    assert!(text.contains("syt_file"), "{text}");
    let loaded = store.load().expect("valid");
    let entry = loaded.sessions.get("bot").expect("saved");
    assert_eq!(entry.secrets_at(), SecretsAt::File);
    assert_eq!(store.open("bot", entry), Ok(session("syt_file")));
    // `keyring` with no keyring at hand fails before anything is written.
    let err = store
        .save("two", &session("syt_two"), SecretsSetting::Keyring, false)
        .expect_err("no keyring");
    assert!(err.problem.contains("keyring"), "{err}");
    assert!(
        !std::fs::read_to_string(store.path())
            .expect("kept")
            .contains("syt_two")
    );
}

#[test]
fn an_entry_with_neither_tokens_nor_a_reference_is_reported() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("sessions.json");
    let entry = r#"{"user_id": "@bot:example.org", "device_id": "D", "home_server": "example.org", "homeserver": "https://matrix.example.org"}"#;
    std::fs::write(
        &path,
        format!("{{\"version\": 2, \"default\": null, \"sessions\": {{\"bot\": {entry}}}}}"),
    )
    .expect("write");
    let err = SessionStore::new(&path).load().expect_err("not whole");
    assert!(err.problem.contains("session 'bot'"), "{err}");
    std::fs::write(
        &path,
        "{\"version\": 3, \"default\": null, \"sessions\": {}}",
    )
    .expect("write");
    let err = SessionStore::new(&path).load().expect_err("too new");
    assert!(err.problem.contains("format version 3"), "{err}");
}

#[test]
fn an_admin_client_in_the_keyring_keeps_only_its_reference_in_the_file() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = SessionStore::new(dir.path().join("sessions.json"));
    let admin = admin_client(Kept::Keyring {
        key: "adm 8899aabbccddeeff".into(),
    });
    store
        .update(|saved| {
            saved.admin_clients.insert("adm".into(), admin.clone());
            Ok::<_, StoreError>(())
        })
        .expect("saved");
    let text = std::fs::read_to_string(store.path()).expect("written");
    assert!(!text.contains("client_secret"), "{text}");
    assert!(
        text.contains("\"keyring\": \"adm 8899aabbccddeeff\""),
        "{text}"
    );
    assert!(text.contains("\"version\": 2"), "{text}");
    let loaded = store.load().expect("valid");
    assert_eq!(loaded.admin_clients.get("adm"), Some(&admin));
    assert_eq!(admin.client_secret.at(), SecretsAt::Keyring);
    let err = store
        .open_admin_client("adm", &admin)
        .expect_err("no keyring");
    assert!(err.problem.contains("'adm'"), "{err}");
    // An admin client with neither a secret nor a reference is reported by name.
    let broken = text.replace("\"keyring\": \"adm 8899aabbccddeeff\"", "\"x\": 1");
    std::fs::write(store.path(), broken).expect("write");
    let err = store.load().expect_err("not whole");
    assert!(err.problem.contains("admin client 'adm'"), "{err}");
}

#[test]
fn the_crypto_store_key_is_made_once_and_stays_with_its_device() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = SessionStore::new(dir.path().join("nu_plugin_matrix/sessions.json"));
    store
        .save("bot", &session("syt_one"), SecretsSetting::File, false)
        .expect("saved");
    let made = || Password::new("key-one".into());
    let key = store
        .crypto_store_key("bot", "@bot:example.org", "DEV", made)
        .expect("made");
    assert_eq!(key.expose(), "key-one");
    // Asked again: the same key, not a new one.
    let again = store
        .crypto_store_key("bot", "@bot:example.org", "DEV", || {
            Password::new("key-two".into())
        })
        .expect("kept");
    assert_eq!(again.expose(), "key-one");
    // A refresh keeps it.
    store
        .update(|saved| {
            let mut entry = saved.sessions.get("bot").cloned().expect("bot");
            store.renew("bot", &mut entry, &session("syt_refreshed"))?;
            saved.sessions.insert("bot".into(), entry);
            Ok::<_, StoreError>(())
        })
        .expect("renewed");
    let Secrets::File(tokens) = &store.load().expect("loaded").sessions["bot"].secrets else {
        panic!("in the file");
    };
    assert_eq!(tokens.access_token.reveal(), "syt_refreshed");
    assert_eq!(
        tokens.crypto_store_key.as_ref().map(Password::expose),
        Some("key-one")
    );
    // A new login of the same device keeps it; one of another device has none.
    store
        .save("bot", &session("syt_two"), SecretsSetting::File, false)
        .expect("saved again");
    let kept = store
        .crypto_store_key("bot", "@bot:example.org", "DEV", || {
            Password::new("key-three".into())
        })
        .expect("kept");
    assert_eq!(kept.expose(), "key-one");
    let other = Session {
        device_id: "OTHER".into(),
        ..session("syt_three")
    };
    store
        .save("bot", &other, SecretsSetting::File, false)
        .expect("replaced");
    let Secrets::File(tokens) = &store.load().expect("loaded").sessions["bot"].secrets else {
        panic!("in the file");
    };
    assert!(tokens.crypto_store_key.is_none());
    // Asked for a device the entry is no longer: refused, nothing made.
    let err = store
        .crypto_store_key("bot", "@bot:example.org", "DEV", made)
        .expect_err("not that device");
    assert!(
        err.problem.contains("no longer the session of device DEV"),
        "{err}"
    );
    // The key is in the file, never in a Debug print.
    let file = std::fs::read_to_string(store.path()).expect("the file");
    assert!(!file.contains("key-one"), "{file}");
    assert!(!format!("{:?}", store.load()).contains("key-"));
}
