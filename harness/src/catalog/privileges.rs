//! Accounts, grants and privilege checks, with MySQL's error codes and
//! TiDB's SHOW GRANTS text.
//!
//! Grants exist at three levels: global (`*.*`), database (`db.*`) and
//! table (`db.t`). A check passes when any level that covers the object
//! has the privilege. The model privileges (`CREATE MODEL`, `ALTER
//! MODEL`, `DROP MODEL`, `EXECUTE MODEL`) exist at global and database
//! level. A failed model check returns 1227, the code TiDB uses for
//! privileges outside MySQL's table model, naming the privilege.
//!
//! Passwords are stored as the `mysql_native_password` hash
//! (`*` + uppercase hex of SHA1(SHA1(password)), empty for no password), so
//! a MySQL protocol front end can verify logins with
//! [`verify_native_scramble`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use sha1::{Digest, Sha1};

use super::errors::{PrivilegeError, SqlWarning};

/// An account: user name and host pattern. User names are case-sensitive;
/// host patterns are not.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserIdentity {
    /// User name.
    pub user: String,
    /// Host pattern (`%`, `localhost`, `10.0.%`, ...).
    pub host: String,
}

impl UserIdentity {
    /// Builds an identity.
    pub fn new(user: impl Into<String>, host: impl Into<String>) -> UserIdentity {
        UserIdentity {
            user: user.into(),
            host: host.into(),
        }
    }

    /// `root`@`%`, the account every catalog starts with.
    pub fn root() -> UserIdentity {
        UserIdentity::new("root", "%")
    }

    /// The quoted form of GRANT statements: `'user'@'host'`.
    pub fn quoted(&self) -> String {
        format!("'{}'@'{}'", self.user, self.host)
    }

    fn key(&self) -> (String, String) {
        (self.user.clone(), self.host.to_ascii_lowercase())
    }
}

/// TiDB's unquoted `user@host` form, used by `CURRENT_USER()`, the
/// `created_by` columns and error 1396.
impl fmt::Display for UserIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.user, self.host)
    }
}

/// A privilege. The order of the variants is the order SHOW GRANTS lists
/// them in, following TiDB's fixed order for the MySQL ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Privilege {
    /// `SELECT`.
    Select,
    /// `INSERT`.
    Insert,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
    /// `CREATE`.
    Create,
    /// `DROP`.
    Drop,
    /// `PROCESS` (global only).
    Process,
    /// `ALTER`.
    Alter,
    /// `SUPER` (global only).
    Super,
    /// `INDEX`.
    Index,
    /// `CREATE USER` (global only).
    CreateUser,
    /// `CREATE MODEL` (global or database).
    CreateModel,
    /// `ALTER MODEL` (global or database).
    AlterModel,
    /// `DROP MODEL` (global or database).
    DropModel,
    /// `EXECUTE MODEL` (global or database); runs `MODEL_PREDICT`.
    ExecuteModel,
    /// `SYSTEM_VARIABLES_ADMIN`, a dynamic privilege (global only) that
    /// allows SET GLOBAL.
    SystemVariablesAdmin,
}

/// Level a GRANT or REVOKE applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantLevel {
    /// `*.*`.
    Global,
    /// `db.*`.
    Database(String),
    /// `db.table`.
    Table(String, String),
}

/// The privilege list of a GRANT or REVOKE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivilegeList {
    /// `ALL [PRIVILEGES]`: every privilege the level allows, except dynamic
    /// ones.
    All,
    /// Named privileges.
    Only(Vec<Privilege>),
}

const ALL_PRIVILEGES: [Privilege; 16] = [
    Privilege::Select,
    Privilege::Insert,
    Privilege::Update,
    Privilege::Delete,
    Privilege::Create,
    Privilege::Drop,
    Privilege::Process,
    Privilege::Alter,
    Privilege::Super,
    Privilege::Index,
    Privilege::CreateUser,
    Privilege::CreateModel,
    Privilege::AlterModel,
    Privilege::DropModel,
    Privilege::ExecuteModel,
    Privilege::SystemVariablesAdmin,
];

