//! System variables: the registry of names, scopes, defaults and value
//! rules, the global values, and per-session values.
//!
//! A session starts with a copy of the global value of every variable that
//! has a session scope. SET GLOBAL changes the global value only, so it
//! affects sessions opened afterwards, as in MySQL. Values are stored as
//! canonical text: booleans as `ON`/`OFF`, enums in upper case, integers in
//! decimal, durations as written.

use std::collections::BTreeMap;
use std::time::Duration;

use super::errors::{SqlWarning, SysVarError};
use crate::duration::parse_go_duration;

/// Scope of a variable: global, session, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarScope {
    /// Only `SET GLOBAL`/`@@global.x`.
    Global,
    /// Only `SET [SESSION]`/`@@session.x`.
    Session,
    /// Both; sessions start from the global value.
    Both,
}

/// The value rule of a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarKind {
    /// `ON`/`OFF`/`1`/`0`/`TRUE`/`FALSE`, case-insensitive; stored as
    /// `ON`/`OFF`.
    Bool,
    /// An integer; values outside `min..=max` are clamped with warning
    /// 1292, as TiDB does.
    Int {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// One of the listed names (case-insensitive), or its 0-based index.
    Enum(&'static [&'static str]),
    /// A Go duration string within `min..=max`.
    Duration {
        /// Smallest allowed value.
        min: Duration,
        /// Largest allowed value.
        max: Duration,
    },
    /// `SYSTEM`, an offset `+HH:MM`/`-HH:MM`, or a zone name such as
    /// `Asia/Shanghai`.
    TimeZone,
    /// A character set name; `nullable` allows NULL (stored as empty).
    Charset {
        /// Whether NULL is accepted.
        nullable: bool,
    },
    /// Any text; stored in upper case (`sql_mode`).
    UpperText,
    /// Any text, stored as given.
    Text,
}

/// One registered variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysVarDef {
    /// Lowercase name.
    pub name: &'static str,
    /// Scope.
    pub scope: VarScope,
    /// Default value in canonical text.
    pub default: &'static str,
    /// Value rule.
    pub kind: VarKind,
    /// Whether SET is rejected with 1238.
    pub read_only: bool,
}

impl SysVarDef {
    /// The value as `SELECT @@name` returns it: booleans as `1`/`0`, as
    /// MySQL does; everything else as stored.
    ///
    /// NOTE: this follows MySQL for every boolean. Whether TiDB returns
    /// `1`/`0` or `ON`/`OFF` for its own `tidb_*` booleans is not
    /// verified.
    pub fn select_text(&self, stored: &str) -> String {
        match (self.kind, stored) {
            (VarKind::Bool, "ON") => "1".to_string(),
            (VarKind::Bool, "OFF") => "0".to_string(),
            _ => stored.to_string(),
        }
    }
}

/// The scope a SET or a variable reference names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetScope {
    /// `GLOBAL` / `@@global.`.
    Global,
    /// `SESSION` / `LOCAL` / `@@session.`; plain SET means this.
    Session,
}

/// The right-hand side of SET, as the engine evaluated it.
#[derive(Debug, Clone, PartialEq)]
pub enum SetValue {
    /// A string (also identifiers such as `ON` written without quotes).
    Text(String),
    /// An integer.
    Int(i64),
    /// A decimal or floating-point number.
    Float(f64),
    /// `NULL`.
    Null,
    /// `DEFAULT`: the registered default.
    Default,
}

impl SetValue {
    /// The value as it appears in error 1231.
    fn display(&self) -> String {
        match self {
            SetValue::Text(text) => text.clone(),
            SetValue::Int(n) => n.to_string(),
            SetValue::Float(f) => f.to_string(),
            SetValue::Null => "NULL".to_string(),
            SetValue::Default => "DEFAULT".to_string(),
        }
    }
}

