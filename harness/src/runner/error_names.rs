//! Error names accepted by `--error`, as mysql-tester's name table maps
//! them: MySQL `ER_*` names and TiDB `Err*` names, both to the numeric
//! code. Codes are from MySQL's `mysqld_error.h` and TiDB's
//! `pkg/errno/errname.go`; add a row when a case needs another name.

/// `(name, code)` pairs.
const NAMES: &[(&str, u16)] = &[
    ("ER_DB_CREATE_EXISTS", 1007),
    ("ErrDBCreateExists", 1007),
    ("ER_DB_DROP_EXISTS", 1008),
    ("ErrDBDropExists", 1008),
    ("ER_DBACCESS_DENIED_ERROR", 1044),
    ("ErrDBaccessDenied", 1044),
    ("ER_ACCESS_DENIED_ERROR", 1045),
    ("ErrAccessDenied", 1045),
    ("ER_NO_DB_ERROR", 1046),
    ("ErrNoDB", 1046),
    ("ER_BAD_NULL_ERROR", 1048),
    ("ErrBadNull", 1048),
    ("ER_BAD_DB_ERROR", 1049),
    ("ErrBadDB", 1049),
    ("ER_TABLE_EXISTS_ERROR", 1050),
    ("ErrTableExists", 1050),
    ("ER_BAD_TABLE_ERROR", 1051),
    ("ErrBadTable", 1051),
    ("ER_NON_UNIQ_ERROR", 1052),
    ("ErrNonUniq", 1052),
    ("ER_BAD_FIELD_ERROR", 1054),
    ("ErrBadField", 1054),
    ("ER_DUP_ENTRY", 1062),
    ("ErrDupEntry", 1062),
    ("ER_PARSE_ERROR", 1064),
    ("ErrParse", 1064),
    ("ER_UNKNOWN_ERROR", 1105),
    ("ErrUnknown", 1105),
    ("ER_WRONG_VALUE_COUNT_ON_ROW", 1136),
    ("ErrWrongValueCountOnRow", 1136),
    ("ER_TABLEACCESS_DENIED_ERROR", 1142),
    ("ErrTableaccessDenied", 1142),
    ("ER_COLUMNACCESS_DENIED_ERROR", 1143),
    ("ErrColumnaccessDenied", 1143),
    ("ER_NO_SUCH_TABLE", 1146),
    ("ErrNoSuchTable", 1146),
    ("ER_UNKNOWN_SYSTEM_VARIABLE", 1193),
    ("ErrUnknownSystemVariable", 1193),
    ("ER_SPECIFIC_ACCESS_DENIED_ERROR", 1227),
    ("ErrSpecificAccessDenied", 1227),
    ("ER_WRONG_VALUE_FOR_VAR", 1231),
    ("ErrWrongValueForVar", 1231),
    ("ER_NOT_SUPPORTED_YET", 1235),
    ("ErrNotSupportedYet", 1235),
    ("ER_TRUNCATED_WRONG_VALUE", 1292),
    ("ErrTruncatedWrongValue", 1292),
    ("ER_DIVISION_BY_ZERO", 1365),
    ("ErrDivisionByZero", 1365),
    ("ER_CANNOT_USER", 1396),
    ("ErrCannotUser", 1396),
    ("ER_DATA_OUT_OF_RANGE", 1690),
    ("ErrDataOutOfRange", 1690),
    ("ErrAsOf", 8135),
];

/// Looks up an error name; names are case-sensitive, as in mysql-tester.
pub fn code_for_name(name: &str) -> Option<u16> {
    NAMES
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, code)| *code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_resolve() {
        let pairs = [
            ("ER_TABLEACCESS_DENIED_ERROR", 1142),
            ("ErrTableaccessDenied", 1142),
            ("ER_SPECIFIC_ACCESS_DENIED_ERROR", 1227),
            ("ErrSpecificAccessDenied", 1227),
            ("ER_UNKNOWN_ERROR", 1105),
            ("ErrUnknown", 1105),
            ("ErrAsOf", 8135),
            ("ER_NO_SUCH_TABLE", 1146),
            ("ER_PARSE_ERROR", 1064),
            ("ER_BAD_FIELD_ERROR", 1054),
            ("ER_DUP_ENTRY", 1062),
            ("ER_UNKNOWN_SYSTEM_VARIABLE", 1193),
            ("ER_WRONG_VALUE_FOR_VAR", 1231),
        ];
        for (name, code) in pairs {
            assert_eq!(code_for_name(name), Some(code), "{name}");
        }
    }

    #[test]
    fn unknown_name_is_none() {
        assert_eq!(code_for_name("er_no_such_table"), None);
        assert_eq!(code_for_name("ER_NOPE"), None);
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = NAMES.iter().map(|(name, _)| *name).collect();
        names.sort();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count);
    }
}
