//! Tests of system variable validation, scopes and errors.

use std::time::Duration;

use super::errors::SysVarError;
use super::sysvars::*;
use crate::target::SqlError;

fn set_global(vars: &mut SysVars, name: &str, value: SetValue) -> Result<String, SqlError> {
    let mut session = vars.new_session();
    vars.set(&mut session, SetScope::Global, name, value, true)?;
    Ok(vars.get(&session, Some(SetScope::Global), name)?)
}

fn text(value: &str) -> SetValue {
    SetValue::Text(value.to_string())
}

#[test]
fn model_defaults() {
    let vars = SysVars::new();
    assert_eq!(
        vars.model_settings(),
        ModelSettings {
            enable_ddl: false,
            enable_inference: false,
            null_behavior: NullBehavior::Error,
            max_batch_size: 1024,
            timeout: Duration::from_secs(1),
            cache_capacity: 64,
            cache_ttl: Duration::from_secs(600),
            allow_nondeterministic: false,
            enable_custom_ops: false,
        }
    );
}

#[test]
fn every_default_is_valid() {
    for def in SYSVARS {
        if def.read_only {
            continue;
        }
        let mut vars = SysVars::new();
        let mut session = vars.new_session();
        let scope = if def.scope == VarScope::Session {
            SetScope::Session
        } else {
            SetScope::Global
        };
        vars.set(&mut session, scope, def.name, text(def.default), true)
            .unwrap_or_else(|e| panic!("default of {} rejected: {e}", def.name));
        let read_scope = Some(scope);
        assert_eq!(
            vars.get(&session, read_scope, def.name).expect("get"),
            def.default,
            "{}",
            def.name
        );
    }
}

#[test]
fn bool_values_table() {
    let cases: Vec<(SetValue, Result<&str, SqlError>)> = vec![
        (text("ON"), Ok("ON")),
        (text("on"), Ok("ON")),
        (text("1"), Ok("ON")),
        (text("TRUE"), Ok("ON")),
        (text("true"), Ok("ON")),
        (SetValue::Int(1), Ok("ON")),
        (text("OFF"), Ok("OFF")),
        (text("Off"), Ok("OFF")),
        (text("0"), Ok("OFF")),
        (text("false"), Ok("OFF")),
        (SetValue::Int(0), Ok("OFF")),
        (SetValue::Default, Ok("OFF")),
        (
            text("yes"),
            Err(SqlError::new(
                1231,
                "42000",
                "Variable 'tidb_enable_model_ddl' can't be set to the value of 'yes'",
            )),
        ),
        (
            SetValue::Int(2),
            Err(SqlError::new(
                1231,
                "42000",
                "Variable 'tidb_enable_model_ddl' can't be set to the value of '2'",
            )),
        ),
        (
            SetValue::Null,
            Err(SqlError::new(
                1231,
                "42000",
                "Variable 'tidb_enable_model_ddl' can't be set to the value of 'NULL'",
            )),
        ),
        (
            SetValue::Float(0.5),
            Err(SqlError::new(
                1232,
                "42000",
                "Incorrect argument type to variable 'tidb_enable_model_ddl'",
            )),
        ),
    ];
    for (value, expected) in cases {
        let mut vars = SysVars::new();
        let label = format!("{value:?}");
        let actual = set_global(&mut vars, "tidb_enable_model_ddl", value);
        assert_eq!(actual, expected.map(str::to_string), "{label}");
    }
}

