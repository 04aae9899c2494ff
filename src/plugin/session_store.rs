//! The session store as commands use it: saving, forgetting, loading, and the errors about
//! saved sessions.

use nu_plugin::{EngineInterface, EvaluatedCall};
use nu_protocol::{LabeledError, Span, Spanned};

use crate::plugin::MatrixPlugin;
use crate::plugin::config::PluginConfig;
use crate::plugin::errors;
use crate::session::Session;
use crate::store::{Saved, SavedSession, SavedSessions, SecretsSetting, SessionStore, StoreError};

/// The longest session name, in characters.
const MAX_NAME_CHARS: usize = 100;

/// Checks a name for a saved session.
pub(crate) fn check_session_name(name: &Spanned<String>) -> Result<(), LabeledError> {
    let problem = if name.item.trim().is_empty() {
        "the name is empty"
    } else if name.item.chars().count() > MAX_NAME_CHARS {
        "the name is too long"
    } else if name.item.chars().any(char::is_control) {
        "the name contains a control character"
    } else {
        return Ok(());
    };
    Err(LabeledError::new("Invalid session name")
        .with_label(problem, name.span)
        .with_help(format!(
            "name sessions with a short word such as bot or @bot:example.org (at most \
             {MAX_NAME_CHARS} characters)"
        )))
}

/// Saves `session` as `name`, replacing a session of that name, its tokens where `secrets`
/// says. It becomes the default when `make_default` is set or no default exists.
pub(crate) fn save_session(
    plugin: &MatrixPlugin,
    name: &str,
    session: &Session,
    secrets: SecretsSetting,
    make_default: bool,
) -> Result<Saved, StoreError> {
    plugin.store()?.save(name, session, secrets, make_default)
}

/// Removes the saved sessions for which `is_dead` holds (their tokens were revoked), and the
/// default mark if it named one of them. Returns their names. Creates no file.
pub(crate) fn forget(
    plugin: &MatrixPlugin,
    is_dead: impl Fn(&SavedSession) -> bool,
) -> Result<Vec<String>, StoreError> {
    let store = plugin.store()?;
    if !store.path().exists() {
        return Ok(Vec::new());
    }
    let removed = store.update(|saved| {
        let dead: Vec<String> = saved
            .sessions
            .iter()
            .filter(|(_, session)| is_dead(session))
            .map(|(name, _)| name.clone())
            .collect();
        let removed: Vec<(String, SavedSession)> = dead
            .iter()
            .filter_map(|name| Some((name.clone(), saved.sessions.remove(name)?)))
            .collect();
        if saved
            .default
            .as_ref()
            .is_some_and(|name| dead.contains(name))
        {
            saved.default = None;
        }
        Ok::<_, StoreError>(removed)
    })?;
    // Their tokens were revoked: the keyring items go too, as far as the keyring lets them.
    for (_, entry) in &removed {
        store.drop_secrets_quietly(entry);
    }
    Ok(removed.into_iter().map(|(name, _)| name).collect())
}

/// The `--save <name>` flag: the name, checked, and the session file checked to be usable, so
/// that a broken file fails the command before it logs in (and makes a device) rather than
/// after.
pub(crate) fn save_name(
    plugin: &MatrixPlugin,
    call: &EvaluatedCall,
) -> Result<Option<Spanned<String>>, LabeledError> {
    let save: Option<Spanned<String>> = call.get_flag("save")?;
    if let Some(name) = &save {
        check_session_name(name)?;
        plugin
            .store()
            .and_then(|store| store.load())
            .map_err(|err| errors::store(err, name.span))?;
    }
    Ok(save)
}

/// Where `--save` saves a session: its name, and where its tokens go.
pub(crate) struct SaveAs {
    name: Spanned<String>,
    secrets: SecretsSetting,
}

/// The `--save <name>` flag of a command that makes a session, checked as [`save_name`] does,
/// and the keyring too when the `secrets` setting asks for it: without one, the command fails
/// before its login makes a token that could not be kept.
pub(crate) fn save_flag(
    plugin: &MatrixPlugin,
    engine: &EngineInterface,
    call: &EvaluatedCall,
) -> Result<Option<SaveAs>, LabeledError> {
    let Some(name) = save_name(plugin, call)? else {
        return Ok(None);
    };
    let secrets = PluginConfig::read(engine)?.secrets;
    check_keyring_to_save(plugin, &name, secrets)?;
    Ok(Some(SaveAs { name, secrets }))
}

/// With `secrets: keyring`, that a keyring takes secrets now: checked before a command makes
/// something (a token, an admin client's session) that could not be kept.
pub(crate) fn check_keyring_to_save(
    plugin: &MatrixPlugin,
    name: &Spanned<String>,
    secrets: SecretsSetting,
) -> Result<(), LabeledError> {
    if secrets == SecretsSetting::Keyring {
        plugin
            .store()
            .and_then(|store| store.place(secrets))
            .map_err(|err| errors::store(err, name.span))?;
    }
    Ok(())
}

/// Saves `session` under the `--save` name, if one was given. Returns the name. A save that
/// fails now (the keyring stopped answering since the check) does not lose the session: the
/// command still returns its record, and a warning on stderr says what to do.
pub(crate) fn save_if_asked(
    plugin: &MatrixPlugin,
    save: Option<SaveAs>,
    session: &Session,
) -> Result<Option<String>, LabeledError> {
    let Some(SaveAs { name, secrets }) = save else {
        return Ok(None);
    };
    match save_session(plugin, &name.item, session, secrets, false) {
        Ok(_) => Ok(Some(name.item)),
        Err(err) => {
            eprintln!(
                "warning: the session was not saved as '{}': {} ({}). Its record is returned \
                 as it is: save it with `matrix session save {}`.",
                name.item, err.problem, err.hint, name.item
            );
            Ok(None)
        }
    }
}

/// The session store at its usual place, or an error pointing at `span`.
pub(crate) fn store_of(plugin: &MatrixPlugin, span: Span) -> Result<SessionStore, LabeledError> {
    plugin.store().map_err(|err| errors::store(err, span))
}

/// No saved session has this name: say which ones there are.
pub(crate) fn unknown(name: &Spanned<String>, saved: &SavedSessions) -> LabeledError {
    if saved.admin_clients.contains_key(&name.item) {
        return LabeledError::new(format!(
            "'{}' is a saved MAS admin client, not a session",
            name.item
        ))
        .with_label("an admin client", name.span)
        .with_help("it works with the `matrix admin` commands; give a user's session");
    }
    let names: Vec<&str> = saved.sessions.keys().map(String::as_str).collect();
    LabeledError::new(format!("No saved session named '{}'", name.item))
        .with_label("unknown session", name.span)
        .with_help(if names.is_empty() {
            "no session is saved yet: `matrix login ... --save <name>`".to_owned()
        } else {
            format!("saved sessions: {}", names.join(", "))
        })
}
