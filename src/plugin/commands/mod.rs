//! The commands, one per file, each a unit struct named after its command (the bare group
//! commands `matrix`, `matrix token`, ... share `group.rs`). Helpers that several commands use
//! live beside this folder, in modules named for what they do.

/// The `get_dynamic_completion` of a command whose only completion is a saved session's name:
/// `completes_saved_sessions!(Flag)` for `--session`, `(First)` for the first argument.
macro_rules! completes_saved_sessions {
    ($arg:ident) => {
        #[allow(deprecated)] // Nushell marks plugin completions experimental
        fn get_dynamic_completion(
            &self,
            plugin: &MatrixPlugin,
            _engine: &nu_plugin::EngineInterface,
            _call: nu_plugin::DynamicCompletionCall,
            arg_type: nu_protocol::engine::ArgType,
            _experimental: nu_protocol::engine::ExperimentalMarker,
        ) -> Option<Vec<nu_protocol::DynamicSuggestion>> {
            crate::plugin::completion::saved_sessions(
                plugin,
                &arg_type,
                crate::plugin::completion::SessionArg::$arg,
            )
        }
    };
}

/// The `get_dynamic_completion` of a command whose positional argument (`$at`: an index, or `_`
/// for any) takes a device or a room: `completes_sessions_and!(devices, 0)`; `--session`
/// completes the saved sessions.
macro_rules! completes_sessions_and {
    ($what:ident, $at:pat) => {
        #[allow(deprecated)] // Nushell marks plugin completions experimental
        fn get_dynamic_completion(
            &self,
            plugin: &MatrixPlugin,
            engine: &nu_plugin::EngineInterface,
            call: nu_plugin::DynamicCompletionCall,
            arg_type: nu_protocol::engine::ArgType,
            _experimental: nu_protocol::engine::ExperimentalMarker,
        ) -> Option<Vec<nu_protocol::DynamicSuggestion>> {
            if matches!(arg_type, nu_protocol::engine::ArgType::Positional($at)) {
                return crate::plugin::completion::$what(plugin, engine, &call);
            }
            crate::plugin::completion::saved_sessions(
                plugin,
                &arg_type,
                crate::plugin::completion::SessionArg::Flag,
            )
        }
    };
}

mod admin;
mod admin_revoke;
mod admin_session;
mod admin_token;
mod admin_tokens;
mod api;
mod config;
mod devices;
mod devices_delete;
mod devices_rename;
mod discover;
mod download;
mod e2ee_bootstrap;
mod e2ee_recover;
mod e2ee_status;
mod e2ee_verify;
mod e2ee_withdraw;
mod edit;
mod flows;
mod group;
mod join;
mod listen;
mod listen_ack;
mod login;
mod login_token;
mod logout;
mod messages;
mod react;
mod redact;
mod refresh;
mod register;
mod rooms;
mod send;
mod session_get;
mod session_list;
mod session_move;
mod session_remove;
mod session_save;
mod session_use;
mod token_import;
mod token_reveal;
mod token_save;
mod whoami;

pub use admin::AdminLoginAs;
pub use admin_revoke::AdminRevoke;
pub use admin_session::AdminSession;
pub use admin_token::AdminToken;
pub use admin_tokens::AdminTokens;
pub use api::Api;
pub use config::Config;
pub use devices::Devices;
pub use devices_delete::DevicesDelete;
pub use devices_rename::DevicesRename;
pub use discover::Discover;
pub use download::Download;
pub use e2ee_bootstrap::E2eeBootstrap;
pub use e2ee_recover::E2eeRecover;
pub use e2ee_status::E2eeStatus;
pub use e2ee_verify::E2eeVerify;
pub use e2ee_withdraw::E2eeWithdraw;
pub use edit::Edit;
pub use flows::Flows;
pub use group::{ADMIN, E2EE, Group, MATRIX, SESSION, TOKEN};
pub use join::Join;
pub use listen::Listen;
pub use listen_ack::ListenAck;
pub use login::Login;
pub use login_token::TokenLoginToken;
pub use logout::Logout;
pub use messages::Messages;
pub use react::React;
pub use redact::Redact;
pub use refresh::Refresh;
pub use register::Register;
pub use rooms::Rooms;
pub use send::SendMessage;
pub use session_get::SessionGet;
pub use session_list::SessionList;
pub use session_move::SessionMove;
pub use session_remove::SessionRemove;
pub use session_save::SessionSave;
pub use session_use::SessionUse;
pub use token_import::TokenImport;
pub use token_reveal::TokenReveal;
pub use token_save::TokenSave;
pub use whoami::Whoami;

use nu_protocol::{Signature, SyntaxShape, Type};

use crate::plugin::token::TYPE_NAME;

/// The signature of a command that takes its session from the pipeline (a session record or a
/// token value), from `--session <name>`, or the saved default, and returns `output`.
fn with_session(signature: Signature, output: Type) -> Signature {
    signature
        .input_output_types(vec![
            (Type::Nothing, output.clone()),
            (Type::record(), output.clone()),
            (Type::Custom(TYPE_NAME.into()), output.clone()),
            // Not a session: commands that read text from the pipeline (a password, a message)
            // take it; the others say what to do without quoting the string (Nushell's own
            // type error would print it, token and all).
            (Type::String, output.clone()),
            // Anything else: inside `each` and `par-each` the item is on the pipeline. With
            // `--session` it is left alone; without, the command says it is not a session.
            (Type::Any, output),
        ])
        .named(
            "session",
            SyntaxShape::String,
            "Use this saved session (default: the pipeline's, else the saved default).",
            None,
        )
        .pipe(with_timeout)
}

/// Adds `--save <name>`, for commands that make a session; `session_store::save_flag` reads it.
fn with_save(signature: Signature) -> Signature {
    signature.named(
        "save",
        SyntaxShape::String,
        "Also save the session under this name (the first one saved becomes the default).",
        Some('s'),
    )
}

/// Adds `--timeout`, for commands that wait for a server.
fn with_timeout(signature: Signature) -> Signature {
    signature.named(
        "timeout",
        SyntaxShape::Duration,
        "How long to wait for an answer (default: 30sec, or $env.config.plugins.matrix.timeout).",
        Some('t'),
    )
}

/// `--limit`: at least 1 when given.
fn limit_flag(call: &nu_plugin::EvaluatedCall) -> Result<Option<u64>, nu_protocol::LabeledError> {
    match call.get_flag::<nu_protocol::Spanned<i64>>("limit")? {
        Some(limit) if limit.item < 1 => Err(nu_protocol::LabeledError::new(
            "The limit must be at least 1",
        )
        .with_label("not a positive number", limit.span)
        .with_help("e.g. --limit 20")),
        limit => Ok(limit.map(|limit| limit.item.unsigned_abs())),
    }
}

/// A table type with these columns.
fn table_of(columns: &[(&str, Type)]) -> Type {
    Type::Table(
        columns
            .iter()
            .map(|(name, ty)| ((*name).to_owned(), ty.clone()))
            .collect(),
    )
}

/// Adds `--txn-id`: what makes a send's retries safe (`matrix send`, `react`, `edit`,
/// `redact`).
fn with_txn_id(signature: Signature) -> Signature {
    signature.named(
        "txn-id",
        SyntaxShape::String,
        "The transaction ID: the same ID sends once (default: a fresh random one).",
        None,
    )
}

/// `x.pipe(f)` is `f(x)`: keeps a builder chain readable.
trait Pipe: Sized {
    fn pipe(self, f: impl FnOnce(Self) -> Self) -> Self {
        f(self)
    }
}

impl Pipe for Signature {}