#[test]
fn enum_values_table() {
    let cases: Vec<(&str, SetValue, Option<&str>)> = vec![
        (
            "tidb_model_null_behavior",
            text("return_null"),
            Some("RETURN_NULL"),
        ),
        ("tidb_model_null_behavior", text("ERROR"), Some("ERROR")),
        (
            "tidb_model_null_behavior",
            SetValue::Int(1),
            Some("RETURN_NULL"),
        ),
        ("tidb_model_null_behavior", text("NULL"), None),
        ("tidb_model_null_behavior", SetValue::Int(2), None),
        ("tidb_multi_statement_mode", SetValue::Int(1), Some("ON")),
        ("tidb_multi_statement_mode", text("warn"), Some("WARN")),
        (
            "tidb_enable_clustered_index",
            text("int_only"),
            Some("INT_ONLY"),
        ),
        ("tidb_enable_clustered_index", text("maybe"), None),
        (
            "transaction_isolation",
            text("read-committed"),
            Some("READ-COMMITTED"),
        ),
    ];
    for (name, value, expected) in cases {
        let mut vars = SysVars::new();
        let label = format!("{name} = {value:?}");
        let display = match &value {
            SetValue::Text(t) => t.clone(),
            SetValue::Int(n) => n.to_string(),
            _ => unreachable!("table contains text and integers"),
        };
        let actual = set_global(&mut vars, name, value);
        match expected {
            Some(stored) => assert_eq!(actual.as_deref(), Ok(stored), "{label}"),
            None => assert_eq!(
                actual,
                Err(SqlError::new(
                    1231,
                    "42000",
                    format!("Variable '{name}' can't be set to the value of '{display}'")
                )),
                "{label}"
            ),
        }
    }
    let mut vars = SysVars::new();
    set_global(&mut vars, "tidb_model_null_behavior", text("RETURN_NULL")).expect("set");
    assert_eq!(
        vars.model_settings().null_behavior,
        NullBehavior::ReturnNull
    );
}

#[test]
fn integer_values_clamp_with_warning() {
    let mut vars = SysVars::new();
    let mut session = vars.new_session();
    let warnings = vars
        .set(
            &mut session,
            SetScope::Global,
            "tidb_model_max_batch_size",
            SetValue::Int(0),
            true,
        )
        .expect("clamped");
    assert_eq!(
        vars.get(
            &session,
            Some(SetScope::Global),
            "tidb_model_max_batch_size"
        )
        .expect("get"),
        "1"
    );
    assert_eq!((warnings[0].level, warnings[0].code), ("Warning", 1292));
    assert_eq!(
        warnings[0].message,
        "Truncated incorrect tidb_model_max_batch_size value: '0'"
    );

    let warnings = vars
        .set(
            &mut session,
            SetScope::Global,
            "tidb_model_max_batch_size",
            text(" 4096 "),
            true,
        )
        .expect("in range");
    assert!(warnings.is_empty());
    assert_eq!(vars.model_settings().max_batch_size, 4096);

    set_global(
        &mut vars,
        "tidb_model_cache_capacity",
        SetValue::Int(10_000_000),
    )
    .expect("clamped");
    assert_eq!(vars.model_settings().cache_capacity, 65_536);

    for bad in [text("many"), text("1.5"), SetValue::Float(2.0)] {
        let err = set_global(&mut vars, "tidb_model_max_batch_size", bad).expect_err("wrong type");
        assert_eq!(
            err,
            SqlError::new(
                1232,
                "42000",
                "Incorrect argument type to variable 'tidb_model_max_batch_size'"
            )
        );
    }
}

#[test]
fn duration_values_table() {
    let cases: Vec<(&str, &str, bool)> = vec![
        ("tidb_model_timeout", "200ms", true),
        ("tidb_model_timeout", "1h", true),
        ("tidb_model_timeout", "1h0m1s", false),
        ("tidb_model_timeout", "0s", false),
        ("tidb_model_timeout", "200", false),
        ("tidb_model_timeout", "fast", false),
        ("tidb_model_timeout", "-1s", false),
        ("tidb_model_cache_ttl", "0s", true),
        ("tidb_model_cache_ttl", "1h30m", true),
        ("tidb_model_cache_ttl", "721h", false),
    ];
    for (name, value, valid) in cases {
        let mut vars = SysVars::new();
        let actual = set_global(&mut vars, name, text(value));
        if valid {
            assert_eq!(actual.as_deref(), Ok(value), "{name} = {value}");
        } else {
            assert_eq!(
                actual,
                Err(SqlError::new(
                    1231,
                    "42000",
                    format!("Variable '{name}' can't be set to the value of '{value}'")
                )),
                "{name} = {value}"
            );
        }
    }
    let mut vars = SysVars::new();
    set_global(&mut vars, "tidb_model_timeout", text("250ms")).expect("set");
    assert_eq!(vars.model_settings().timeout, Duration::from_millis(250));
    let err = set_global(&mut vars, "tidb_model_timeout", SetValue::Int(5)).expect_err("integer");
    assert_eq!(err.code, 1232);
}

