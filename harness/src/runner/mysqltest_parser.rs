//! Parser for mysql-tester `.test` files, following mysql-tester's current
//! rules:
//!
//! - Each line is trimmed. Blank lines are skipped; a line starting with `#`
//!   is a comment.
//! - A line starting with `--` is a command (`-- error 1146` works too: one
//!   space after `--` is skipped). The command name is the first word, ending
//!   at a space, `(` or the delimiter; an unknown name is an error.
//! - A line that starts a statement and whose first word is a command name
//!   (`connect`, `connection`, `let`, `echo`, ...) is that command.
//! - Other lines accumulate into a statement, joined with `\n`, which is cut
//!   at the last occurrence of the delimiter (`;` unless changed with
//!   `DELIMITER x` or `--delimiter x`). The cut is textual, not SQL-aware.

use std::path::{Path, PathBuf};

use super::error_names::code_for_name;
use super::result_filters::{parse_replace_column, parse_replace_regex, FilterError, RegexRule};

/// One parsed step with the 1-based line it starts on.
#[derive(Debug, Clone)]
pub struct Step {
    /// Line in the `.test` file.
    pub line: usize,
    /// The statement or directive.
    pub command: Command,
}

/// A statement or directive.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Command {
    /// A SQL statement.
    Statement {
        /// The text as written, lines joined with `\n`, delimiter included;
        /// this is what the query log echoes.
        text: String,
        /// The text without the delimiter; this is what is executed.
        sql: String,
    },
    /// `enable_query_log` (true) or `disable_query_log` (false).
    QueryLog(bool),
    /// `enable_result_log` / `disable_result_log`.
    ResultLog(bool),
    /// `enable_warnings` / `disable_warnings`.
    Warnings(bool),
    /// `enable_info` / `disable_info`.
    Info(bool),
    /// `sorted_result` for the next statement.
    SortedResult,
    /// `replace_column` pairs for the next statement.
    ReplaceColumn(Vec<(usize, String)>),
    /// `replace_regex` rules for the next statement.
    ReplaceRegex(Vec<RegexRule>),
    /// `error` list for the next statement.
    Error(ExpectedErrors),
    /// `echo` text, before `$var` expansion.
    Echo(String),
    /// `let $name = value`.
    Let {
        /// Variable name without `$`.
        name: String,
        /// Literal text or a query between backticks.
        value: LetValue,
    },
    /// `connect (name,host,user,password,db)`.
    Connect(ConnectArgs),
    /// `connection name`.
    Connection(String),
    /// `disconnect name`.
    Disconnect(String),
    /// `remove_file path`.
    RemoveFile(String),
    /// A command mysql-tester parses but does not run; it is logged and
    /// skipped.
    NotImplemented(String),
}

/// The codes an `--error` line accepts, in the order written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedErrors {
    /// Numeric codes; `0` means success is accepted.
    pub codes: Vec<u16>,
    /// The list as written, for messages.
    pub text: String,
}

/// The value of a `let`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LetValue {
    /// Text stored as is.
    Literal(String),
    /// A query whose first column of the first row is stored.
    Query(String),
}

/// Arguments of `connect`; missing ones are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectArgs {
    /// Connection name.
    pub name: String,
    /// Host, unused by targets that are not network servers.
    pub host: String,
    /// User.
    pub user: String,
    /// Password.
    pub password: String,
    /// Default database.
    pub database: String,
}

/// A parse error with its location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse error at {}:{line}: {kind}", file.display())]
pub struct ParseError {
    /// The problem.
    pub kind: ParseErrorKind,
    /// The `.test` file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
}