/// The value of `tidb_model_null_behavior`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullBehavior {
    /// A NULL input fails the statement.
    Error,
    /// A NULL input gives a NULL output.
    ReturnNull,
}

/// The model variables, typed, as the engine reads them per statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSettings {
    /// `tidb_enable_model_ddl`.
    pub enable_ddl: bool,
    /// `tidb_enable_model_inference`.
    pub enable_inference: bool,
    /// `tidb_model_null_behavior`.
    pub null_behavior: NullBehavior,
    /// `tidb_model_max_batch_size` in rows.
    pub max_batch_size: u64,
    /// `tidb_model_timeout` per inference call.
    pub timeout: Duration,
    /// `tidb_model_cache_capacity` in loaded models; 0 disables the cache.
    pub cache_capacity: u64,
    /// `tidb_model_cache_ttl`; zero means entries never expire by age.
    pub cache_ttl: Duration,
    /// `tidb_model_allow_nondeterministic`.
    pub allow_nondeterministic: bool,
    /// `tidb_enable_model_custom_ops`.
    pub enable_custom_ops: bool,
}

const BOOL: VarKind = VarKind::Bool;
const HOUR: Duration = Duration::from_secs(3_600);
const CHARSETS: [&str; 7] = [
    "utf8mb4", "utf8", "utf8mb3", "latin1", "ascii", "binary", "gbk",
];

/// TiDB's default `sql_mode`.
pub const DEFAULT_SQL_MODE: &str = "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION";

/// The value of `@@version` and `VERSION()`: a MySQL 8.0 compatible
/// prefix with a TiDB marker, so clients that parse it treat the server as
/// TiDB.
pub const SERVER_VERSION: &str = "8.0.11-TiDB-v8.5.0-reference";

const fn def(
    name: &'static str,
    scope: VarScope,
    default: &'static str,
    kind: VarKind,
) -> SysVarDef {
    SysVarDef {
        name,
        scope,
        default,
        kind,
        read_only: false,
    }
}

const fn read_only(name: &'static str, default: &'static str) -> SysVarDef {
    SysVarDef {
        name,
        scope: VarScope::Global,
        default,
        kind: VarKind::Text,
        read_only: true,
    }
}

