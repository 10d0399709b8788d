//! A small command-line parser: subcommands, positional arguments,
//! `--flag value` and `--flag=value`, repeated flags, `--help` and
//! `--version`.
//!
//! Written here because the CLI's only runtime dependency is `anyhow`.
//! Every mistake becomes a [`UsageError`] (exit code 2) whose message names
//! the offending argument and, for an unknown flag, the valid ones.

use std::fmt;
use std::str::FromStr;

/// A mistake in how the tool was called (exit code 2), as opposed to a
/// failure while doing the work (exit code 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    /// What is wrong, naming the argument at fault.
    pub message: String,
    /// The subcommand whose usage line should be shown, if known.
    pub command: Option<&'static str>,
}

impl UsageError {
    /// A usage error about `command` (or about the tool as a whole).
    pub fn new(message: impl Into<String>, command: Option<&'static str>) -> Self {
        UsageError {
            message: message.into(),
            command,
        }
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UsageError {}

/// One flag a subcommand accepts.
#[derive(Debug, Clone, Copy)]
pub struct FlagSpec {
    /// The name without the leading dashes (`"k"` for `--k`).
    pub name: &'static str,
    /// The placeholder of the flag's value (`"K"`), or `None` for a switch
    /// that takes no value.
    pub value: Option<&'static str>,
    /// Whether the flag may be given more than once.
    pub repeat: bool,
}

impl FlagSpec {
    /// A flag taking one value, at most once.
    pub const fn value(name: &'static str, placeholder: &'static str) -> Self {
        FlagSpec {
            name,
            value: Some(placeholder),
            repeat: false,
        }
    }

    /// A flag taking one value, any number of times.
    pub const fn repeated(name: &'static str, placeholder: &'static str) -> Self {
        FlagSpec {
            name,
            value: Some(placeholder),
            repeat: true,
        }
    }

    /// A switch without value.
    pub const fn switch(name: &'static str) -> Self {
        FlagSpec {
            name,
            value: None,
            repeat: false,
        }
    }
}

/// The interface of one subcommand.
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    /// The subcommand's name (`"search"`).
    pub name: &'static str,
    /// One line for the overview.
    pub summary: &'static str,
    /// The usage line(s), without the leading `nidus `.
    pub usage: &'static str,
    /// The rest of the help text: what it does, flags, output.
    pub help: &'static str,
    /// The flags it accepts (besides `--help`).
    pub flags: &'static [FlagSpec],
    /// The fewest positional arguments it accepts.
    pub min_positionals: usize,
    /// The most positional arguments it accepts (`None`: unbounded).
    pub max_positionals: Option<usize>,
}

impl CommandSpec {
    /// The full `--help` text of this subcommand.
    pub fn help_text(&self) -> String {
        format!(
            "{}\n\nUsage: nidus {}\n\n{}",
            self.summary,
            self.usage,
            self.help.trim_end()
        )
    }

    fn flag(&self, name: &str) -> Option<&FlagSpec> {
        self.flags.iter().find(|f| f.name == name)
    }

    fn valid_flags(&self) -> String {
        let mut names: Vec<String> = self.flags.iter().map(|f| format!("--{}", f.name)).collect();
        names.push("--help".to_owned());
        names.join(", ")
    }
}

/// The flags and positionals of one invocation, checked against its spec.
#[derive(Debug, Clone, Default)]
pub struct Matches {
    /// Positional arguments, in order.
    pub positionals: Vec<String>,
    values: Vec<(&'static str, String)>,
    switches: Vec<&'static str>,
    command: &'static str,
}

impl Matches {
    /// The value of a single-valued flag, if given.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a (repeatable) flag, in command-line order.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether a switch was given.
    pub fn switch(&self, name: &str) -> bool {
        self.switches.contains(&name)
    }

    /// The value of a flag parsed as `T`; a value that does not parse is a
    /// usage error naming the flag and the value.
    pub fn parsed<T>(&self, name: &str) -> Result<Option<T>, UsageError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.value(name) {
            None => Ok(None),
            Some(text) => text.parse::<T>().map(Some).map_err(|e| {
                UsageError::new(
                    format!("invalid value '{text}' for --{name}: {e}"),
                    Some(self.command),
                )
            }),
        }
    }

    /// Like [`Matches::parsed`] with a default for an absent flag.
    pub fn parsed_or<T>(&self, name: &str, default: T) -> Result<T, UsageError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        Ok(self.parsed(name)?.unwrap_or(default))
    }