/// A problem in a `.test` file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// Occurs on `--name` where `name` is not a mysqltest command.
    #[error("found line beginning with -- that does not contain a valid mysqltest command: {0:?}")]
    UnknownCommand(String),
    /// Occurs when a statement is still open at a `--` command or at the
    /// end of the file.
    #[error("statement starting at line {start} is not terminated by the delimiter {delimiter:?}")]
    Unterminated {
        /// Line the statement starts on.
        start: usize,
        /// The delimiter in force.
        delimiter: String,
    },
    /// Occurs when a directive's arguments are invalid.
    #[error("{0}")]
    Filter(#[from] FilterError),
    /// Occurs on an `--error` item that is neither a number nor a known
    /// name.
    #[error("unknown error {0:?} in --error; use a numeric code or an ER_*/Err* name from the runner's table")]
    UnknownErrorName(String),
    /// Occurs when a directive needs an argument it does not have.
    #[error("{command} needs {what}")]
    MissingArgument {
        /// The directive.
        command: String,
        /// Description of the missing argument.
        what: &'static str,
    },
    /// Occurs on a command the runner deliberately rejects because
    /// skipping it would change the output.
    #[error("{0} is not supported by this runner")]
    Unsupported(String),
}

impl ParseErrorKind {
    fn at(self, file: &Path, line: usize) -> ParseError {
        ParseError {
            kind: self,
            file: file.to_path_buf(),
            line,
        }
    }
}

/// Command names from mysql-tester's command table. Names not
/// handled in [`command_from`] are parsed and skipped.
const COMMANDS: &[&str] = &[
    "append_file",
    "assert",
    "begin_concurrent",
    "cat_file",
    "change_user",
    "character_set",
    "chmod",
    "connect",
    "connection",
    "copy_file",
    "copy_files_wildcard",
    "dec",
    "delimiter",
    "die",
    "diff_files",
    "dirty_close",
    "disable_abort_on_error",
    "disable_connect_log",
    "disable_info",
    "disable_metadata",
    "disable_ps_protocol",
    "disable_query_log",
    "disable_reconnect",
    "disable_result_log",
    "disable_session_track_info",
    "disable_testcase",
    "disable_warnings",
    "disconnect",
    "echo",
    "enable_abort_on_error",
    "enable_connect_log",
    "enable_info",
    "enable_metadata",
    "enable_ps_protocol",
    "enable_query_log",
    "enable_reconnect",
    "enable_result_log",
    "enable_session_track_info",
    "enable_testcase",
    "enable_warnings",
    "end",
    "end_concurrent",
    "end_timer",
    "error",
    "eval",
    "exec",
    "exec_in_background",
    "execw",
    "exit",
    "expr",
    "file_exists",
    "horizontal_results",
    "if",
    "inc",
    "let",
    "list_files",
    "list_files_append_file",
    "list_files_write_file",
    "lowercase_result",
    "mkdir",
    "move_file",
    "output",
    "partially_sorted_result",
    "perl",
    "ping",
    "query",
    "query_attributes",
    "query_horizontal",
    "query_vertical",
    "real_sleep",
    "reap",
    "remove_file",
    "remove_files_wildcard",
    "replace_column",
    "replace_numeric_round",
    "replace_regex",
    "replace_result",
    "reset_connection",
    "result_format",
    "rmdir",
    "save_master_pos",
    "send",
    "send_eval",
    "send_quit",
    "send_shutdown",
    "shutdown_server",
    "single_query",
    "skip",
    "skip_if_hypergraph",
    "sleep",
    "sorted_result",
    "source",
    "start_timer",
    "sync_slave_with_master",
    "sync_with_master",
    "vertical_results",
    "wait_for_slave_to_stop",
    "wait_tiflash_replica_ready",
    "while",
    "write_file",
];

fn is_command(word: &str) -> bool {
    COMMANDS.contains(&word)
}