/// Every registered variable.
pub const SYSVARS: &[SysVarDef] = &[
    // Model serving; all global, booleans default OFF.
    def("tidb_enable_model_ddl", VarScope::Global, "OFF", BOOL),
    def("tidb_enable_model_inference", VarScope::Global, "OFF", BOOL),
    def(
        "tidb_model_null_behavior",
        VarScope::Global,
        "ERROR",
        VarKind::Enum(&["ERROR", "RETURN_NULL"]),
    ),
    def(
        "tidb_model_max_batch_size",
        VarScope::Global,
        "1024",
        VarKind::Int {
            min: 1,
            max: 1_048_576,
        },
    ),
    def(
        "tidb_model_timeout",
        VarScope::Global,
        "1s",
        VarKind::Duration {
            min: Duration::from_millis(1),
            max: HOUR,
        },
    ),
    def(
        "tidb_model_cache_capacity",
        VarScope::Global,
        "64",
        VarKind::Int {
            min: 0,
            max: 65_536,
        },
    ),
    def(
        "tidb_model_cache_ttl",
        VarScope::Global,
        "10m",
        VarKind::Duration {
            min: Duration::ZERO,
            max: Duration::from_secs(30 * 24 * 3_600),
        },
    ),
    def(
        "tidb_model_allow_nondeterministic",
        VarScope::Global,
        "OFF",
        BOOL,
    ),
    def(
        "tidb_enable_model_custom_ops",
        VarScope::Global,
        "OFF",
        BOOL,
    ),
    // Session and connection basics.
    def("autocommit", VarScope::Both, "ON", BOOL),
    def("time_zone", VarScope::Both, "SYSTEM", VarKind::TimeZone),
    def(
        "sql_mode",
        VarScope::Both,
        DEFAULT_SQL_MODE,
        VarKind::UpperText,
    ),
    def("tidb_snapshot", VarScope::Session, "", VarKind::Text),
    def("tx_read_only", VarScope::Both, "OFF", BOOL),
    def("transaction_read_only", VarScope::Both, "OFF", BOOL),
    def(
        "transaction_isolation",
        VarScope::Both,
        "REPEATABLE-READ",
        VarKind::Enum(&[
            "READ-UNCOMMITTED",
            "READ-COMMITTED",
            "REPEATABLE-READ",
            "SERIALIZABLE",
        ]),
    ),
    def(
        "tx_isolation",
        VarScope::Both,
        "REPEATABLE-READ",
        VarKind::Enum(&[
            "READ-UNCOMMITTED",
            "READ-COMMITTED",
            "REPEATABLE-READ",
            "SERIALIZABLE",
        ]),
    ),
    def(
        "max_allowed_packet",
        VarScope::Both,
        "67108864",
        VarKind::Int {
            min: 1024,
            max: 1_073_741_824,
        },
    ),
    def(
        "character_set_client",
        VarScope::Both,
        "utf8mb4",
        VarKind::Charset { nullable: false },
    ),
    def(
        "character_set_connection",
        VarScope::Both,
        "utf8mb4",
        VarKind::Charset { nullable: false },
    ),
    def(
        "character_set_results",
        VarScope::Both,
        "utf8mb4",
        VarKind::Charset { nullable: true },
    ),
    def(
        "character_set_server",
        VarScope::Both,
        "utf8mb4",
        VarKind::Charset { nullable: false },
    ),
    def(
        "collation_connection",
        VarScope::Both,
        "utf8mb4_bin",
        VarKind::Text,
    ),
    def(
        "collation_server",
        VarScope::Both,
        "utf8mb4_bin",
        VarKind::Text,
    ),
    def(
        "wait_timeout",
        VarScope::Both,
        "28800",
        VarKind::Int {
            min: 0,
            max: 31_536_000,
        },
    ),
    def(
        "interactive_timeout",
        VarScope::Both,
        "28800",
        VarKind::Int {
            min: 1,
            max: 31_536_000,
        },
    ),
    read_only("version", SERVER_VERSION),
    read_only("version_comment", "TiDB model serving reference engine"),
    read_only("lower_case_table_names", "2"),
    // Read only because the engine always divides with 4 extra digits.
    SysVarDef {
        name: "div_precision_increment",
        scope: VarScope::Both,
        default: "4",
        kind: VarKind::Int { min: 0, max: 30 },
        read_only: true,
    },
    // Accepted for client compatibility; the engine has no foreign keys,
    // statement timeouts or GROUP_CONCAT for them to affect.
    def("foreign_key_checks", VarScope::Both, "ON", BOOL),
    def(
        "max_execution_time",
        VarScope::Both,
        "0",
        VarKind::Int {
            min: 0,
            max: i64::MAX,
        },
    ),
    def(
        "group_concat_max_len",
        VarScope::Both,
        "1024",
        VarKind::Int {
            min: 4,
            max: i64::MAX,
        },
    ),
    // Settings mysql-tester sets on every connection of a TiDB server.
    def(
        "tidb_init_chunk_size",
        VarScope::Both,
        "32",
        VarKind::Int { min: 1, max: 32 },
    ),
    def(
        "tidb_max_chunk_size",
        VarScope::Both,
        "1024",
        VarKind::Int {
            min: 32,
            max: 65_536,
        },
    ),
    def(
        "tidb_multi_statement_mode",
        VarScope::Both,
        "OFF",
        VarKind::Enum(&["OFF", "ON", "WARN"]),
    ),
    def(
        "tidb_hash_join_concurrency",
        VarScope::Both,
        "-1",
        VarKind::Int { min: -1, max: 256 },
    ),
    def(
        "tidb_enable_pseudo_for_outdated_stats",
        VarScope::Both,
        "OFF",
        BOOL,
    ),
    def("tidb_enable_analyze_snapshot", VarScope::Both, "OFF", BOOL),
    def(
        "tidb_enable_clustered_index",
        VarScope::Both,
        "ON",
        VarKind::Enum(&["OFF", "ON", "INT_ONLY"]),
    ),
];

