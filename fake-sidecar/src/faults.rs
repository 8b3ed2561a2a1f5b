//! Process-level fault scripts (`--faults FILE`, docs/faults.md): faults in
//! startup and in the framing of responses, which the model spec's faults
//! cannot express because they act above the model.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

/// Largest delay a fault may ask for, in milliseconds (one hour).
pub const MAX_DELAY_MS: u64 = 3_600_000;

/// Readiness behaviour between binding the socket and serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Readiness {
    /// Print the readiness line, then serve.
    #[default]
    Print,
    /// Never print it; serve anyway until a signal stops the process.
    Never,
    /// Print it, then exit at once with the given status.
    ThenExit(u8),
    /// Exit with the given status before printing it.
    ExitBefore(u8),
}

/// Startup faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Startup {
    /// Sleep this long before the readiness line.
    pub ready_delay: Duration,
    /// Whether and how readiness is announced.
    pub readiness: Readiness,
}

/// The effect of a matching rule on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Sleep, then respond normally.
    Delay(Duration),
    /// Never respond. The connection stays open until shutdown or kill.
    Hang,
    /// Close the connection without a response.
    Close,
    /// Send only the 16-byte preamble of the response, then close.
    PreambleOnly,
    /// Send the response without its last `cut_bytes` bytes (default: half
    /// the frame, at least 1), then close.
    Truncate { cut_bytes: Option<u32> },
    /// Send the response with the magic `TMSQ`.
    BadMagic,
    /// Send the response with this version field.
    BadVersion(u16),
    /// Send a preamble whose `header_len` is one above the announced limit.
    HeaderTooLarge,
    /// Send a preamble whose `payload_len` is 4 above the announced limit.
    PayloadTooLarge,
    /// Send the response with this id, or the request id + 1 when unset.
    WrongId(Option<u64>),
    /// Send the response twice.
    Duplicate,
    /// Exit the process at once with this status, without a response.
    Exit(u8),
}

/// One rule: conditions on the request and the action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// 1-based index of the request among all requests the process received.
    pub request: Option<u64>,
    /// Request op.
    pub op: Option<String>,
    /// The effect.
    pub action: Action,
}

impl Rule {
    fn matches(&self, index: u64, op: Option<&str>) -> bool {
        let index_ok = self.request.is_none_or(|wanted| wanted == index);
        let op_ok = match &self.op {
            None => true,
            Some(wanted) => op == Some(wanted.as_str()),
        };
        index_ok && op_ok
    }
}

/// A parsed fault script.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FaultScript {
    /// Startup faults.
    pub startup: Startup,
    /// Request rules; the first that matches applies.
    pub rules: Vec<Rule>,
}

impl FaultScript {
    /// Returns the action for the `index`-th request of the process, whose
    /// header op is `op` (`None` when the header has no readable op).
    pub fn action_for(&self, index: u64, op: Option<&str>) -> Option<Action> {
        self.rules
            .iter()
            .find(|rule| rule.matches(index, op))
            .map(|rule| rule.action)
    }
}

/// An invalid fault file; the message names the file, the rule and the field.
#[derive(Debug, thiserror::Error)]
#[error("invalid fault file {}: {location}: {message}", path.display())]
pub struct FaultFileError {
    /// The file.
    pub path: PathBuf,
    /// `rules[2] field "delay_ms"`, `startup field "ready"`, or `file`.
    pub location: String,
    /// The problem and the accepted values.
    pub message: String,
}

const OPS: [&str; 4] = ["ping", "load", "predict", "shutdown"];
const ACTIONS: [&str; 12] = [
    "delay",
    "hang",
    "close",
    "preamble_only",
    "truncate",
    "bad_magic",
    "bad_version",
    "header_too_large",
    "payload_too_large",
    "wrong_id",
    "duplicate",
    "exit",
];

/// Reads and validates a fault file.
pub fn load(path: &Path) -> Result<FaultScript, FaultFileError> {
    let fail = |location: &str, message: String| FaultFileError {
        path: path.to_owned(),
        location: location.to_owned(),
        message,
    };

    // Fault files are small; a limit keeps a wrong path (a device, a huge
    // file) from being read whole.
    const MAX_FILE_BYTES: u64 = 1 << 20;
    let size = std::fs::metadata(path)
        .map_err(|err| fail("file", format!("cannot read it: {err}")))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(fail(
            "file",
            format!("it is {size} bytes, over the limit of {MAX_FILE_BYTES}"),
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|err| fail("file", format!("cannot read it: {err}")))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|err| fail("file", format!("not valid JSON: {err}")))?;
    parse(&value).map_err(|(location, message)| fail(&location, message))
}

type ParseError = (String, String);