impl Privilege {
    /// Parses a privilege name as GRANT writes it, case-insensitively and
    /// with any run of spaces between words. `MODEL_EXECUTE` is accepted
    /// as another name of `EXECUTE MODEL`.
    pub fn parse(name: &str) -> Option<Privilege> {
        let words: Vec<String> = name
            .split_whitespace()
            .map(str::to_ascii_uppercase)
            .collect();
        let normalized = words.join(" ");
        if normalized == "MODEL_EXECUTE" {
            return Some(Privilege::ExecuteModel);
        }
        ALL_PRIVILEGES
            .into_iter()
            .find(|p| p.as_str() == normalized)
    }

    /// The name as SHOW GRANTS and error messages write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::Select => "SELECT",
            Privilege::Insert => "INSERT",
            Privilege::Update => "UPDATE",
            Privilege::Delete => "DELETE",
            Privilege::Create => "CREATE",
            Privilege::Drop => "DROP",
            Privilege::Process => "PROCESS",
            Privilege::Alter => "ALTER",
            Privilege::Super => "SUPER",
            Privilege::Index => "INDEX",
            Privilege::CreateUser => "CREATE USER",
            Privilege::CreateModel => "CREATE MODEL",
            Privilege::AlterModel => "ALTER MODEL",
            Privilege::DropModel => "DROP MODEL",
            Privilege::ExecuteModel => "EXECUTE MODEL",
            Privilege::SystemVariablesAdmin => "SYSTEM_VARIABLES_ADMIN",
        }
    }

    /// Whether the privilege can be granted at database level.
    pub fn allowed_on_database(self) -> bool {
        !matches!(
            self,
            Privilege::Process
                | Privilege::Super
                | Privilege::CreateUser
                | Privilege::SystemVariablesAdmin
        )
    }

    /// Whether the privilege can be granted at table level.
    pub fn allowed_on_table(self) -> bool {
        matches!(
            self,
            Privilege::Select
                | Privilege::Insert
                | Privilege::Update
                | Privilege::Delete
                | Privilege::Create
                | Privilege::Drop
                | Privilege::Alter
                | Privilege::Index
        )
    }

    /// Whether SHOW GRANTS lists it on its own line, as TiDB does for
    /// dynamic privileges.
    pub fn is_dynamic(self) -> bool {
        self == Privilege::SystemVariablesAdmin
    }
}

/// The privileges `ALL` means at a level.
fn all_at(level: &GrantLevel) -> BTreeSet<Privilege> {
    ALL_PRIVILEGES
        .into_iter()
        .filter(|p| !p.is_dynamic())
        .filter(|p| match level {
            GrantLevel::Global => true,
            GrantLevel::Database(_) => p.allowed_on_database(),
            GrantLevel::Table(..) => p.allowed_on_table(),
        })
        .collect()
}

/// The privileges held at one level, and whether they may be passed on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct GrantRow {
    privileges: BTreeSet<Privilege>,
    grant_option: bool,
}

impl GrantRow {
    fn is_empty(&self) -> bool {
        self.privileges.is_empty() && !self.grant_option
    }
}

/// One account and its grants.
#[derive(Debug, Clone)]
struct Account {
    identity: UserIdentity,
    /// `mysql_native_password` hash; empty for no password.
    auth_string: String,
    global: GrantRow,
    /// Keyed by lowercase database name; the value keeps the name as
    /// written in the GRANT.
    databases: BTreeMap<String, (String, GrantRow)>,
    /// Keyed by lowercase `(db, table)`.
    tables: BTreeMap<(String, String), ((String, String), GrantRow)>,
}

/// A CREATE USER entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// The account.
    pub identity: UserIdentity,
    /// `IDENTIFIED BY` password; `None` for no password.
    pub password: Option<String>,
}

/// All accounts of one server.
#[derive(Debug, Clone)]
pub struct Privileges {
    /// Keyed by `(user, lowercase host)`.
    accounts: BTreeMap<(String, String), Account>,
}

impl Default for Privileges {
    fn default() -> Privileges {
        Privileges::new()
    }
}

impl Privileges {
    /// Accounts with only `root`@`%`: no password, all privileges on `*.*`
    /// with grant option.
    pub fn new() -> Privileges {
        let root = UserIdentity::root();
        let account = Account {
            identity: root.clone(),
            auth_string: String::new(),
            global: GrantRow {
                privileges: all_at(&GrantLevel::Global),
                grant_option: true,
            },
            databases: BTreeMap::new(),
            tables: BTreeMap::new(),
        };
        let mut accounts = BTreeMap::new();
        accounts.insert(root.key(), account);
        Privileges { accounts }
    }

