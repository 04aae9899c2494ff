//! The session file: permissions, atomic writes, locking, old formats.

use std::os::unix::fs::PermissionsExt;

use super::*;

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
            saved.sessions.insert("bot".into(), session("syt_one"));
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
        Some(("bot", session("syt_one")))
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
                        saved
                            .sessions
                            .insert(format!("s{i}"), session(&format!("syt_{i}")));
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
    let admin = SavedAdminClient {
        homeserver: "https://matrix.example.org".into(),
        home_server: "example.org".into(),
        issuer: "https://auth.example.org/".into(),
        token_endpoint: "https://auth.example.org/oauth2/token".into(),
        client_id: "01JADM1NC11ENT000000000001".into(),
        client_secret: Password::new("client-secret-0001".into()),
    };
    store
        .update(|saved| {
            saved.admin_clients.insert("adm".into(), admin.clone());
            saved.sessions.insert("bot".into(), session("syt_1"));
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
