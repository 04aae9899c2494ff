use nu_plugin::{MsgPackSerializer, serve_plugin};
use nu_plugin_matrix::plugin::MatrixPlugin;

fn main() {
    serve_plugin(&MatrixPlugin::new(), MsgPackSerializer);
}
