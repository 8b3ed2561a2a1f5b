//! Tests of accounts, grants, checks and SHOW GRANTS.

use sha1::{Digest, Sha1};

use super::errors::PrivilegeError;
use super::privileges::*;
use crate::target::SqlError;

fn root() -> UserIdentity {
    UserIdentity::root()
}

fn u1() -> UserIdentity {
    UserIdentity::new("u1", "%")
}

fn with_user(password: Option<&str>) -> Privileges {
    let mut privileges = Privileges::new();
    privileges
        .create_users(
            &root(),
            &[NewUser {
                identity: u1(),
                password: password.map(str::to_string),
            }],
            false,
        )
        .expect("create user");
    privileges
}

fn grant(privileges: &mut Privileges, list: &[Privilege], level: GrantLevel) {
    privileges
        .grant(
            &root(),
            &PrivilegeList::Only(list.to_vec()),
            &level,
            &[u1()],
            false,
        )
        .expect("grant");
}

fn db(name: &str) -> GrantLevel {
    GrantLevel::Database(name.to_string())
}

#[test]
fn root_has_everything() {
    let privileges = Privileges::new();
    assert_eq!(
        privileges.show_grants(&root()).expect("root"),
        vec!["GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION"]
    );
    for privilege in [
        Privilege::Select,
        Privilege::ExecuteModel,
        Privilege::Super,
        Privilege::CreateUser,
    ] {
        assert!(
            privileges.has_privilege(&root(), privilege, Some("any"), Some("t")),
            "{privilege:?}"
        );
    }
    assert!(privileges.may_set_global(&root()));
    assert_eq!(privileges.auth_string(&root()), Some(""));
}

#[test]
fn password_hash_is_native() {
    // SHA1(SHA1("pw")), the stored form of mysql_native_password.
    let expected = format!("*{}", hex::encode_upper(Sha1::digest(Sha1::digest(b"pw"))));
    assert_eq!(native_password_hash("pw"), expected);
    assert_eq!(native_password_hash(""), "");
    let privileges = with_user(Some("pw"));
    assert_eq!(privileges.auth_string(&u1()), Some(expected.as_str()));
    assert!(privileges.check_password(&u1(), "pw"));
    assert!(!privileges.check_password(&u1(), "wrong"));
}

#[test]
fn password_hash_known_vector() {
    // The hash MySQL shows for PASSWORD('password').
    assert_eq!(
        native_password_hash("password"),
        "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
    );
}

#[test]
fn native_scramble_verifies() {
    let salt = b"0123456789abcdefghij";
    let stage1 = Sha1::digest(b"secret");
    let stored = native_password_hash("secret");
    let stage2 = hex::decode(&stored[1..]).expect("hex");
    let mut hasher = Sha1::new();
    hasher.update(salt);
    hasher.update(&stage2);
    let mask = hasher.finalize();
    let response: Vec<u8> = stage1.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect();

    assert!(verify_native_scramble(&stored, salt, &response));
    assert!(!verify_native_scramble(
        &stored,
        b"another salt 0123456",
        &response
    ));
    assert!(!verify_native_scramble(
        &native_password_hash("other"),
        salt,
        &response
    ));
    assert!(!verify_native_scramble(&stored, salt, &response[..19]));
    assert!(verify_native_scramble("", salt, &[]));
    assert!(!verify_native_scramble("", salt, &response));
    assert!(!verify_native_scramble("not-a-hash", salt, &response));
}