/// Looks up a variable by name, case-insensitively.
pub fn definition(name: &str) -> Option<&'static SysVarDef> {
    SYSVARS.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

/// The global values of one server.
#[derive(Debug, Clone)]
pub struct SysVars {
    global: BTreeMap<&'static str, String>,
}

/// The session values of one connection.
#[derive(Debug, Clone)]
pub struct SessionVars {
    values: BTreeMap<&'static str, String>,
}

impl Default for SysVars {
    fn default() -> SysVars {
        SysVars::new()
    }
}

impl SysVars {
    /// Every variable at its default.
    pub fn new() -> SysVars {
        let global = SYSVARS
            .iter()
            .filter(|d| d.scope != VarScope::Session)
            .map(|d| (d.name, d.default.to_string()))
            .collect();
        SysVars { global }
    }

    /// Session values for a new connection: the current global value of
    /// every `Both` variable and the default of every session-only one.
    pub fn new_session(&self) -> SessionVars {
        let values = SYSVARS
            .iter()
            .filter(|d| d.scope != VarScope::Global)
            .map(|d| {
                let value = self
                    .global
                    .get(d.name)
                    .cloned()
                    .unwrap_or_else(|| d.default.to_string());
                (d.name, value)
            })
            .collect();
        SessionVars { values }
    }

    /// Runs `SET [GLOBAL|SESSION] name = value`.
    ///
    /// `may_set_global` is whether the account has SUPER or
    /// SYSTEM_VARIABLES_ADMIN. Returns the warnings of a clamped integer.
    pub fn set(
        &mut self,
        session: &mut SessionVars,
        scope: SetScope,
        name: &str,
        value: SetValue,
        may_set_global: bool,
    ) -> Result<Vec<SqlWarning>, SysVarError> {
        let def = definition(name).ok_or_else(|| SysVarError::Unknown {
            name: name.to_string(),
        })?;

        // Scope and privilege come before the value.
        if def.read_only {
            return Err(SysVarError::IncorrectScope {
                name: def.name.to_string(),
                kind: "read only",
            });
        }
        match (scope, def.scope) {
            (SetScope::Global, VarScope::Session) => {
                return Err(SysVarError::SessionOnly {
                    name: def.name.to_string(),
                })
            }
            (SetScope::Session, VarScope::Global) => {
                return Err(SysVarError::GlobalOnly {
                    name: def.name.to_string(),
                })
            }
            _ => {}
        }
        if scope == SetScope::Global && !may_set_global {
            return Err(SysVarError::AccessDenied);
        }

        let (canonical, warnings) = normalize(def, value)?;
        match scope {
            SetScope::Global => self.global.insert(def.name, canonical),
            SetScope::Session => session.values.insert(def.name, canonical),
        };
        Ok(warnings)
    }

    /// Reads `@@name` (`scope` `None`), `@@global.name` or
    /// `@@session.name`, in stored form. `@@name` reads the session value,
    /// or the global value of a global-only variable.
    pub fn get(
        &self,
        session: &SessionVars,
        scope: Option<SetScope>,
        name: &str,
    ) -> Result<String, SysVarError> {
        let def = definition(name).ok_or_else(|| SysVarError::Unknown {
            name: name.to_string(),
        })?;
        let from_global = match (scope, def.scope) {
            (Some(SetScope::Global), VarScope::Session) => {
                return Err(SysVarError::IncorrectScope {
                    name: def.name.to_string(),
                    kind: "SESSION",
                })
            }
            (Some(SetScope::Session), VarScope::Global) => {
                return Err(SysVarError::IncorrectScope {
                    name: def.name.to_string(),
                    kind: "GLOBAL",
                })
            }
            (Some(SetScope::Global), _) | (_, VarScope::Global) => true,
            _ => false,
        };
        let map = if from_global {
            &self.global
        } else {
            &session.values
        };
        Ok(map
            .get(def.name)
            .cloned()
            .unwrap_or_else(|| def.default.to_string()))
    }

