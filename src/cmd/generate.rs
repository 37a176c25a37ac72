//! `durable completions` and `durable man`: generated from the clap definitions in `cli.rs`, so
//! they cannot drift from the parser. The committed copies under `completions/` are checked by a
//! test.

use clap::CommandFactory;

use super::{Failure, print_stdout};
use crate::cli::{Cli, Shell};
use crate::exit::{EXIT_STATUS, Exit};

/// The completion script for `shell`.
pub fn completion(shell: Shell) -> String {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
        Shell::Elvish => clap_complete::Shell::Elvish,
        Shell::Powershell => clap_complete::Shell::PowerShell,
    };
    clap_complete::generate(shell, &mut cmd, "durable", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn print_completion(shell: Shell) -> Result<Exit, Failure> {
    print_stdout(&completion(shell))?;
    Ok(Exit::Success)
}

/// The man page of `durable`, or of one of its commands.
pub fn man_page(command: Option<&str>) -> String {
    let mut top = Cli::command();
    top.build();
    let cmd = match command.and_then(|name| top.find_subcommand(name)) {
        Some(sub) => sub.clone(),
        None => top.clone(),
    };
    // No date: the page must be reproducible for the freshness test.
    let man = clap_mangen::Man::new(cmd.clone())
        .date("")
        .source(format!("durable {}", env!("CARGO_PKG_VERSION")));
    let mut out = Vec::new();
    type Render = fn(&clap_mangen::Man, &mut dyn std::io::Write) -> std::io::Result<()>;
    let sections: [Render; 4] = [
        clap_mangen::Man::render_title,
        clap_mangen::Man::render_name_section,
        clap_mangen::Man::render_synopsis_section,
        clap_mangen::Man::render_description_section,
    ];
    for render in sections {
        // Writing into a Vec cannot fail.
        let _ = render(&man, &mut out);
    }
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        let _ = man.render_options_section(&mut out);
    }
    if cmd.has_subcommands() {
        let _ = man.render_subcommands_section(&mut out);
    }
    let mut text = String::from_utf8_lossy(&out).into_owned();
    if let Some(after) = cmd.get_after_help() {
        let after = after.to_string();
        if !after.starts_with("Exit status (the same") {
            text.push_str(&roff_section("EXAMPLES", &after));
        }
    }
    text.push_str(&roff_section("EXIT STATUS", EXIT_STATUS));
    text.push_str(&roff_section(
        "SEE ALSO",
        "durable(1), durable-save(1), durable-log(1), durable-recover(1), durable-completions(1), \
         durable-man(1); \
         docs/DURABILITY.md and docs/FORMAT.md in the source tree.",
    ));
    text
}

/// A man page section holding preformatted text.
fn roff_section(title: &str, body: &str) -> String {
    let mut out = format!(".SH \"{title}\"\n.nf\n");
    for line in body.lines() {
        let line = line.replace('\\', "\\e");
        if line.starts_with('.') || line.starts_with('\'') {
            out.push_str("\\&");
        }
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(".fi\n");
    out
}

pub(super) fn print_man_page(command: Option<&str>) -> Result<Exit, Failure> {
    print_stdout(&man_page(command))?;
    Ok(Exit::Success)
}