#[test]
fn create_existing_user_fails() {
    let mut privileges = with_user(None);
    let err = privileges
        .create_users(
            &root(),
            &[
                NewUser {
                    identity: UserIdentity::new("u2", "%"),
                    password: None,
                },
                NewUser {
                    identity: u1(),
                    password: None,
                },
            ],
            false,
        )
        .expect_err("exists");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(1396, "HY000", "Operation CREATE USER failed for u1@%")
    );
    assert!(
        !privileges.account_exists(&UserIdentity::new("u2", "%")),
        "statement is atomic"
    );

    let warnings = privileges
        .create_users(
            &root(),
            &[NewUser {
                identity: u1(),
                password: None,
            }],
            true,
        )
        .expect("if not exists");
    assert_eq!(warnings.len(), 1);
    assert_eq!((warnings[0].level, warnings[0].code), ("Note", 3163));
    assert_eq!(warnings[0].message, "User u1@% already exists.");
}

#[test]
fn drop_missing_user_fails() {
    let mut privileges = with_user(None);
    let err = privileges
        .drop_users(&root(), &[UserIdentity::new("nobody", "%")], false)
        .expect_err("missing");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(1396, "HY000", "Operation DROP USER failed for nobody@%")
    );
    let warnings = privileges
        .drop_users(&root(), &[u1(), UserIdentity::new("nobody", "%")], true)
        .expect("if exists");
    assert_eq!(warnings[0].code, 3162);
    assert_eq!(warnings[0].message, "User nobody@% does not exist.");
    assert!(!privileges.account_exists(&u1()));
}

#[test]
fn user_management_needs_create_user() {
    let mut privileges = with_user(None);
    let new = [NewUser {
        identity: UserIdentity::new("u2", "%"),
        password: None,
    }];
    let err = privileges
        .create_users(&u1(), &new, false)
        .expect_err("denied");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(
            1227,
            "42000",
            "Access denied; you need (at least one of) the CREATE USER privilege(s) for this operation"
        )
    );
    let err = privileges
        .drop_users(&u1(), &[root()], false)
        .expect_err("denied");
    assert!(matches!(err, PrivilegeError::SpecificAccessDenied { .. }));

    grant(
        &mut privileges,
        &[Privilege::CreateUser],
        GrantLevel::Global,
    );
    privileges
        .create_users(&u1(), &new, false)
        .expect("allowed now");
}

#[test]
fn set_password_rules() {
    let mut privileges = with_user(Some("old"));
    privileges
        .set_password(&u1(), &u1(), "new")
        .expect("own password");
    assert!(privileges.check_password(&u1(), "new"));
    let err = privileges
        .set_password(&u1(), &root(), "x")
        .expect_err("other account");
    assert!(matches!(err, PrivilegeError::SpecificAccessDenied { .. }));
    let err = privileges
        .set_password(&root(), &UserIdentity::new("ghost", "%"), "x")
        .expect_err("missing");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(
            1133,
            "42000",
            "Can't find any matching row in the user table"
        )
    );
}

#[test]
fn table_check_table() {
    let mut privileges = with_user(None);
    grant(&mut privileges, &[Privilege::Select], GrantLevel::Global);
    grant(&mut privileges, &[Privilege::Insert], db("d1"));
    grant(
        &mut privileges,
        &[Privilege::Update],
        GrantLevel::Table("d1".into(), "t1".into()),
    );

    // (privilege, db, table, allowed)
    let cases = [
        (Privilege::Select, "any", "t", true),
        (Privilege::Insert, "d1", "t9", true),
        (Privilege::Insert, "D1", "t9", true),
        (Privilege::Insert, "d2", "t9", false),
        (Privilege::Update, "d1", "t1", true),
        (Privilege::Update, "d1", "T1", true),
        (Privilege::Update, "d1", "t2", false),
        (Privilege::Delete, "d1", "t1", false),
        (Privilege::Drop, "d1", "t1", false),
    ];
    for (privilege, db_name, table, allowed) in cases {
        let result = privileges.check_table(&u1(), privilege, db_name, table);
        assert_eq!(
            result.is_ok(),
            allowed,
            "{privilege:?} on {db_name}.{table}"
        );
        if let Err(err) = result {
            assert_eq!(
                SqlError::from(err),
                SqlError::new(
                    1142,
                    "42000",
                    format!(
                        "{} command denied to user 'u1'@'%' for table '{table}'",
                        privilege.as_str()
                    )
                )
            );
        }
    }
}

