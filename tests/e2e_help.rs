//! The plugin's commands as the real nu sees them: names, help, and examples that parse.

mod support;

use support::nu;

#[test]
fn every_plugin_command_has_examples_that_parse_in_real_nu() {
    let run = nu(r#"scope commands
        | where type == plugin and name starts-with 'matrix'
        | each {|c| {
            name: $c.name,
            examples: ($c.examples | length),
            errors: ($c.examples | each {|e| ast --json $e.example | get error } | where $it != 'null')
        }}
        | to json --raw"#);
    assert!(run.success, "{}", run.stderr);
    let commands: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    let commands = commands.as_array().expect("a list");
    let names: Vec<&str> = commands.iter().filter_map(|c| c["name"].as_str()).collect();
    for expected in [
        "matrix",
        "matrix login",
        "matrix token",
        "matrix token reveal",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for command in commands {
        assert!(
            command["examples"].as_u64() > Some(0),
            "no examples: {command}"
        );
        assert_eq!(
            command["errors"],
            serde_json::json!([]),
            "an example does not parse: {command}"
        );
    }
}

#[test]
fn matrix_alone_prints_the_help_of_its_subcommands() {
    let run = nu("matrix");
    assert!(run.success, "{}", run.stderr);
    assert!(
        run.stdout.contains("matrix login (plugin)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("matrix token reveal (plugin)"),
        "{}",
        run.stdout
    );
    // Nushell's own linear-algebra `matrix` commands stay listed and usable.
    assert!(run.stdout.contains("matrix multiply"), "{}", run.stdout);
    let algebra = nu("matrix identity 2 | matrix into-nu | to json --raw");
    assert!(algebra.success, "{}", algebra.stderr);
    assert_eq!(algebra.stdout.trim(), "[[1.0,0.0],[0.0,1.0]]");
}

#[test]
fn the_plugin_reports_the_nushell_version_it_was_built_for() {
    let run = nu("plugin list | where name == matrix | get 0.version");
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), env!("CARGO_PKG_VERSION"));
    assert!(run.stdout.trim().ends_with("+0.115.1"));
}

#[test]
fn matrix_config_shows_each_setting_in_effect_its_default_and_source() {
    let run = support::nu(
        "$env.config.plugins.matrix = {timeout: 20sec, device_name: 'ops bots', secrets: file, e2ee_share: verified, key_grace: 3sec, share_history: false}
        matrix config | update value {|row| $row.value | to nuon } | update default {|row| $row.default | to nuon } | to json --raw",
    );
    assert!(run.success, "{}", run.stderr);
    let rows: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    let row = |name: &str| {
        rows.as_array()
            .expect("a table")
            .iter()
            .find(|row| row["setting"] == name)
            .unwrap_or_else(|| panic!("no row {name}: {rows}"))
            .clone()
    };
    let timeout = row("timeout");
    assert_eq!(timeout["value"], "20000000000ns");
    assert_eq!(timeout["default"], "30000000000ns");
    assert_eq!(timeout["source"], "$env.config.plugins.matrix");
    let device = row("device_name");
    assert_eq!(device["value"], "\"ops bots\"");
    assert!(
        device["default"]
            .as_str()
            .unwrap_or_default()
            .contains("nu_plugin_matrix on ")
    );
    assert_eq!(row("allow_http")["source"], "default");
    assert_eq!(row("max_rate_limit_wait")["value"], "10000000000ns");
    let secrets = row("secrets");
    assert_eq!(secrets["value"], "\"file\"");
    assert_eq!(secrets["default"], "\"auto\"");
    assert_eq!(secrets["source"], "$env.config.plugins.matrix");
    let share = row("e2ee_share");
    assert_eq!(share["value"], "\"verified\"");
    assert_eq!(share["default"], "\"all\"");
    let grace = row("key_grace");
    assert_eq!(grace["value"], "3000000000ns");
    assert_eq!(grace["default"], "10000000000ns");
    let history = row("share_history");
    assert_eq!(history["value"], "false");
    assert_eq!(history["default"], "true");
    assert_eq!(rows.as_array().map(Vec::len), Some(11), "every setting");
}