    /// The rows of `SHOW [GLOBAL|SESSION] VARIABLES`, sorted by name.
    /// The session view shows session values and the global value of
    /// global-only variables; the global view omits session-only ones.
    pub fn show_variables(&self, session: &SessionVars, scope: SetScope) -> Vec<(String, String)> {
        SYSVARS
            .iter()
            .filter(|d| !(scope == SetScope::Global && d.scope == VarScope::Session))
            .filter_map(|d| {
                let read_scope = match scope {
                    SetScope::Global => Some(SetScope::Global),
                    SetScope::Session => None,
                };
                self.get(session, read_scope, d.name)
                    .ok()
                    .map(|value| (d.name.to_string(), value))
            })
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .collect()
    }

    /// The model variables, typed.
    pub fn model_settings(&self) -> ModelSettings {
        let text = |name: &str| -> String {
            self.global
                .get(name)
                .cloned()
                .or_else(|| definition(name).map(|d| d.default.to_string()))
                .unwrap_or_default()
        };
        let flag = |name: &str| text(name) == "ON";
        let number = |name: &str| text(name).parse::<u64>().unwrap_or(0);
        let duration = |name: &str| parse_go_duration(&text(name)).unwrap_or(Duration::ZERO);

        ModelSettings {
            enable_ddl: flag("tidb_enable_model_ddl"),
            enable_inference: flag("tidb_enable_model_inference"),
            null_behavior: if text("tidb_model_null_behavior") == "RETURN_NULL" {
                NullBehavior::ReturnNull
            } else {
                NullBehavior::Error
            },
            max_batch_size: number("tidb_model_max_batch_size"),
            timeout: duration("tidb_model_timeout"),
            cache_capacity: number("tidb_model_cache_capacity"),
            cache_ttl: duration("tidb_model_cache_ttl"),
            allow_nondeterministic: flag("tidb_model_allow_nondeterministic"),
            enable_custom_ops: flag("tidb_enable_model_custom_ops"),
        }
    }
}