#[test]
fn model_check_table() {
    let mut privileges = with_user(None);
    grant(&mut privileges, &[Privilege::ExecuteModel], db("app"));
    grant(
        &mut privileges,
        &[Privilege::CreateModel],
        GrantLevel::Global,
    );

    // (privilege, db, allowed)
    let cases = [
        (Privilege::ExecuteModel, "app", true),
        (Privilege::ExecuteModel, "APP", true),
        (Privilege::ExecuteModel, "other", false),
        (Privilege::CreateModel, "other", true),
        (Privilege::AlterModel, "app", false),
        (Privilege::DropModel, "app", false),
    ];
    for (privilege, db_name, allowed) in cases {
        let result = privileges.check_model(&u1(), privilege, db_name);
        assert_eq!(result.is_ok(), allowed, "{privilege:?} on {db_name}");
        if let Err(err) = result {
            assert_eq!(
                SqlError::from(err),
                SqlError::new(
                    1227,
                    "42000",
                    format!(
                        "Access denied; you need (at least one of) the {} privilege(s) for this operation",
                        privilege.as_str()
                    )
                )
            );
        }
    }
}

#[test]
fn database_check_denied() {
    let privileges = with_user(None);
    let err = privileges
        .check_database(&u1(), Privilege::Create, "d1")
        .expect_err("denied");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(
            1044,
            "42000",
            "Access denied for user 'u1'@'%' to database 'd1'"
        )
    );
}

#[test]
fn unknown_account_has_nothing() {
    let privileges = Privileges::new();
    let ghost = UserIdentity::new("ghost", "%");
    assert!(privileges
        .check_table(&ghost, Privilege::Select, "d", "t")
        .is_err());
    assert!(!privileges.may_set_global(&ghost));
}

#[test]
fn set_global_needs_super_or_admin() {
    let mut privileges = with_user(None);
    assert!(!privileges.may_set_global(&u1()));
    grant(
        &mut privileges,
        &[Privilege::SystemVariablesAdmin],
        GrantLevel::Global,
    );
    assert!(privileges.may_set_global(&u1()));

    let mut other = with_user(None);
    grant(&mut other, &[Privilege::Super], GrantLevel::Global);
    assert!(other.may_set_global(&u1()));
}

#[test]
fn show_grants_rendering() {
    let mut privileges = with_user(None);
    assert_eq!(
        privileges.show_grants(&u1()).expect("fresh"),
        vec!["GRANT USAGE ON *.* TO 'u1'@'%'"]
    );
    assert_eq!(Privileges::show_grants_header(&u1()), "Grants for u1@%");

    // Granted out of order; printed in the fixed order.
    grant(
        &mut privileges,
        &[
            Privilege::Update,
            Privilege::Super,
            Privilege::Select,
            Privilege::Process,
            Privilege::Insert,
        ],
        GrantLevel::Global,
    );
    grant(
        &mut privileges,
        &[Privilege::ExecuteModel, Privilege::Create],
        db("test"),
    );
    grant(
        &mut privileges,
        &[Privilege::Update],
        GrantLevel::Table("test".into(), "t1".into()),
    );
    grant(
        &mut privileges,
        &[Privilege::SystemVariablesAdmin],
        GrantLevel::Global,
    );
    privileges
        .grant(&root(), &PrivilegeList::All, &db("app"), &[u1()], true)
        .expect("all on app");

    assert_eq!(
        privileges.show_grants(&u1()).expect("grants"),
        vec![
            "GRANT SELECT,INSERT,UPDATE,PROCESS,SUPER ON *.* TO 'u1'@'%'",
            "GRANT ALL PRIVILEGES ON app.* TO 'u1'@'%' WITH GRANT OPTION",
            "GRANT CREATE,EXECUTE MODEL ON test.* TO 'u1'@'%'",
            "GRANT UPDATE ON test.t1 TO 'u1'@'%'",
            "GRANT SYSTEM_VARIABLES_ADMIN ON *.* TO 'u1'@'%'",
        ]
    );
}