    /// Whether the account exists.
    pub fn account_exists(&self, identity: &UserIdentity) -> bool {
        self.accounts.contains_key(&identity.key())
    }

    /// The account a login as `user` from `client_host` uses: the matching
    /// account with the most specific host (no wildcard before wildcard,
    /// then longer patterns first, `%` last).
    pub fn find_account(&self, user: &str, client_host: &str) -> Option<&UserIdentity> {
        self.accounts
            .values()
            .filter(|a| a.identity.user == user && host_matches(&a.identity.host, client_host))
            .min_by_key(|a| {
                let host = &a.identity.host;
                let wildcard = host.contains('%') || host.contains('_');
                (wildcard, std::cmp::Reverse(host.len()))
            })
            .map(|a| &a.identity)
    }

    /// The stored `mysql_native_password` hash of an account.
    pub fn auth_string(&self, identity: &UserIdentity) -> Option<&str> {
        self.accounts
            .get(&identity.key())
            .map(|a| a.auth_string.as_str())
    }

    /// Whether `password` is the account's password.
    pub fn check_password(&self, identity: &UserIdentity, password: &str) -> bool {
        self.auth_string(identity)
            .is_some_and(|stored| stored == native_password_hash(password))
    }

    /// Runs CREATE USER as `actor`, which needs CREATE USER.
    ///
    /// Without `if_not_exists`, any existing account fails the whole
    /// statement with 1396 and nothing is created. With it, each existing
    /// account gives Note 3163 and the others are created.
    pub fn create_users(
        &mut self,
        actor: &UserIdentity,
        users: &[NewUser],
        if_not_exists: bool,
    ) -> Result<Vec<SqlWarning>, PrivilegeError> {
        self.check_global(actor, Privilege::CreateUser)?;

        // Existing accounts fail the statement before anything changes.
        let existing: Vec<&NewUser> = users
            .iter()
            .filter(|u| self.account_exists(&u.identity))
            .collect();
        if !existing.is_empty() && !if_not_exists {
            return Err(PrivilegeError::OperationFailed {
                operation: "CREATE USER",
                accounts: join_accounts(existing.iter().map(|u| &u.identity)),
            });
        }

        let mut warnings = Vec::new();
        for user in users {
            if self.account_exists(&user.identity) {
                warnings.push(SqlWarning {
                    level: "Note",
                    code: 3163,
                    message: format!("User {} already exists.", user.identity),
                });
                continue;
            }
            let auth_string = user
                .password
                .as_deref()
                .map(native_password_hash)
                .unwrap_or_default();
            self.accounts.insert(
                user.identity.key(),
                Account {
                    identity: user.identity.clone(),
                    auth_string,
                    global: GrantRow::default(),
                    databases: BTreeMap::new(),
                    tables: BTreeMap::new(),
                },
            );
        }
        Ok(warnings)
    }

    /// Runs DROP USER as `actor`, which needs CREATE USER.
    ///
    /// Without `if_exists`, any missing account fails the whole statement
    /// with 1396 and nothing is dropped. With it, each missing account
    /// gives Note 3162.
    pub fn drop_users(
        &mut self,
        actor: &UserIdentity,
        users: &[UserIdentity],
        if_exists: bool,
    ) -> Result<Vec<SqlWarning>, PrivilegeError> {
        self.check_global(actor, Privilege::CreateUser)?;

        let missing: Vec<&UserIdentity> =
            users.iter().filter(|u| !self.account_exists(u)).collect();
        if !missing.is_empty() && !if_exists {
            return Err(PrivilegeError::OperationFailed {
                operation: "DROP USER",
                accounts: join_accounts(missing.into_iter()),
            });
        }

        let mut warnings = Vec::new();
        for user in users {
            if self.accounts.remove(&user.key()).is_none() {
                warnings.push(SqlWarning {
                    level: "Note",
                    code: 3162,
                    message: format!("User {user} does not exist."),
                });
            }
        }
        Ok(warnings)
    }

