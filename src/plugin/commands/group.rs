use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Signature, Type, Value};

use crate::plugin::MatrixPlugin;

/// A command that only groups others (`matrix`, `matrix token`, ...): alone, it prints the help
/// that lists them.
pub struct Group {
    name: &'static str,
    description: &'static str,
    extra_description: &'static str,
    search_terms: &'static [&'static str],
    /// The example: the group's help, checked to list one of its commands.
    example: &'static str,
}

/// `matrix`.
pub const MATRIX: Group = Group {
    name: "matrix",
    description: "Matrix chat: log in to a homeserver, keep access tokens masked until you reveal them, and use them.",
    extra_description: "Run `matrix login --help` to start. Tokens display masked everywhere; \
        `matrix token reveal` is the one way to the plaintext. With a session: `matrix api` \
        calls any endpoint, `matrix send` and `matrix messages` talk in rooms.\n\n\
        Subcommands marked (plugin) come from nu_plugin_matrix. The others (matrix add, \
        matrix multiply, ...) are Nushell's own linear-algebra commands, which share the name \
        and keep working as before.",
    search_terms: &["chat", "synapse", "homeserver", "access token"],
    example: "(matrix) =~ 'matrix login'",
};

/// `matrix token`.
pub const TOKEN: Group = Group {
    name: "matrix token",
    description: "Commands for Matrix token values.",
    extra_description: "",
    search_terms: &[],
    example: "(matrix token) =~ 'matrix token reveal'",
};

/// `matrix session`.
pub const SESSION: Group = Group {
    name: "matrix session",
    description: "Saved sessions: keep tokens for later commands, pick a default.",
    extra_description: "Sessions are saved in one file, \
        $XDG_CONFIG_HOME/nu_plugin_matrix/sessions.json (~/.config/nu_plugin_matrix/sessions.json \
        by default), created with mode 0600. The tokens go to the system keyring or into that file, \
        as the `secrets` setting says (`matrix config`); in the file they are plain text: guard \
        it like a password file.",
    search_terms: &[],
    example: "(matrix session) =~ 'matrix session list'",
};

/// `matrix admin`.
pub const ADMIN: Group = Group {
    name: "matrix admin",
    description: "Server-admin commands: Synapse's admin API, and MAS's where MAS runs the accounts.",
    extra_description: "`matrix admin login-as` uses Synapse's admin API (or MAS's, on a server \
        run by MAS); `matrix admin session`, `token`, `tokens` and `revoke` use MAS's admin API.",
    search_terms: &[],
    example: "(matrix admin) =~ 'matrix admin login-as'",
};

/// `matrix e2ee`.
pub const E2EE: Group = Group {
    name: "matrix e2ee",
    description: "End-to-end encryption: the saved session's device, its keys and its crypto store.",
    extra_description: "A saved session's device encrypts and decrypts by itself when it meets an \
        encrypted room (`matrix send`, `matrix listen`, `matrix messages`); its keys are kept in \
        a crypto store under $XDG_DATA_HOME/nu_plugin_matrix/crypto, encrypted with a random \
        key that is kept with the session's tokens. `matrix e2ee status` shows the device.",
    search_terms: &["encryption", "olm", "megolm", "crypto"],
    example: "(matrix e2ee) =~ 'matrix e2ee status'",
};

impl SimplePluginCommand for Group {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        self.name
    }

    fn description(&self) -> &str {
        self.description
    }

    fn extra_description(&self) -> &str {
        self.extra_description
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_type(Type::Nothing, Type::String)
            .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        self.search_terms.to_vec()
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: self.example,
            description: "The help of this group lists its commands",
            result: Some(Value::test_bool(true)),
        }]
    }

    fn run(
        &self,
        _plugin: &MatrixPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        _input: &Value,
    ) -> Result<Value, LabeledError> {
        Ok(Value::string(engine.get_help()?, call.head))
    }
}