#[test]
fn unknown_variable() {
    let mut vars = SysVars::new();
    let mut session = vars.new_session();
    let err = vars
        .set(
            &mut session,
            SetScope::Session,
            "no_such_var",
            SetValue::Int(1),
            true,
        )
        .expect_err("unknown");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(1193, "HY000", "Unknown system variable 'no_such_var'")
    );
    assert!(matches!(
        vars.get(&session, None, "nope"),
        Err(SysVarError::Unknown { .. })
    ));
}

#[test]
fn scope_errors() {
    let mut vars = SysVars::new();
    let mut session = vars.new_session();

    let err = vars
        .set(
            &mut session,
            SetScope::Session,
            "tidb_enable_model_ddl",
            text("ON"),
            true,
        )
        .expect_err("global only");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(
            1229,
            "HY000",
            "Variable 'tidb_enable_model_ddl' is a GLOBAL variable and should be set with SET GLOBAL"
        )
    );

    let err = vars
        .set(
            &mut session,
            SetScope::Global,
            "tidb_snapshot",
            text(""),
            true,
        )
        .expect_err("session only");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(
            1228,
            "HY000",
            "Variable 'tidb_snapshot' is a SESSION variable and can't be used with SET GLOBAL"
        )
    );

    let err = vars
        .set(&mut session, SetScope::Session, "version", text("x"), true)
        .expect_err("read only");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(1238, "HY000", "Variable 'version' is a read only variable")
    );

    let err = vars
        .get(&session, Some(SetScope::Session), "tidb_enable_model_ddl")
        .expect_err("session read of global");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(
            1238,
            "HY000",
            "Variable 'tidb_enable_model_ddl' is a GLOBAL variable"
        )
    );
    let err = vars
        .get(&session, Some(SetScope::Global), "tidb_snapshot")
        .expect_err("global read of session");
    assert_eq!(
        err.to_string(),
        "Variable 'tidb_snapshot' is a SESSION variable"
    );
}

#[test]
fn set_global_needs_privilege() {
    let mut vars = SysVars::new();
    let mut session = vars.new_session();
    let err = vars
        .set(
            &mut session,
            SetScope::Global,
            "tidb_enable_model_inference",
            text("ON"),
            false,
        )
        .expect_err("denied");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(
            1227,
            "42000",
            "Access denied; you need (at least one of) the SUPER or SYSTEM_VARIABLES_ADMIN privilege(s) for this operation"
        )
    );
    assert!(!vars.model_settings().enable_inference);
    vars.set(
        &mut session,
        SetScope::Session,
        "autocommit",
        text("OFF"),
        false,
    )
    .expect("session set needs no privilege");
}

#[test]
fn sessions_copy_global_at_start() {
    let mut vars = SysVars::new();
    let mut first = vars.new_session();
    vars.set(
        &mut first,
        SetScope::Global,
        "autocommit",
        text("OFF"),
        true,
    )
    .expect("global");
    assert_eq!(vars.get(&first, None, "autocommit").expect("session"), "ON");
    assert_eq!(
        vars.get(&first, Some(SetScope::Global), "autocommit")
            .expect("global"),
        "OFF"
    );
    let second = vars.new_session();
    assert_eq!(
        vars.get(&second, None, "AUTOCOMMIT").expect("new session"),
        "OFF"
    );

    vars.set(
        &mut first,
        SetScope::Session,
        "tidb_snapshot",
        text("434248072512045060"),
        true,
    )
    .expect("snapshot");
    assert_eq!(
        vars.get(&first, None, "tidb_snapshot").expect("get"),
        "434248072512045060"
    );
    assert_eq!(vars.get(&second, None, "tidb_snapshot").expect("get"), "");

    assert_eq!(
        vars.get(&first, None, "version")
            .expect("global-only via @@"),
        SERVER_VERSION
    );
}