    /// Runs SET PASSWORD FOR `target` as `actor`. Changing another
    /// account's password needs CREATE USER.
    pub fn set_password(
        &mut self,
        actor: &UserIdentity,
        target: &UserIdentity,
        password: &str,
    ) -> Result<(), PrivilegeError> {
        if actor.key() != target.key() {
            self.check_global(actor, Privilege::CreateUser)?;
        }
        let account = self
            .accounts
            .get_mut(&target.key())
            .ok_or(PrivilegeError::NoSuchUser)?;
        account.auth_string = native_password_hash(password);
        Ok(())
    }

    /// Runs GRANT as `actor`.
    ///
    /// The actor needs GRANT OPTION and every granted privilege at a level
    /// that covers `level`. Every grantee must exist (1410 otherwise).
    pub fn grant(
        &mut self,
        actor: &UserIdentity,
        list: &PrivilegeList,
        level: &GrantLevel,
        grantees: &[UserIdentity],
        with_grant_option: bool,
    ) -> Result<(), PrivilegeError> {
        let privileges = expand_list(list, level)?;
        self.check_grant_authority(actor, &privileges, level)?;
        if grantees.iter().any(|g| !self.account_exists(g)) {
            return Err(PrivilegeError::CantCreateUserWithGrant);
        }

        for grantee in grantees {
            let Some(account) = self.accounts.get_mut(&grantee.key()) else {
                continue;
            };
            let row = row_for_level(account, level);
            row.privileges.extend(privileges.iter().copied());
            row.grant_option |= with_grant_option;
        }
        Ok(())
    }

    /// Runs REVOKE as `actor`, with the same authority rule as GRANT.
    ///
    /// `grant_option` also revokes GRANT OPTION at that level (`REVOKE ...,
    /// GRANT OPTION`). A grantee with no grant at a database or table level
    /// gives 1141 or 1147.
    pub fn revoke(
        &mut self,
        actor: &UserIdentity,
        list: &PrivilegeList,
        level: &GrantLevel,
        grantees: &[UserIdentity],
        grant_option: bool,
    ) -> Result<(), PrivilegeError> {
        let privileges = expand_list(list, level)?;
        self.check_grant_authority(actor, &privileges, level)?;

        // Every grantee must exist and, below global level, hold a grant
        // row there; otherwise nothing is revoked.
        for grantee in grantees {
            let Some(account) = self.accounts.get(&grantee.key()) else {
                return Err(PrivilegeError::NonExistingGrant {
                    user: grantee.user.clone(),
                    host: grantee.host.clone(),
                });
            };
            match level {
                GrantLevel::Global => {}
                GrantLevel::Database(db) => {
                    if !account.databases.contains_key(&db.to_ascii_lowercase()) {
                        return Err(PrivilegeError::NonExistingGrant {
                            user: grantee.user.clone(),
                            host: grantee.host.clone(),
                        });
                    }
                }
                GrantLevel::Table(db, table) => {
                    let key = (db.to_ascii_lowercase(), table.to_ascii_lowercase());
                    if !account.tables.contains_key(&key) {
                        return Err(PrivilegeError::NonExistingTableGrant {
                            user: grantee.user.clone(),
                            host: grantee.host.clone(),
                            table: table.clone(),
                        });
                    }
                }
            }
        }

        for grantee in grantees {
            let Some(account) = self.accounts.get_mut(&grantee.key()) else {
                continue;
            };
            let row = row_for_level(account, level);
            row.privileges.retain(|p| !privileges.contains(p));
            if grant_option {
                row.grant_option = false;
            }
            prune_empty_rows(account);
        }
        Ok(())
    }

    /// The column header of SHOW GRANTS FOR `identity`: `Grants for
    /// user@host`.
    pub fn show_grants_header(identity: &UserIdentity) -> String {
        format!("Grants for {identity}")
    }

