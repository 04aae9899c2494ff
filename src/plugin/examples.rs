//! The example mode: the plugin with a session store of its own, seeded with the sessions the
//! command examples show, and no network. `PluginTest::test_command_examples` runs the examples
//! that carry a `result` in it, so an example whose result is wrong fails the test suite.

use std::path::Path;

use crate::bot::Hub;
use crate::error::InputError;
use crate::ids::UserId;
use crate::plugin::MatrixPlugin;
use crate::secret::AccessToken;
use crate::session::Session;
use crate::store::{SavedSession, SessionStore, StoreError};

/// The token of the example session `bot`.
pub const BOT_TOKEN: &str = "syt_Ym90_qWxMHqYrKfEyYgTmkBvA_0kLv2a";

/// The example sessions, by name: `bot`, and `old-bot`, the default.
fn example_sessions() -> Vec<(&'static str, Session)> {
    let session = |user: &str, device: &str, token: &str| Session {
        user_id: UserId::parse(user).expect("the example user IDs are valid"),
        device_id: device.to_owned(),
        home_server: "example.org".to_owned(),
        homeserver: "https://matrix.example.org".to_owned(),
        access_token: AccessToken::new(token.to_owned()),
        refresh_token: None,
        expires_at: None,
        oauth: None,
    };
    vec![
        ("bot", session("@bot:example.org", "BOT1", BOT_TOKEN)),
        (
            "old-bot",
            session(
                "@oldbot:example.org",
                "OLD1",
                "syt_b2xkYm90_tZcVwLrQbNsUeXaPdHgK_1mQx3b",
            ),
        ),
    ]
}

impl MatrixPlugin {
    /// The plugin in example mode: its sessions in `folder/sessions.json`, seeded with the
    /// example sessions (`bot`, and `old-bot` as the default), and every request to a
    /// homeserver refused before it is sent. For tests of the command examples.
    #[doc(hidden)]
    pub fn for_examples(folder: &Path) -> Result<Self, StoreError> {
        let store = SessionStore::new(folder.join("sessions.json"));
        store.update(|saved| {
            saved.sessions.clear();
            saved.sessions.extend(
                example_sessions()
                    .into_iter()
                    .map(|(name, session)| (name.to_owned(), SavedSession::in_file(&session))),
            );
            saved.default = Some("old-bot".to_owned());
            Ok::<_, StoreError>(())
        })?;
        let offline = InputError::new(
            "example mode sends no request to a homeserver",
            "run the example in a real Nushell with a real homeserver",
        );
        Ok(Self {
            hub: Hub::with_store(store).offline(offline),
            ..Self::default()
        })
    }
}
