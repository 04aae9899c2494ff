//! The `nu_plugin_matrix` binary: serves the plugin to Nushell (everything else is in the library).

use nu_plugin::{MsgPackSerializer, serve_plugin};
use nu_plugin_matrix::plugin::MatrixPlugin;

fn main() {
    serve_plugin(&MatrixPlugin::new(), MsgPackSerializer);
}