    /// The rows of SHOW GRANTS FOR `identity`, in TiDB's order: the global
    /// line (`USAGE` when empty), database lines, table lines, then one
    /// line per dynamic privilege. Privileges within a line are joined by
    /// `,` in [`Privilege`] order; a full set prints as `ALL PRIVILEGES`.
    pub fn show_grants(&self, identity: &UserIdentity) -> Result<Vec<String>, PrivilegeError> {
        let account =
            self.accounts
                .get(&identity.key())
                .ok_or_else(|| PrivilegeError::NonExistingGrant {
                    user: identity.user.clone(),
                    host: identity.host.clone(),
                })?;
        let to = account.identity.quoted();
        let mut lines = Vec::new();

        // Global line, always present.
        let static_global: BTreeSet<Privilege> = account
            .global
            .privileges
            .iter()
            .copied()
            .filter(|p| !p.is_dynamic())
            .collect();
        let global_list = if static_global.is_empty() {
            "USAGE".to_string()
        } else {
            render_list(&static_global, &GrantLevel::Global)
        };
        lines.push(grant_line(
            &global_list,
            "*.*",
            &to,
            account.global.grant_option,
        ));

        for (name, row) in account.databases.values() {
            let level = GrantLevel::Database(name.clone());
            let list = render_list(&row.privileges, &level);
            lines.push(grant_line(
                &list,
                &format!("{name}.*"),
                &to,
                row.grant_option,
            ));
        }

        for ((db, table), row) in account.tables.values() {
            let level = GrantLevel::Table(db.clone(), table.clone());
            let list = render_list(&row.privileges, &level);
            lines.push(grant_line(
                &list,
                &format!("{db}.{table}"),
                &to,
                row.grant_option,
            ));
        }

        for privilege in account.global.privileges.iter().filter(|p| p.is_dynamic()) {
            lines.push(grant_line(privilege.as_str(), "*.*", &to, false));
        }
        Ok(lines)
    }

    /// Whether `account` has `privilege` on the object: globally, on
    /// database `db` (when given) or on table `db.table` (when both are
    /// given). Global SUPER implies every dynamic privilege, as in TiDB.
    pub fn has_privilege(
        &self,
        account: &UserIdentity,
        privilege: Privilege,
        db: Option<&str>,
        table: Option<&str>,
    ) -> bool {
        let Some(account) = self.accounts.get(&account.key()) else {
            return false;
        };
        if account.global.privileges.contains(&privilege) {
            return true;
        }
        if privilege.is_dynamic() && account.global.privileges.contains(&Privilege::Super) {
            return true;
        }
        let Some(db) = db else {
            return false;
        };
        let db_key = db.to_ascii_lowercase();
        let on_db = account
            .databases
            .get(&db_key)
            .is_some_and(|(_, row)| row.privileges.contains(&privilege));
        if on_db {
            return true;
        }
        let Some(table) = table else {
            return false;
        };
        account
            .tables
            .get(&(db_key, table.to_ascii_lowercase()))
            .is_some_and(|(_, row)| row.privileges.contains(&privilege))
    }

    /// Checks a table privilege (SELECT, INSERT, ...) on `db.table`; 1142
    /// when denied.
    pub fn check_table(
        &self,
        account: &UserIdentity,
        privilege: Privilege,
        db: &str,
        table: &str,
    ) -> Result<(), PrivilegeError> {
        if self.has_privilege(account, privilege, Some(db), Some(table)) {
            return Ok(());
        }
        Err(PrivilegeError::TableAccessDenied {
            privilege: privilege.as_str().to_string(),
            user: account.user.clone(),
            host: account.host.clone(),
            table: table.to_string(),
        })
    }

    /// Checks a database privilege (CREATE or DROP DATABASE); 1044 when
    /// denied.
    pub fn check_database(
        &self,
        account: &UserIdentity,
        privilege: Privilege,
        db: &str,
    ) -> Result<(), PrivilegeError> {
        if self.has_privilege(account, privilege, Some(db), None) {
            return Ok(());
        }
        Err(PrivilegeError::DbAccessDenied {
            user: account.user.clone(),
            host: account.host.clone(),
            db: db.to_string(),
        })
    }

    /// Checks that the account holds some privilege in database `db`, as
    /// `USE db` needs: a global privilege that exists at database level,
    /// any grant on the database, or any grant on one of its tables. 1044
    /// when it holds none.
    pub fn check_any_in_database(
        &self,
        account: &UserIdentity,
        db: &str,
    ) -> Result<(), PrivilegeError> {
        let db_key = db.to_ascii_lowercase();
        let holds_any = self.accounts.get(&account.key()).is_some_and(|a| {
            a.global.privileges.iter().any(|p| p.allowed_on_database())
                || a.databases
                    .get(&db_key)
                    .is_some_and(|(_, row)| !row.is_empty())
                || a.tables.keys().any(|(table_db, _)| *table_db == db_key)
        });
        if holds_any {
            return Ok(());
        }
        Err(PrivilegeError::DbAccessDenied {
            user: account.user.clone(),
            host: account.host.clone(),
            db: db.to_string(),
        })
    }

