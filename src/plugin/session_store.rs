//! The session store as commands use it: saving, forgetting, loading, and the errors about
//! saved sessions.

use nu_plugin::EvaluatedCall;
use nu_protocol::{LabeledError, Span, Spanned};

use crate::plugin::MatrixPlugin;
use crate::plugin::errors;
use crate::session::Session;
use crate::store::{SavedSessions, SessionStore, StoreError};

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

/// Saves `session` as `name`, replacing a session of that name. It becomes the default when
/// `make_default` is set or no default exists. Returns whether it is the default.
pub(crate) fn save_session(
    plugin: &MatrixPlugin,
    name: &str,
    session: &Session,
    make_default: bool,
) -> Result<bool, StoreError> {
    plugin.store()?.update(|saved| {
        saved.sessions.insert(name.to_owned(), session.clone());
        saved.needs_login.remove(name);
        let default_missing = saved.default.as_ref().is_none_or(|default| {
            !saved.sessions.contains_key(default) && !saved.admin_clients.contains_key(default)
        });
        if make_default || default_missing {
            saved.default = Some(name.to_owned());
        }
        Ok(saved.default.as_deref() == Some(name))
    })
}

/// Removes the saved sessions for which `is_dead` holds (their tokens were revoked), and the
/// default mark if it named one of them. Returns their names. Creates no file.
pub(crate) fn forget(
    plugin: &MatrixPlugin,
    is_dead: impl Fn(&Session) -> bool,
) -> Result<Vec<String>, StoreError> {
    let store = plugin.store()?;
    if !store.path().exists() {
        return Ok(Vec::new());
    }
    store.update(|saved| {
        let dead: Vec<String> = saved
            .sessions
            .iter()
            .filter(|(_, session)| is_dead(session))
            .map(|(name, _)| name.clone())
            .collect();
        for name in &dead {
            saved.sessions.remove(name);
        }
        if saved
            .default
            .as_ref()
            .is_some_and(|name| dead.contains(name))
        {
            saved.default = None;
        }
        Ok(dead)
    })
}

/// The `--save <name>` flag of a command that makes a session: the name, checked, and the
/// session file checked to be usable, so that a broken file fails the command before it logs in
/// (and makes a device) rather than after.
pub(crate) fn save_flag(
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

/// Saves `session` under the `--save` name, if one was given. Returns the name.
pub(crate) fn save_if_asked(
    plugin: &MatrixPlugin,
    save: Option<Spanned<String>>,
    session: &Session,
) -> Result<Option<String>, LabeledError> {
    let Some(name) = save else {
        return Ok(None);
    };
    save_session(plugin, &name.item, session, false)
        .map_err(|err| errors::store(err, name.span))?;
    Ok(Some(name.item))
}

/// The session store at its usual place, or an error pointing at `span`.
pub(crate) fn store_of(plugin: &MatrixPlugin, span: Span) -> Result<SessionStore, LabeledError> {
    plugin.store().map_err(|err| errors::store(err, span))
}

/// The saved sessions, or an error pointing at `span`.
pub(crate) fn load(plugin: &MatrixPlugin, span: Span) -> Result<SavedSessions, LabeledError> {
    store_of(plugin, span)?
        .load()
        .map_err(|err| errors::store(err, span))
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