#[test]
fn show_grants_missing_user() {
    let privileges = Privileges::new();
    let err = privileges
        .show_grants(&UserIdentity::new("u1", "%"))
        .expect_err("missing");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(
            1141,
            "42000",
            "There is no such grant defined for user 'u1' on host '%'"
        )
    );
}

#[test]
fn grant_level_rules() {
    let mut privileges = with_user(None);
    let err = privileges
        .grant(
            &root(),
            &PrivilegeList::Only(vec![Privilege::Super]),
            &db("d"),
            &[u1()],
            false,
        )
        .expect_err("global privilege on db");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(
            1221,
            "HY000",
            "Incorrect usage of DB GRANT and GLOBAL PRIVILEGES"
        )
    );
    let err = privileges
        .grant(
            &root(),
            &PrivilegeList::Only(vec![Privilege::ExecuteModel]),
            &GrantLevel::Table("d".into(), "t".into()),
            &[u1()],
            false,
        )
        .expect_err("model privilege on table");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(
            1144,
            "42000",
            "Illegal GRANT/REVOKE command; please consult the manual to see which privileges can be used"
        )
    );
}

#[test]
fn grant_to_missing_user_fails() {
    let mut privileges = Privileges::new();
    let err = privileges
        .grant(
            &root(),
            &PrivilegeList::All,
            &GrantLevel::Global,
            &[u1()],
            false,
        )
        .expect_err("missing");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(
            1410,
            "42000",
            "You are not allowed to create a user with GRANT"
        )
    );
}

#[test]
fn grant_needs_grant_option_and_privilege() {
    let mut privileges = with_user(None);
    privileges
        .create_users(
            &root(),
            &[NewUser {
                identity: UserIdentity::new("u2", "%"),
                password: None,
            }],
            false,
        )
        .expect("u2");
    let u2 = [UserIdentity::new("u2", "%")];
    let select = PrivilegeList::Only(vec![Privilege::Select]);

    // No grant option anywhere.
    let err = privileges
        .grant(&u1(), &select, &db("d"), &u2, false)
        .expect_err("no option");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(
            1044,
            "42000",
            "Access denied for user 'u1'@'%' to database 'd'"
        )
    );
    let err = privileges
        .grant(&u1(), &select, &GrantLevel::Global, &u2, false)
        .expect_err("no option");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(
            1227,
            "42000",
            "Access denied; you need (at least one of) the GRANT OPTION privilege(s) for this operation"
        )
    );
    let err = privileges
        .grant(
            &u1(),
            &select,
            &GrantLevel::Table("d".into(), "t".into()),
            &u2,
            false,
        )
        .expect_err("no option");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(
            1142,
            "42000",
            "GRANT command denied to user 'u1'@'%' for table 't'"
        )
    );

    // Grant option on d with SELECT: may pass SELECT on d, not INSERT.
    privileges
        .grant(&root(), &select, &db("d"), &[u1()], true)
        .expect("with grant option");
    privileges
        .grant(&u1(), &select, &db("d"), &u2, false)
        .expect("pass on");
    assert!(privileges.has_privilege(&u2[0], Privilege::Select, Some("d"), None));
    let insert = PrivilegeList::Only(vec![Privilege::Insert]);
    assert!(privileges
        .grant(&u1(), &insert, &db("d"), &u2, false)
        .is_err());
    assert!(privileges
        .grant(&u1(), &select, &db("e"), &u2, false)
        .is_err());
}

