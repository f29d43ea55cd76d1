//! docs/operations.md stays true to `--help`: every flag and environment variable of the
//! service's commands is documented there.

mod common;

use common::process::{relay, run, stdout_of};

const OPERATIONS: &str = include_str!("../../../docs/operations.md");

/// Every `--flag` and `OPTOUT_RELAY_*` variable `--help` of `command` lists.
fn flags_and_variables(command: &[&str]) -> Vec<String> {
    let output = run(relay().args(command).arg("--help"));
    assert!(output.status.success());
    let help = stdout_of(&output);
    let mut found = Vec::new();
    for word in help.split(|c: char| c.is_whitespace() || c == '[' || c == ']' || c == ',') {
        let word = word.trim_end_matches(['=', '.', ':']);
        let flag = word.starts_with("--") && word.len() > 2;
        if (flag && word != "--help" && word != "--version") || word.starts_with("OPTOUT_RELAY_") {
            found.push(word.split('=').next().unwrap_or(word).to_owned());
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn every_flag_and_variable_of_the_service_commands_is_in_the_operations_guide() {
    let mut missing = Vec::new();
    for command in [
        &["serve"][..],
        &["worker"],
        &["migrate"],
        &["backup"],
        &["receive"],
    ] {
        let found = flags_and_variables(command);
        assert!(found.len() > 1, "no flags read from {command:?} --help");
        for name in found {
            if !OPERATIONS.contains(&format!("`{name}")) {
                missing.push(format!("{} {name}", command.join(" ")));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not in docs/operations.md: {missing:#?}"
    );
}
