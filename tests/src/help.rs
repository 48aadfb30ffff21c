//! Checks that `--help` shows what each option's clap definition says: its environment
//! variable and its default, for both binaries (used by `tests/tests/help.rs`).

/// Checks that each argument of `command` has an entry in `help` (clap's output) that shows
/// its environment variable and its default, and that every argument but those in `no_env`
/// has a variable; returns how many arguments were checked.
pub fn check_help(command: &clap::Command, help: &str, no_env: &[&str]) -> usize {
    let args: Vec<&clap::Arg> = command
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !["help", "version"].contains(&a.get_id().as_str()))
        .collect();
    for arg in &args {
        let id = arg.get_id().as_str();
        let entry = help_entry(help, arg).unwrap_or_else(|| panic!("{id}: not in --help:\n{help}"));
        match arg.get_env() {
            Some(env) => {
                let shown = format!("[env: {}=", env.to_string_lossy());
                assert!(entry.contains(&shown), "{id}: no {shown} in:\n{entry}");
            }
            None => assert!(no_env.contains(&id), "{id}: no environment variable"),
        }
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        if !defaults.is_empty() {
            let shown = format!("[default: {}]", defaults.join(" "));
            assert!(entry.contains(&shown), "{id}: no {shown} in:\n{entry}");
        }
    }
    args.len()
}

/// The entry of `arg` in clap's help: its heading line (`  -l, --listen <ADDR>`, `  [ADDR]`)
/// and the lines indented under it.
pub fn help_entry(help: &str, arg: &clap::Arg) -> Option<String> {
    let heading = |line: &str| {
        let text = line.trim_start();
        let text = text.split_once(", ").map_or(text, |(short, rest)| {
            if short.len() == 2 && short.starts_with('-') {
                rest
            } else {
                text
            }
        });
        match arg.get_long() {
            Some(long) => text
                .strip_prefix(&format!("--{long}"))
                .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric() || c == '-')),
            None => {
                let name = arg
                    .get_value_names()
                    .and_then(|n| n.first())
                    .map(|n| n.to_string());
                let name = name.unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
                text.starts_with(&format!("[{name}]")) || text.starts_with(&format!("<{name}>"))
            }
        }
    };
    let lines: Vec<&str> = help.lines().collect();
    let at = lines
        .iter()
        .position(|line| line.len() - line.trim_start().len() <= 6 && heading(line))?;
    let under = lines[at + 1..]
        .iter()
        .take_while(|line| line.trim().is_empty() || line.starts_with("          "))
        .count();
    Some(lines[at..=at + under].join("\n"))
}