/// Parses the text of a `.test` file; `file` is used in error locations.
pub fn parse(text: &str, file: &Path) -> Result<Vec<Step>, ParseError> {
    let mut steps = Vec::new();
    let mut delimiter = ";".to_string();
    // The statement being accumulated: its first line and its text so far.
    let mut pending: Option<(usize, String)> = None;

    for (index, raw) in text.split('\n').enumerate() {
        let line_no = index + 1;
        let line = raw.trim();

        if line.is_empty() || line.starts_with('#') {
            continue;
        }

        // A `--` command; it may not interrupt an open statement.
        if let Some(rest) = line.strip_prefix("--") {
            if let Some((start, _)) = &pending {
                return Err(ParseErrorKind::Unterminated {
                    start: *start,
                    delimiter,
                }
                .at(file, line_no));
            }
            let rest = rest.strip_prefix(' ').unwrap_or(rest);
            let (word, args) = split_command(rest, &delimiter);
            if !is_command(&word) {
                return Err(ParseErrorKind::UnknownCommand(line.to_string()).at(file, line_no));
            }
            handle_command(&word, args, line_no, &mut delimiter, &mut steps)
                .map_err(|kind| kind.at(file, line_no))?;
            continue;
        }

        // A bare command word at the start of a statement.
        if pending.is_none() {
            let (word, args) = split_command(line, &delimiter);
            if is_command(&word) {
                let args = args
                    .strip_suffix(delimiter.as_str())
                    .unwrap_or(args)
                    .trim_end();
                handle_command(&word, args, line_no, &mut delimiter, &mut steps)
                    .map_err(|kind| kind.at(file, line_no))?;
                continue;
            }
        }

        // SQL text: accumulate, then cut at the last delimiter.
        let (start, mut buffer) = pending.take().unwrap_or((line_no, String::new()));
        if !buffer.is_empty() {
            buffer.push('\n');
        }
        buffer.push_str(line);

        match buffer.rfind(delimiter.as_str()) {
            Some(position) => {
                let end = position + delimiter.len();
                let text = buffer[..end].to_string();
                let sql = buffer[..position].trim_end().to_string();
                steps.push(Step {
                    line: start,
                    command: Command::Statement { text, sql },
                });

                let remainder = buffer[end..].trim();
                if !remainder.is_empty() {
                    pending = Some((line_no, remainder.to_string()));
                }
            }
            None => pending = Some((start, buffer)),
        }
    }

    if let Some((start, _)) = pending {
        return Err(ParseErrorKind::Unterminated { start, delimiter }.at(file, start));
    }
    Ok(steps)
}

/// Splits `text` into the lower-cased command word and the trimmed rest.
/// The word ends at whitespace, `(` or the delimiter.
fn split_command<'a>(text: &'a str, delimiter: &str) -> (String, &'a str) {
    let mut end = text.len();
    for (position, c) in text.char_indices() {
        if c.is_whitespace() || c == '(' || text[position..].starts_with(delimiter) {
            end = position;
            break;
        }
    }
    (text[..end].to_ascii_lowercase(), text[end..].trim())
}

/// Turns one command into a step, or updates the delimiter.
fn handle_command(
    word: &str,
    args: &str,
    line: usize,
    delimiter: &mut String,
    steps: &mut Vec<Step>,
) -> Result<(), ParseErrorKind> {
    if word == "delimiter" {
        let new = args
            .split_whitespace()
            .next()
            .ok_or(ParseErrorKind::MissingArgument {
                command: word.to_string(),
                what: "the new delimiter",
            })?;
        *delimiter = new.to_string();
        return Ok(());
    }

    let command = command_from(word, args, delimiter)?;
    steps.push(Step { line, command });
    Ok(())
}

/// Builds the command for `word` with its arguments.
fn command_from(word: &str, args: &str, delimiter: &str) -> Result<Command, ParseErrorKind> {
    let missing = |what| ParseErrorKind::MissingArgument {
        command: word.to_string(),
        what,
    };
    // mysql-tester drops one trailing `;` from these arguments in both forms.
    let strip_semicolon = |text: &str| text.strip_suffix(';').unwrap_or(text).trim().to_string();

    let command = match word {
        "enable_query_log" => Command::QueryLog(true),
        "disable_query_log" => Command::QueryLog(false),
        "enable_result_log" => Command::ResultLog(true),
        "disable_result_log" => Command::ResultLog(false),
        "enable_warnings" => Command::Warnings(true),
        "disable_warnings" => Command::Warnings(false),
        "enable_info" => Command::Info(true),
        "disable_info" => Command::Info(false),
        "sorted_result" => Command::SortedResult,
        "replace_column" => Command::ReplaceColumn(parse_replace_column(args)?),
        "replace_regex" => Command::ReplaceRegex(parse_replace_regex(args)?),
        "error" => Command::Error(parse_expected_errors(args)?),
        "echo" => Command::Echo(args.to_string()),
        "let" => {
            parse_let(&strip_semicolon(args), delimiter).ok_or_else(|| missing("$name = value"))?
        }
        "connect" => Command::Connect(
            parse_connect(&strip_semicolon(args))
                .ok_or_else(|| missing("(name,host,user,password,db)"))?,
        ),
        "connection" | "disconnect" => {
            let name = strip_semicolon(args);
            if name.is_empty() {
                return Err(missing("a connection name"));
            }
            if word == "connection" {
                Command::Connection(name)
            } else {
                Command::Disconnect(name)
            }
        }
        "remove_file" => {
            if args.is_empty() {
                return Err(missing("a file path"));
            }
            Command::RemoveFile(args.to_string())
        }
        "begin_concurrent" | "end_concurrent" => {
            return Err(ParseErrorKind::Unsupported(word.to_string()))
        }
        other => Command::NotImplemented(other.to_string()),
    };
    Ok(command)
}