/// Validates a value against the variable's rule and returns its
/// canonical text, plus a warning when an integer was clamped.
fn normalize(def: &SysVarDef, value: SetValue) -> Result<(String, Vec<SqlWarning>), SysVarError> {
    let wrong_value = |value: &SetValue| SysVarError::WrongValue {
        name: def.name.to_string(),
        value: value.display(),
    };
    let wrong_type = || SysVarError::WrongType {
        name: def.name.to_string(),
    };

    if value == SetValue::Default {
        return Ok((def.default.to_string(), Vec::new()));
    }
    if value == SetValue::Null {
        return match def.kind {
            VarKind::Charset { nullable: true } => Ok((String::new(), Vec::new())),
            _ => Err(wrong_value(&value)),
        };
    }

    match def.kind {
        VarKind::Bool => {
            let on = match &value {
                SetValue::Int(1) => true,
                SetValue::Int(0) => false,
                SetValue::Int(_) => return Err(wrong_value(&value)),
                SetValue::Float(_) => return Err(wrong_type()),
                SetValue::Text(text) => match text.trim().to_ascii_uppercase().as_str() {
                    "ON" | "1" | "TRUE" => true,
                    "OFF" | "0" | "FALSE" => false,
                    _ => return Err(wrong_value(&value)),
                },
                SetValue::Null | SetValue::Default => return Err(wrong_value(&value)),
            };
            Ok((if on { "ON" } else { "OFF" }.to_string(), Vec::new()))
        }

        VarKind::Int { min, max } => {
            let number = match &value {
                SetValue::Int(n) => *n,
                SetValue::Text(text) => text.trim().parse::<i64>().map_err(|_| wrong_type())?,
                _ => return Err(wrong_type()),
            };
            let clamped = number.clamp(min, max);
            let mut warnings = Vec::new();
            if clamped != number {
                warnings.push(SqlWarning {
                    level: "Warning",
                    code: 1292,
                    message: format!("Truncated incorrect {} value: '{number}'", def.name),
                });
            }
            Ok((clamped.to_string(), warnings))
        }

        VarKind::Enum(names) => {
            let chosen = match &value {
                SetValue::Int(n) => usize::try_from(*n).ok().and_then(|i| names.get(i)),
                SetValue::Text(text) => {
                    let text = text.trim();
                    names
                        .iter()
                        .find(|name| name.eq_ignore_ascii_case(text))
                        .or_else(|| text.parse::<usize>().ok().and_then(|i| names.get(i)))
                }
                _ => return Err(wrong_type()),
            };
            chosen
                .map(|name| (name.to_string(), Vec::new()))
                .ok_or_else(|| wrong_value(&value))
        }

        VarKind::Duration { min, max } => {
            let SetValue::Text(text) = &value else {
                return Err(wrong_type());
            };
            let text = text.trim();
            let duration = parse_go_duration(text).map_err(|_| wrong_value(&value))?;
            if duration < min || duration > max {
                return Err(wrong_value(&value));
            }
            Ok((text.to_string(), Vec::new()))
        }

        VarKind::TimeZone => {
            let SetValue::Text(text) = &value else {
                return Err(SysVarError::UnknownTimeZone {
                    value: value.display(),
                });
            };
            canonical_time_zone(text.trim())
                .map(|zone| (zone, Vec::new()))
                .ok_or_else(|| SysVarError::UnknownTimeZone {
                    value: text.clone(),
                })
        }

        VarKind::Charset { .. } => {
            let SetValue::Text(text) = &value else {
                return Err(wrong_type());
            };
            let lower = text.trim().to_ascii_lowercase();
            if CHARSETS.contains(&lower.as_str()) {
                Ok((lower, Vec::new()))
            } else {
                Err(SysVarError::UnknownCharset {
                    value: text.clone(),
                })
            }
        }

        VarKind::UpperText => Ok((value.display().to_ascii_uppercase(), Vec::new())),
        VarKind::Text => Ok((value.display(), Vec::new())),
    }
}

/// The canonical form of a time zone, or `None` when it is invalid.
///
/// Offsets must lie within MySQL's range `-13:59..=+14:00` and are stored
/// as `+HH:MM`. Names are checked for form only (letters, digits, `/`,
/// `_`, `-`, `+`, starting with a letter), because the engine has no time
/// zone database to check them against.
fn canonical_time_zone(text: &str) -> Option<String> {
    if text.eq_ignore_ascii_case("SYSTEM") {
        return Some("SYSTEM".to_string());
    }

    if let Some(sign) = text.chars().next().filter(|c| *c == '+' || *c == '-') {
        let (hours, minutes) = text[1..].split_once(':')?;
        let valid_digits =
            |s: &str| (1..=2).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
        if !valid_digits(hours) || minutes.len() != 2 || !valid_digits(minutes) {
            return None;
        }
        let hours: i32 = hours.parse().ok()?;
        let minutes: i32 = minutes.parse().ok()?;
        if minutes > 59 {
            return None;
        }
        let total = hours * 60 + minutes;
        let in_range = if sign == '+' {
            total <= 14 * 60
        } else {
            total <= 13 * 60 + 59
        };
        if !in_range {
            return None;
        }
        return Some(format!("{sign}{hours:02}:{minutes:02}"));
    }

    let well_formed = text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'));
    well_formed.then(|| text.to_string())
}