    /// A usage error about this invocation's subcommand.
    pub fn usage_error(&self, message: impl Into<String>) -> UsageError {
        UsageError::new(message, Some(self.command))
    }
}

/// What the command line asks for.
#[derive(Debug, Clone)]
pub enum Invocation {
    /// Print this help text to stdout and exit 0.
    Help(String),
    /// Print the version and exit 0.
    Version,
    /// Run a subcommand.
    Run {
        /// The subcommand's spec.
        command: &'static CommandSpec,
        /// Its arguments.
        matches: Matches,
    },
}

/// Parses `args` (without the program name) against `commands`.
/// `overview` is the top-level help text (`nidus --help`).
pub fn parse(
    args: &[String],
    commands: &'static [CommandSpec],
    overview: &str,
) -> Result<Invocation, UsageError> {
    let Some(first) = args.first() else {
        return Err(UsageError::new("no command given", None));
    };
    match first.as_str() {
        "-h" | "--help" => return Ok(Invocation::Help(overview.to_owned())),
        "-V" | "--version" => return Ok(Invocation::Version),
        "help" => {
            return match args.get(1) {
                None => Ok(Invocation::Help(overview.to_owned())),
                Some(name) => Ok(Invocation::Help(find_command(commands, name)?.help_text())),
            };
        }
        _ => {}
    }
    if first.starts_with('-') {
        return Err(UsageError::new(
            format!(
                "expected a command before '{first}'; commands: {}",
                command_names(commands)
            ),
            None,
        ));
    }
    let command = find_command(commands, first)?;
    parse_command(command, &args[1..])
}

fn command_names(commands: &[CommandSpec]) -> String {
    commands
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn find_command(
    commands: &'static [CommandSpec],
    name: &str,
) -> Result<&'static CommandSpec, UsageError> {
    commands.iter().find(|c| c.name == name).ok_or_else(|| {
        UsageError::new(
            format!(
                "unknown command '{name}'; commands: {}",
                command_names(commands)
            ),
            None,
        )
    })
}

fn parse_command(command: &'static CommandSpec, args: &[String]) -> Result<Invocation, UsageError> {
    let err = |message: String| UsageError::new(message, Some(command.name));
    let mut matches = Matches {
        command: command.name,
        ..Matches::default()
    };
    let mut only_positionals = false;
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if only_positionals || !arg.starts_with("--") {
            // A lone "-" (stdin/stdout) or a negative number is positional;
            // short options other than -h are not part of this interface.
            if !only_positionals && (arg == "-h") {
                return Ok(Invocation::Help(command.help_text()));
            }
            matches.positionals.push(arg.clone());
            continue;
        }
        if arg == "--" {
            only_positionals = true;
            continue;
        }
        let body = &arg[2..];
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        if name == "help" {
            return Ok(Invocation::Help(command.help_text()));
        }
        let Some(spec) = command.flag(name) else {
            return Err(err(format!(
                "unknown flag '--{name}' for 'nidus {}'; valid flags: {}",
                command.name,
                command.valid_flags()
            )));
        };
        let seen = matches.values.iter().any(|(n, _)| *n == spec.name)
            || matches.switches.contains(&spec.name);
        if seen && !spec.repeat {
            return Err(err(format!("--{name} given more than once")));
        }
        match spec.value {
            None => {
                if inline.is_some() {
                    return Err(err(format!("--{name} takes no value")));
                }
                matches.switches.push(spec.name);
            }
            Some(placeholder) => {
                let value = match inline {
                    Some(v) => v.to_owned(),
                    None => {
                        let Some(v) = args.get(i) else {
                            return Err(err(format!("--{name} needs a value ({placeholder})")));
                        };
                        i += 1;
                        v.clone()
                    }
                };
                matches.values.push((spec.name, value));
            }
        }
    }
    let n = matches.positionals.len();
    if n < command.min_positionals {
        return Err(err(format!(
            "missing argument(s): 'nidus {}' expects {}",
            command.name, command.usage
        )));
    }
    if let Some(max) = command.max_positionals
        && n > max
    {
        return Err(err(format!(
            "unexpected argument '{}'",
            matches.positionals[max]
        )));
    }
    Ok(Invocation::Run { command, matches })
}

#[cfg(test)]
mod tests {
    use super::*;