    /// Checks a model privilege on database `db`; 1227 naming the
    /// privilege when denied.
    pub fn check_model(
        &self,
        account: &UserIdentity,
        privilege: Privilege,
        db: &str,
    ) -> Result<(), PrivilegeError> {
        if self.has_privilege(account, privilege, Some(db), None) {
            return Ok(());
        }
        Err(PrivilegeError::SpecificAccessDenied {
            privileges: privilege.as_str().to_string(),
        })
    }

    /// Checks a global privilege; 1227 naming the privilege when denied.
    pub fn check_global(
        &self,
        account: &UserIdentity,
        privilege: Privilege,
    ) -> Result<(), PrivilegeError> {
        if self.has_privilege(account, privilege, None, None) {
            return Ok(());
        }
        Err(PrivilegeError::SpecificAccessDenied {
            privileges: privilege.as_str().to_string(),
        })
    }

    /// Whether the account may run SET GLOBAL: SUPER or
    /// SYSTEM_VARIABLES_ADMIN.
    pub fn may_set_global(&self, account: &UserIdentity) -> bool {
        self.has_privilege(account, Privilege::Super, None, None)
            || self.has_privilege(account, Privilege::SystemVariablesAdmin, None, None)
    }

    /// Checks that `actor` may GRANT or REVOKE `privileges` at `level`.
    fn check_grant_authority(
        &self,
        actor: &UserIdentity,
        privileges: &BTreeSet<Privilege>,
        level: &GrantLevel,
    ) -> Result<(), PrivilegeError> {
        let (db, table) = match level {
            GrantLevel::Global => (None, None),
            GrantLevel::Database(db) => (Some(db.as_str()), None),
            GrantLevel::Table(db, table) => (Some(db.as_str()), Some(table.as_str())),
        };
        let has_option = self.has_grant_option(actor, db, table);
        let has_all = privileges
            .iter()
            .all(|p| self.has_privilege(actor, *p, db, table));
        if has_option && has_all {
            return Ok(());
        }

        match level {
            GrantLevel::Global => Err(PrivilegeError::SpecificAccessDenied {
                privileges: "GRANT OPTION".to_string(),
            }),
            GrantLevel::Database(db) => Err(PrivilegeError::DbAccessDenied {
                user: actor.user.clone(),
                host: actor.host.clone(),
                db: db.clone(),
            }),
            GrantLevel::Table(_, table) => Err(PrivilegeError::TableAccessDenied {
                privilege: "GRANT".to_string(),
                user: actor.user.clone(),
                host: actor.host.clone(),
                table: table.clone(),
            }),
        }
    }

    fn has_grant_option(
        &self,
        actor: &UserIdentity,
        db: Option<&str>,
        table: Option<&str>,
    ) -> bool {
        let Some(account) = self.accounts.get(&actor.key()) else {
            return false;
        };
        if account.global.grant_option {
            return true;
        }
        let Some(db) = db else {
            return false;
        };
        let db_key = db.to_ascii_lowercase();
        if account
            .databases
            .get(&db_key)
            .is_some_and(|(_, row)| row.grant_option)
        {
            return true;
        }
        let Some(table) = table else {
            return false;
        };
        account
            .tables
            .get(&(db_key, table.to_ascii_lowercase()))
            .is_some_and(|(_, row)| row.grant_option)
    }
}

/// Expands `ALL` and checks that each privilege exists at the level.
fn expand_list(
    list: &PrivilegeList,
    level: &GrantLevel,
) -> Result<BTreeSet<Privilege>, PrivilegeError> {
    let privileges: BTreeSet<Privilege> = match list {
        PrivilegeList::All => return Ok(all_at(level)),
        PrivilegeList::Only(names) => names.iter().copied().collect(),
    };
    match level {
        GrantLevel::Global => {}
        GrantLevel::Database(_) => {
            if privileges.iter().any(|p| !p.allowed_on_database()) {
                return Err(PrivilegeError::GlobalPrivilegeOnDb);
            }
        }
        GrantLevel::Table(..) => {
            if privileges.iter().any(|p| !p.allowed_on_table()) {
                return Err(PrivilegeError::IllegalTableGrant);
            }
        }
    }
    Ok(privileges)
}