/// Parses `--error` items: numbers or names, comma-separated.
fn parse_expected_errors(args: &str) -> Result<ExpectedErrors, ParseErrorKind> {
    let mut codes = Vec::new();
    for item in args.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(ParseErrorKind::MissingArgument {
                command: "error".to_string(),
                what: "an error code or name",
            });
        }
        let code = match item.parse::<u16>() {
            Ok(code) => code,
            Err(_) => code_for_name(item)
                .ok_or_else(|| ParseErrorKind::UnknownErrorName(item.to_string()))?,
        };
        codes.push(code);
    }
    Ok(ExpectedErrors {
        codes,
        text: args.to_string(),
    })
}

/// Parses `$name = value` or `` $name = `query` ``.
fn parse_let(args: &str, delimiter: &str) -> Option<Command> {
    let rest = args.strip_prefix('$')?;
    let (name, value) = rest.split_once('=')?;
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    let value = value.trim();
    let value = value.strip_suffix(delimiter).unwrap_or(value).trim();

    let value = match value.strip_prefix('`').and_then(|v| v.strip_suffix('`')) {
        Some(query) => LetValue::Query(query.to_string()),
        None => LetValue::Literal(value.to_string()),
    };
    Some(Command::Let {
        name: name.to_string(),
        value,
    })
}

/// Parses `(name,host,user,password,db)`.
fn parse_connect(args: &str) -> Option<ConnectArgs> {
    let inner = args.strip_prefix('(')?.strip_suffix(')')?;
    let mut parts = inner.split(',').map(|part| part.trim().to_string());
    let mut next = || parts.next().unwrap_or_default();
    let connect = ConnectArgs {
        name: next(),
        host: next(),
        user: next(),
        password: next(),
        database: next(),
    };
    if connect.name.is_empty() {
        return None;
    }
    Some(connect)
}

/// Parses a file from disk.
pub fn parse_file(path: &Path) -> Result<Vec<Step>, ParseFileError> {
    let text = std::fs::read_to_string(path).map_err(|cause| ParseFileError::Io {
        path: path.to_path_buf(),
        cause,
    })?;
    Ok(parse(&text, path)?)
}

