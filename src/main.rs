//! The `nu_plugin_matrix` binary: serves the plugin to Nushell (everything else is in the library).

use nu_plugin::{MsgPackSerializer, serve_plugin};
use nu_plugin_matrix::plugin::MatrixPlugin;

fn main() {
    let plugin = MatrixPlugin::new();
    plugin.watch_for_orphaning();
    serve_plugin(&plugin, MsgPackSerializer);
}