/// Validates a fault script already parsed as JSON.
pub fn parse(value: &Value) -> Result<FaultScript, ParseError> {
    let Some(top) = value.as_object() else {
        return Err(("file".into(), "the top level must be a JSON object".into()));
    };
    check_keys(top, &["startup", "rules"], "file")?;

    let startup = match top.get("startup") {
        None | Some(Value::Null) => Startup::default(),
        Some(value) => parse_startup(value)?,
    };

    let mut rules = Vec::new();
    match top.get("rules") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                rules.push(parse_rule(index, item)?);
            }
        }
        Some(_) => {
            return Err((
                "field \"rules\"".into(),
                "expected an array of rule objects".into(),
            ))
        }
    }
    Ok(FaultScript { startup, rules })
}

fn check_keys(object: &Map<String, Value>, allowed: &[&str], location: &str) -> Result<(), ParseError> {
    for key in object.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err((
                format!("{location} field \"{key}\""),
                format!("unknown field; the allowed fields are {}", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

fn parse_startup(value: &Value) -> Result<Startup, ParseError> {
    let location = "startup";
    let Some(object) = value.as_object() else {
        return Err((location.into(), "expected an object".into()));
    };
    check_keys(object, &["ready_delay_ms", "ready", "exit_status"], location)?;

    let ready_delay = Duration::from_millis(
        integer_field(object, location, "ready_delay_ms", 0, MAX_DELAY_MS)?.unwrap_or(0),
    );
    let exit_status = integer_field(object, location, "exit_status", 0, 255)?;
    let ready = string_field(object, location, "ready")?.unwrap_or("print");
    let status = || -> Result<u8, ParseError> {
        match exit_status {
            Some(status) => Ok(status as u8),
            None => Err((
                format!("{location} field \"exit_status\""),
                format!("missing; \"ready\": \"{ready}\" needs an exit status from 0 to 255"),
            )),
        }
    };
    let readiness = match ready {
        "print" => Readiness::Print,
        "never" => Readiness::Never,
        "then_exit" => Readiness::ThenExit(status()?),
        "exit_before" => Readiness::ExitBefore(status()?),
        other => {
            return Err((
                format!("{location} field \"ready\""),
                format!("unknown value {other:?}; expected print, never, then_exit or exit_before"),
            ))
        }
    };
    if exit_status.is_some() && matches!(readiness, Readiness::Print | Readiness::Never) {
        return Err((
            format!("{location} field \"exit_status\""),
            format!("only used with \"ready\": \"then_exit\" or \"exit_before\", not \"{ready}\""),
        ));
    }
    Ok(Startup {
        ready_delay,
        readiness,
    })
}

fn parse_rule(index: usize, value: &Value) -> Result<Rule, ParseError> {
    let location = format!("rules[{index}]");
    let Some(object) = value.as_object() else {
        return Err((location, "expected a rule object".into()));
    };
    let action_name = string_field(object, &location, "action")?.ok_or_else(|| {
        (
            format!("{location} field \"action\""),
            format!("missing; expected one of {}", ACTIONS.join(", ")),
        )
    })?;

    // Each action takes its own parameter, and no other.
    let parameter: Option<&str> = match action_name {
        "delay" => Some("delay_ms"),
        "truncate" => Some("cut_bytes"),
        "bad_version" => Some("version"),
        "wrong_id" => Some("id"),
        "exit" => Some("status"),
        _ => None,
    };
    let mut allowed = vec!["request", "op", "action"];
    allowed.extend(parameter);
    check_keys(object, &allowed, &location)?;

    let request = integer_field(object, &location, "request", 1, u64::MAX)?;
    let op = string_field(object, &location, "op")?;
    if let Some(op) = op {
        if !OPS.contains(&op) {
            return Err((
                format!("{location} field \"op\""),
                format!("unknown op {op:?}; expected one of {}", OPS.join(", ")),
            ));
        }
    }

    let required = |field: &str, min: u64, max: u64| -> Result<u64, ParseError> {
        integer_field(object, &location, field, min, max)?.ok_or_else(|| {
            (
                format!("{location} field \"{field}\""),
                format!("missing; action \"{action_name}\" needs an integer from {min} to {max}"),
            )
        })
    };
    let action = match action_name {
        "delay" => Action::Delay(Duration::from_millis(required("delay_ms", 0, MAX_DELAY_MS)?)),
        "hang" => Action::Hang,
        "close" => Action::Close,
        "preamble_only" => Action::PreambleOnly,
        "truncate" => Action::Truncate {
            cut_bytes: integer_field(object, &location, "cut_bytes", 1, u64::from(u32::MAX))?
                .map(|cut| cut as u32),
        },
        "bad_magic" => Action::BadMagic,
        "bad_version" => {
            let version = integer_field(object, &location, "version", 0, 65_535)?.unwrap_or(2);
            if version == u64::from(sidecar_protocol::VERSION) {
                return Err((
                    format!("{location} field \"version\""),
                    "1 is the supported version, so it is no fault; choose another".into(),
                ));
            }
            Action::BadVersion(version as u16)
        }
        "header_too_large" => Action::HeaderTooLarge,
        "payload_too_large" => Action::PayloadTooLarge,
        "wrong_id" => Action::WrongId(integer_field(
            object,
            &location,
            "id",
            0,
            sidecar_protocol::MAX_ID,
        )?),
        "duplicate" => Action::Duplicate,
        "exit" => Action::Exit(required("status", 0, 255)? as u8),
        other => {
            return Err((
                format!("{location} field \"action\""),
                format!("unknown action {other:?}; expected one of {}", ACTIONS.join(", ")),
            ))
        }
    };
    Ok(Rule {
        request,
        op: op.map(str::to_owned),
        action,
    })
}

fn integer_field(
    object: &Map<String, Value>,
    location: &str,
    field: &str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, ParseError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_u64() {
            Some(number) if (min..=max).contains(&number) => Ok(Some(number)),
            _ => Err((
                format!("{location} field \"{field}\""),
                format!("{value} is invalid; expected an integer from {min} to {max}"),
            )),
        },
    }
}

fn string_field<'v>(
    object: &'v Map<String, Value>,
    location: &str,
    field: &str,
) -> Result<Option<&'v str>, ParseError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(value) => Err((
            format!("{location} field \"{field}\""),
            format!("{value} is invalid; expected a string"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error_of(value: Value) -> ParseError {
        parse(&value).expect_err("invalid script accepted")
    }

    #[test]
    fn empty_script_is_no_fault() {
        let script = parse(&json!({})).unwrap();
        assert_eq!(script, FaultScript::default());
        assert_eq!(script.action_for(1, Some("ping")), None);
    }

    #[test]
    fn first_matching_rule_wins() {
        let script = parse(&json!({"rules": [
            {"request": 2, "op": "predict", "action": "hang"},
            {"op": "predict", "action": "delay", "delay_ms": 5},
            {"action": "close"}
        ]}))
        .unwrap();
        assert_eq!(script.action_for(2, Some("predict")), Some(Action::Hang));
        assert_eq!(
            script.action_for(3, Some("predict")),
            Some(Action::Delay(Duration::from_millis(5)))
        );
        assert_eq!(script.action_for(2, Some("ping")), Some(Action::Close));
        assert_eq!(script.action_for(1, None), Some(Action::Close));
    }

    #[test]
    fn startup_values_parse() {
        let script = parse(&json!({"startup": {"ready": "then_exit", "exit_status": 7, "ready_delay_ms": 10}})).unwrap();
        assert_eq!(script.startup.readiness, Readiness::ThenExit(7));
        assert_eq!(script.startup.ready_delay, Duration::from_millis(10));
    }

    #[test]
    fn unknown_rule_field_named() {
        let (location, message) = error_of(json!({"rules": [{"action": "hang", "delay_ms": 3}]}));
        assert_eq!(location, "rules[0] field \"delay_ms\"");
        assert!(message.contains("unknown field"), "{message}");
    }

    #[test]
    fn missing_parameter_named() {
        let (location, message) = error_of(json!({"rules": [{"action": "hang"}, {"action": "exit"}]}));
        assert_eq!(location, "rules[1] field \"status\"");
        assert!(message.contains("0 to 255"), "{message}");
    }

    #[test]
    fn bad_values_named() {
        let cases = [
            (json!({"rules": [{"action": "explode"}]}), "rules[0] field \"action\""),
            (json!({"rules": [{"action": "hang", "op": "train"}]}), "rules[0] field \"op\""),
            (json!({"rules": [{"action": "hang", "request": 0}]}), "rules[0] field \"request\""),
            (json!({"rules": [{"action": "bad_version", "version": 1}]}), "rules[0] field \"version\""),
            (json!({"rules": [{"action": "exit", "status": 256}]}), "rules[0] field \"status\""),
            (json!({"rules": {}}), "field \"rules\""),
            (json!({"startup": {"ready": "later"}}), "startup field \"ready\""),
            (json!({"startup": {"ready": "then_exit"}}), "startup field \"exit_status\""),
            (json!({"startup": {"exit_status": 1}}), "startup field \"exit_status\""),
            (json!({"extra": 1}), "file field \"extra\""),
            (json!([]), "file"),
        ];
        for (value, expected) in cases {
            let (location, _) = error_of(value.clone());
            assert_eq!(location, expected, "for {value}");
        }
    }
}
