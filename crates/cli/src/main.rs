//! The `nidus` command-line tool: see `nidus --help` and README.md.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use nidus_cli::args::UsageError;
use nidus_cli::commands;

fn main() -> ExitCode {
    let mut args = Vec::new();
    for arg in std::env::args_os().skip(1) {
        match arg.into_string() {
            Ok(a) => args.push(a),
            Err(raw) => {
                eprintln!("error: argument {raw:?} is not valid UTF-8");
                return ExitCode::from(2);
            }
        }
    }
    match commands::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

/// Prints an error and its causes to stderr; picks the exit code.
fn report(e: &anyhow::Error) -> ExitCode {
    // `nidus search ... | head` closes stdout early: that is not a failure.
    if e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    }) {
        return ExitCode::SUCCESS;
    }
    eprintln!("error: {e}");
    let mut previous = e.to_string();
    for cause in e.chain().skip(1) {
        // Some errors repeat their source's text in their own message:
        // print each piece of information once.
        let text = cause.to_string();
        if !previous.contains(&text) {
            eprintln!("  caused by: {text}");
        }
        previous = text;
    }
    match e.downcast_ref::<UsageError>() {
        Some(usage) => {
            match usage.command.and_then(commands::usage_of) {
                Some(line) => eprintln!(
                    "\nUsage: nidus {line}\nRun 'nidus {} --help' for more.",
                    usage.command.unwrap_or_default()
                ),
                None => eprintln!("\nRun 'nidus --help' for the commands."),
            }
            ExitCode::from(2)
        }
        None => ExitCode::FAILURE,
    }
}