    static COMMANDS: &[CommandSpec] = &[
        CommandSpec {
            name: "search",
            summary: "Search.",
            usage: "search STORE [--k K] [--collection NAME]... [--attrs]",
            help: "Flags: ...",
            flags: &[
                FlagSpec::value("k", "K"),
                FlagSpec::repeated("collection", "NAME"),
                FlagSpec::switch("attrs"),
                FlagSpec::value("min-score", "S"),
            ],
            min_positionals: 1,
            max_positionals: Some(1),
        },
        CommandSpec {
            name: "delete",
            summary: "Delete.",
            usage: "delete STORE ID...",
            help: "",
            flags: &[],
            min_positionals: 1,
            max_positionals: None,
        },
    ];

    fn run(args: &[&str]) -> Result<Invocation, UsageError> {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        parse(&args, COMMANDS, "overview")
    }

    fn matches(args: &[&str]) -> Matches {
        match run(args).unwrap() {
            Invocation::Run { matches, .. } => matches,
            other => panic!("expected a run, got {other:?}"),
        }
    }

    #[test]
    fn values_in_both_spellings_and_repeats() {
        let m = matches(&[
            "search",
            "st",
            "--k=5",
            "--collection",
            "a",
            "--collection=b",
            "--attrs",
            "--min-score",
            "-0.5",
        ]);
        assert_eq!(m.positionals, ["st"]);
        assert_eq!(m.parsed::<usize>("k").unwrap(), Some(5));
        assert_eq!(m.values("collection"), ["a", "b"]);
        assert!(m.switch("attrs"));
        assert_eq!(m.parsed::<f32>("min-score").unwrap(), Some(-0.5));
        assert_eq!(m.value("missing"), None);
        assert_eq!(m.parsed_or("missing", 7usize).unwrap(), 7);
    }

    #[test]
    fn unknown_flag_names_it_and_the_valid_ones() {
        let e = run(&["search", "st", "--kk", "3"]).unwrap_err();
        assert!(e.message.contains("'--kk'"), "{e}");
        assert!(
            e.message
                .contains("--k, --collection, --attrs, --min-score, --help"),
            "{e}"
        );
        assert_eq!(e.command, Some("search"));
    }

    #[test]
    fn unknown_command_lists_commands() {
        let e = run(&["serch"]).unwrap_err();
        assert!(e.message.contains("'serch'") && e.message.contains("search, delete"));
        assert!(run(&[]).is_err());
        assert!(run(&["--k"]).is_err());
    }

    #[test]
    fn help_and_version_everywhere() {
        assert!(matches!(run(&["--help"]).unwrap(), Invocation::Help(t) if t == "overview"));
        assert!(matches!(run(&["help"]).unwrap(), Invocation::Help(t) if t == "overview"));
        assert!(matches!(run(&["--version"]).unwrap(), Invocation::Version));
        assert!(matches!(run(&["-V"]).unwrap(), Invocation::Version));
        for args in [
            &["search", "--help"][..],
            &["search", "st", "--kk", "--help"][..],
            &["help", "search"][..],
            &["search", "-h"][..],
        ] {
            match run(args) {
                // An unknown flag before --help is still reported: the
                // parser stops at the first mistake.
                Err(e) => assert!(e.message.contains("--kk")),
                Ok(Invocation::Help(text)) => {
                    assert!(text.contains("Usage: nidus search STORE"), "{text}")
                }
                Ok(other) => panic!("{other:?}"),
            }
        }
        assert!(run(&["help", "nope"]).is_err());
    }

    #[test]
    fn value_problems_are_usage_errors() {
        let e = run(&["search", "st", "--k"]).unwrap_err();
        assert!(e.message.contains("--k needs a value (K)"), "{e}");
        let e = run(&["search", "st", "--k", "1", "--k", "2"]).unwrap_err();
        assert!(e.message.contains("more than once"), "{e}");
        let e = run(&["search", "st", "--attrs=yes"]).unwrap_err();
        assert!(e.message.contains("takes no value"), "{e}");
        let m = matches(&["search", "st", "--k", "ten"]);
        let e = m.parsed::<usize>("k").unwrap_err();
        assert!(
            e.message.contains("'ten'") && e.message.contains("--k"),
            "{e}"
        );
    }

    #[test]
    fn positional_counts_and_double_dash() {
        assert!(
            run(&["search"])
                .unwrap_err()
                .message
                .contains("missing argument")
        );
        assert!(
            run(&["search", "a", "b"])
                .unwrap_err()
                .message
                .contains("unexpected argument 'b'")
        );
        let m = matches(&["delete", "st", "--", "--odd-id", "-x"]);
        assert_eq!(m.positionals, ["st", "--odd-id", "-x"]);
        let m = matches(&["delete", "st", "1", "2", "3"]);
        assert_eq!(m.positionals.len(), 4);
    }
}