/// Errors from [`parse_file`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseFileError {
    /// Occurs when the file cannot be read.
    #[error("cannot read {}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// Occurs when the file does not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Vec<Step> {
        parse(text, Path::new("t/x.test")).unwrap()
    }

    fn statement(step: &Step) -> (&str, &str) {
        match &step.command {
            Command::Statement { text, sql } => (text, sql),
            other => panic!("expected a statement, got {other:?}"),
        }
    }

    #[test]
    fn multi_line_statement_is_joined_and_trimmed() {
        let steps = parse_ok("  select a,\n\n   b from t ;  \n");
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].line, 1);
        assert_eq!(
            statement(&steps[0]),
            ("select a,\nb from t ;", "select a,\nb from t")
        );
    }

    #[test]
    fn comments_and_commands() {
        let text = "# comment\n--error 1146\nselect * from nope;\n-- error ER_PARSE_ERROR, 1064\nselec;\n--echo hi there\n--sorted_result\nselect 1;\n";
        let steps = parse_ok(text);
        assert_eq!(steps.len(), 7);
        match &steps[0].command {
            Command::Error(expected) => assert_eq!(expected.codes, [1146]),
            other => panic!("{other:?}"),
        }
        assert_eq!(steps[0].line, 2);
        match &steps[2].command {
            Command::Error(expected) => assert_eq!(expected.codes, [1064, 1064]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(&steps[4].command, Command::Echo(text) if text == "hi there"));
        assert!(matches!(steps[5].command, Command::SortedResult));
        assert_eq!(statement(&steps[6]), ("select 1;", "select 1"));
    }

    #[test]
    fn bare_command_words() {
        let steps = parse_ok("connect (c1,localhost,u1,pw,db1);\nconnection c1;\nlet $v = `select 1`;\necho $v done;\ndisconnect c1;\n");
        match &steps[0].command {
            Command::Connect(args) => assert_eq!(
                args,
                &ConnectArgs {
                    name: "c1".into(),
                    host: "localhost".into(),
                    user: "u1".into(),
                    password: "pw".into(),
                    database: "db1".into()
                }
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(&steps[1].command, Command::Connection(name) if name == "c1"));
        assert!(
            matches!(&steps[2].command, Command::Let { name, value: LetValue::Query(q) } if name == "v" && q == "select 1")
        );
        assert!(matches!(&steps[3].command, Command::Echo(text) if text == "$v done"));
        assert!(matches!(&steps[4].command, Command::Disconnect(name) if name == "c1"));
    }

    #[test]
    fn connect_with_missing_arguments() {
        let steps = parse_ok("connect (c2,,root,,);\n");
        match &steps[0].command {
            Command::Connect(args) => {
                assert_eq!(args.name, "c2");
                assert_eq!(args.user, "root");
                assert_eq!(args.database, "");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn delimiter_changes_the_cut() {
        let steps = parse_ok(
            "DELIMITER //\ncreate procedure p()\nbegin\nselect 1;\nend//\nDELIMITER ;\nselect 2;\n",
        );
        assert_eq!(steps.len(), 2);
        assert_eq!(
            statement(&steps[0]),
            (
                "create procedure p()\nbegin\nselect 1;\nend//",
                "create procedure p()\nbegin\nselect 1;\nend"
            )
        );
        assert_eq!(statement(&steps[1]), ("select 2;", "select 2"));
    }

    #[test]
    fn cut_at_last_delimiter() {
        let steps = parse_ok("select 1; select 2;\nselect 3; select\n4;\n");
        assert_eq!(statement(&steps[0]).0, "select 1; select 2;");
        assert_eq!(statement(&steps[1]).0, "select 3;");
        assert_eq!(statement(&steps[2]).0, "select\n4;");
        assert_eq!(steps[2].line, 2);
    }

    #[test]
    fn not_implemented_commands_are_kept() {
        let steps = parse_ok("--source include/x.inc\n--sleep 1\nselect 1;\n");
        assert!(matches!(&steps[0].command, Command::NotImplemented(name) if name == "source"));
        assert!(matches!(&steps[1].command, Command::NotImplemented(name) if name == "sleep"));
    }

    #[test]
    fn errors_carry_location() {
        let err = parse("select 1;\n--frobnicate\n", Path::new("t/x.test")).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(matches!(err.kind, ParseErrorKind::UnknownCommand(_)));
        assert!(
            err.to_string().starts_with("parse error at t/x.test:2: "),
            "{err}"
        );

        let err = parse("select 1\n--echo x\n", Path::new("t/x.test")).unwrap_err();
        assert_eq!(
            err.kind,
            ParseErrorKind::Unterminated {
                start: 1,
                delimiter: ";".into()
            }
        );

        let err = parse("select 1\n", Path::new("t/x.test")).unwrap_err();
        assert!(matches!(err.kind, ParseErrorKind::Unterminated { .. }));

        let err = parse("--error ER_NOPE\nselect 1;\n", Path::new("t/x.test")).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::UnknownErrorName("ER_NOPE".into()));

        let err = parse("--replace_regex /a/\n", Path::new("t/x.test")).unwrap_err();
        assert!(matches!(err.kind, ParseErrorKind::Filter(_)));

        let err = parse("--begin_concurrent\n", Path::new("t/x.test")).unwrap_err();
        assert!(matches!(err.kind, ParseErrorKind::Unsupported(_)));
    }
}