#[test]
fn revoke_removes_privileges() {
    let mut privileges = with_user(None);
    grant(
        &mut privileges,
        &[Privilege::Select, Privilege::Insert],
        db("d"),
    );
    privileges
        .revoke(
            &root(),
            &PrivilegeList::Only(vec![Privilege::Select]),
            &db("d"),
            &[u1()],
            false,
        )
        .expect("revoke");
    assert!(!privileges.has_privilege(&u1(), Privilege::Select, Some("d"), None));
    assert!(privileges.has_privilege(&u1(), Privilege::Insert, Some("d"), None));

    privileges
        .revoke(&root(), &PrivilegeList::All, &db("d"), &[u1()], false)
        .expect("revoke all");
    assert_eq!(
        privileges.show_grants(&u1()).expect("grants"),
        vec!["GRANT USAGE ON *.* TO 'u1'@'%'"]
    );

    let err = privileges
        .revoke(&root(), &PrivilegeList::All, &db("d"), &[u1()], false)
        .expect_err("no grant left");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(
            1141,
            "42000",
            "There is no such grant defined for user 'u1' on host '%'"
        )
    );
    let err = privileges
        .revoke(
            &root(),
            &PrivilegeList::Only(vec![Privilege::Select]),
            &GrantLevel::Table("d".into(), "t".into()),
            &[u1()],
            false,
        )
        .expect_err("no table grant");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(
            1147,
            "42000",
            "There is no such grant defined for user 'u1' on host '%' on table 't'"
        )
    );
}

#[test]
fn revoke_grant_option() {
    let mut privileges = with_user(None);
    privileges
        .grant(
            &root(),
            &PrivilegeList::Only(vec![Privilege::Select]),
            &GrantLevel::Global,
            &[u1()],
            true,
        )
        .expect("grant");
    privileges
        .revoke(
            &root(),
            &PrivilegeList::Only(vec![]),
            &GrantLevel::Global,
            &[u1()],
            true,
        )
        .expect("revoke option");
    assert_eq!(
        privileges.show_grants(&u1()).expect("grants"),
        vec!["GRANT SELECT ON *.* TO 'u1'@'%'"]
    );
}

#[test]
fn privilege_names_parse() {
    let cases = [
        ("select", Some(Privilege::Select)),
        ("CREATE   MODEL", Some(Privilege::CreateModel)),
        ("execute model", Some(Privilege::ExecuteModel)),
        ("MODEL_EXECUTE", Some(Privilege::ExecuteModel)),
        ("create user", Some(Privilege::CreateUser)),
        (
            "system_variables_admin",
            Some(Privilege::SystemVariablesAdmin),
        ),
        ("EXECUTE", None),
        ("", None),
    ];
    for (name, expected) in cases {
        assert_eq!(Privilege::parse(name), expected, "{name:?}");
    }
}

#[test]
fn host_patterns_match() {
    let cases = [
        ("%", "10.0.0.1", true),
        ("localhost", "LOCALHOST", true),
        ("localhost", "127.0.0.1", false),
        ("10.0.%", "10.0.3.4", true),
        ("10.0.%", "10.1.3.4", false),
        ("host_", "host1", true),
        ("host_", "host12", false),
        ("", "", true),
    ];
    for (pattern, host, expected) in cases {
        assert_eq!(host_matches(pattern, host), expected, "{pattern} vs {host}");
    }
}

#[test]
fn login_picks_most_specific_account() {
    let mut privileges = Privileges::new();
    let accounts = ["%", "10.0.%", "10.0.0.1"].map(|host| NewUser {
        identity: UserIdentity::new("app", host),
        password: None,
    });
    privileges
        .create_users(&root(), &accounts, false)
        .expect("create");
    let host_of = |client: &str| {
        privileges
            .find_account("app", client)
            .map(|id| id.host.clone())
    };
    assert_eq!(host_of("10.0.0.1").as_deref(), Some("10.0.0.1"));
    assert_eq!(host_of("10.0.0.2").as_deref(), Some("10.0.%"));
    assert_eq!(host_of("192.168.1.1").as_deref(), Some("%"));
    assert_eq!(privileges.find_account("nobody", "10.0.0.1"), None);
}