#[test]
fn mysql_tester_settings_are_accepted() {
    let mut vars = SysVars::new();
    let mut session = vars.new_session();
    let settings = [
        ("time_zone", text("Asia/Shanghai"), "Asia/Shanghai"),
        ("tidb_init_chunk_size", SetValue::Int(1), "1"),
        ("tidb_max_chunk_size", SetValue::Int(32), "32"),
        ("tidb_multi_statement_mode", SetValue::Int(1), "ON"),
        ("tidb_hash_join_concurrency", SetValue::Int(1), "1"),
        (
            "tidb_enable_pseudo_for_outdated_stats",
            text("false"),
            "OFF",
        ),
        ("tidb_enable_analyze_snapshot", SetValue::Int(1), "ON"),
        ("tidb_enable_clustered_index", text("int_only"), "INT_ONLY"),
        (
            "sql_mode",
            text("strict_trans_tables"),
            "STRICT_TRANS_TABLES",
        ),
        ("sql_mode", text(""), ""),
        ("character_set_client", text("UTF8MB4"), "utf8mb4"),
        ("character_set_results", SetValue::Null, ""),
        ("max_allowed_packet", SetValue::Int(1_048_576), "1048576"),
    ];
    for (name, value, stored) in settings {
        vars.set(&mut session, SetScope::Session, name, value, false)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            vars.get(&session, None, name).expect("get"),
            stored,
            "{name}"
        );
    }
}

#[test]
fn time_zone_values_table() {
    let cases = [
        ("SYSTEM", Some("SYSTEM")),
        ("system", Some("SYSTEM")),
        ("+08:00", Some("+08:00")),
        ("+8:00", Some("+08:00")),
        ("-13:59", Some("-13:59")),
        ("+14:00", Some("+14:00")),
        ("UTC", Some("UTC")),
        ("America/New_York", Some("America/New_York")),
        ("+14:01", None),
        ("-14:00", None),
        ("+08:60", None),
        ("+0800", None),
        ("8:00", None),
        ("", None),
        ("Asia/Shang hai", None),
    ];
    for (value, expected) in cases {
        let mut vars = SysVars::new();
        let mut session = vars.new_session();
        let result = vars.set(
            &mut session,
            SetScope::Session,
            "time_zone",
            text(value),
            false,
        );
        match expected {
            Some(stored) => {
                result.unwrap_or_else(|e| panic!("{value}: {e}"));
                assert_eq!(vars.get(&session, None, "time_zone").expect("get"), stored);
            }
            None => assert_eq!(
                result.map_err(SqlError::from),
                Err(SqlError::new(
                    1298,
                    "HY000",
                    format!("Unknown or incorrect time zone: '{value}'")
                )),
                "{value}"
            ),
        }
    }
}

#[test]
fn charset_rejects_unknown() {
    let mut vars = SysVars::new();
    let mut session = vars.new_session();
    let err = vars
        .set(
            &mut session,
            SetScope::Session,
            "character_set_client",
            text("klingon"),
            false,
        )
        .expect_err("unknown");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(1115, "42000", "Unknown character set: 'klingon'")
    );
    let err = vars
        .set(
            &mut session,
            SetScope::Session,
            "character_set_client",
            SetValue::Null,
            false,
        )
        .expect_err("not nullable");
    assert_eq!(err.code().0, 1231);
}

#[test]
fn select_text_maps_booleans() {
    let autocommit = definition("autocommit").expect("registered");
    assert_eq!(autocommit.select_text("ON"), "1");
    assert_eq!(autocommit.select_text("OFF"), "0");
    let timeout = definition("tidb_model_timeout").expect("registered");
    assert_eq!(timeout.select_text("200ms"), "200ms");
}

#[test]
fn show_variables_views() {
    let vars = SysVars::new();
    let session = vars.new_session();
    let session_view = vars.show_variables(&session, SetScope::Session);
    let global_view = vars.show_variables(&session, SetScope::Global);
    assert!(session_view.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
    assert!(session_view.iter().any(|(n, _)| n == "tidb_snapshot"));
    assert!(!global_view.iter().any(|(n, _)| n == "tidb_snapshot"));
    assert!(global_view
        .iter()
        .any(|(n, v)| n == "tidb_model_timeout" && v == "1s"));
    assert_eq!(session_view.len(), SYSVARS.len());
}