/// The grant row of an account at a level, created empty when missing.
fn row_for_level<'a>(account: &'a mut Account, level: &GrantLevel) -> &'a mut GrantRow {
    match level {
        GrantLevel::Global => &mut account.global,
        GrantLevel::Database(db) => {
            &mut account
                .databases
                .entry(db.to_ascii_lowercase())
                .or_insert_with(|| (db.clone(), GrantRow::default()))
                .1
        }
        GrantLevel::Table(db, table) => {
            &mut account
                .tables
                .entry((db.to_ascii_lowercase(), table.to_ascii_lowercase()))
                .or_insert_with(|| ((db.clone(), table.clone()), GrantRow::default()))
                .1
        }
    }
}

fn prune_empty_rows(account: &mut Account) {
    account.databases.retain(|_, (_, row)| !row.is_empty());
    account.tables.retain(|_, (_, row)| !row.is_empty());
}

fn render_list(privileges: &BTreeSet<Privilege>, level: &GrantLevel) -> String {
    if *privileges == all_at(level) {
        return "ALL PRIVILEGES".to_string();
    }
    privileges
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn grant_line(list: &str, on: &str, to: &str, grant_option: bool) -> String {
    let suffix = if grant_option {
        " WITH GRANT OPTION"
    } else {
        ""
    };
    format!("GRANT {list} ON {on} TO {to}{suffix}")
}

fn join_accounts<'a>(identities: impl Iterator<Item = &'a UserIdentity>) -> String {
    identities
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether a host pattern matches a client host: `%` matches any run of
/// characters, `_` any one character, letters compare case-insensitively.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let host: Vec<char> = host.to_ascii_lowercase().chars().collect();

    // matches[j] is true when the pattern prefix read so far matches the
    // first j host characters.
    let mut matches = vec![false; host.len() + 1];
    matches[0] = true;
    for p in &pattern {
        let mut next = vec![false; host.len() + 1];
        match p {
            '%' => {
                let mut any = false;
                for j in 0..=host.len() {
                    any |= matches[j];
                    next[j] = any;
                }
            }
            _ => {
                for j in 1..=host.len() {
                    next[j] = matches[j - 1] && (*p == '_' || *p == host[j - 1]);
                }
            }
        }
        matches = next;
    }
    matches[host.len()]
}

/// The `mysql_native_password` hash of a password: `*` followed by the
/// uppercase hex of SHA1(SHA1(password)), or the empty string for an
/// empty password.
pub fn native_password_hash(password: &str) -> String {
    if password.is_empty() {
        return String::new();
    }
    let stage2 = Sha1::digest(Sha1::digest(password.as_bytes()));
    format!("*{}", hex::encode_upper(stage2))
}

/// Verifies a `mysql_native_password` login: the client sends
/// SHA1(pw) XOR SHA1(salt + SHA1(SHA1(pw))), and the server stores only
/// SHA1(SHA1(pw)). An empty stored hash accepts only an empty response.
pub fn verify_native_scramble(stored_hash: &str, salt: &[u8], response: &[u8]) -> bool {
    if stored_hash.is_empty() {
        return response.is_empty();
    }
    let Some(hex_part) = stored_hash.strip_prefix('*') else {
        return false;
    };
    let Ok(stage2) = hex::decode(hex_part) else {
        return false;
    };
    if stage2.len() != 20 || response.len() != 20 {
        return false;
    }

    // Recover SHA1(pw) from the response, then hash it again.
    let mut hasher = Sha1::new();
    hasher.update(salt);
    hasher.update(&stage2);
    let mask = hasher.finalize();
    let stage1: Vec<u8> = response
        .iter()
        .zip(mask.iter())
        .map(|(r, m)| r ^ m)
        .collect();
    Sha1::digest(&stage1).as_slice() == stage2.as_slice()
}
