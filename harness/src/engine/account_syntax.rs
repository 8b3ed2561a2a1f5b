//! A small parser for the account statements sqlparser does not accept in
//! TiDB's form: CREATE USER, DROP USER, SET PASSWORD, GRANT and REVOKE
//! (with the model privileges such as `CREATE MODEL`), and SHOW GRANTS.
//!
//! It reads the text directly rather than sqlparser tokens, because
//! account names such as `'u'@'%'` and `u@localhost` do not tokenize as
//! one unit there.

use crate::catalog::privileges::{NewUser, Privilege, PrivilegeList, UserIdentity};

use super::error::{self, EngineResult};

/// An account named in a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSpec {
    /// `'user'@'host'`; a missing host is `%`.
    Named(UserIdentity),
    /// `CURRENT_USER` or `CURRENT_USER()`.
    Current,
}

/// The `ON` part of GRANT and REVOKE, before the current database is
/// filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelSpec {
    /// `*.*`.
    Global,
    /// `*`: the current database.
    CurrentDatabase,
    /// `db.*`.
    Database(String),
    /// `db.t`, or `t` in the current database.
    Table(Option<String>, String),
}

/// A parsed account statement.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountStatement {
    /// `CREATE USER [IF NOT EXISTS] user [IDENTIFIED BY 'pw'], ...`.
    CreateUser {
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// Accounts with their passwords.
        users: Vec<NewUser>,
    },
    /// `DROP USER [IF EXISTS] user, ...`.
    DropUser {
        /// `IF EXISTS`.
        if_exists: bool,
        /// Accounts.
        users: Vec<UserSpec>,
    },
    /// `SET PASSWORD [FOR user] = 'pw'`.
    SetPassword {
        /// The account; `None` for the session's own.
        user: Option<UserSpec>,
        /// The new password in clear text.
        password: String,
    },
    /// `GRANT privileges ON level TO user, ... [WITH GRANT OPTION]`.
    Grant {
        /// Privileges.
        privileges: PrivilegeList,
        /// Level.
        level: LevelSpec,
        /// Grantees.
        users: Vec<UserSpec>,
        /// `WITH GRANT OPTION`.
        with_grant_option: bool,
    },
    /// `REVOKE privileges [, GRANT OPTION] ON level FROM user, ...`.
    Revoke {
        /// Privileges.
        privileges: PrivilegeList,
        /// Whether `GRANT OPTION` is in the list.
        grant_option: bool,
        /// Level.
        level: LevelSpec,
        /// Accounts.
        users: Vec<UserSpec>,
    },
    /// `SHOW GRANTS [FOR user]`.
    ShowGrants {
        /// The account; `None` for the session's own.
        user: Option<UserSpec>,
    },
}

/// Parses `sql` if it is an account statement; `None` for any other
/// statement.
pub fn parse(sql: &str) -> EngineResult<Option<AccountStatement>> {
    let mut cursor = Cursor::new(sql);
    let statement = if cursor.keywords(&["CREATE", "USER"]) {
        parse_create_user(&mut cursor)?
    } else if cursor.keywords(&["DROP", "USER"]) {
        let if_exists = cursor.keywords(&["IF", "EXISTS"]);
        let users = parse_user_list(&mut cursor)?;
        AccountStatement::DropUser { if_exists, users }
    } else if cursor.keywords(&["SET", "PASSWORD"]) {
        parse_set_password(&mut cursor)?
    } else if cursor.keyword("GRANT") {
        parse_grant(&mut cursor)?
    } else if cursor.keyword("REVOKE") {
        parse_revoke(&mut cursor)?
    } else if cursor.keywords(&["SHOW", "GRANTS"]) {
        let user = if cursor.keyword("FOR") {
            Some(parse_user(&mut cursor)?)
        } else {
            None
        };
        AccountStatement::ShowGrants { user }
    } else {
        return Ok(None);
    };
    cursor.expect_end()?;
    Ok(Some(statement))
}

fn parse_create_user(cursor: &mut Cursor) -> EngineResult<AccountStatement> {
    let if_not_exists = cursor.keywords(&["IF", "NOT", "EXISTS"]);
    let mut users = Vec::new();
    loop {
        let UserSpec::Named(identity) = parse_user(cursor)? else {
            return Err(cursor.syntax_error());
        };
        let password = parse_identified(cursor)?;
        users.push(NewUser { identity, password });
        if !cursor.symbol(',') {
            break;
        }
    }
    Ok(AccountStatement::CreateUser {
        if_not_exists,
        users,
    })
}

/// `IDENTIFIED [WITH mysql_native_password] [BY 'pw']`, if present.
fn parse_identified(cursor: &mut Cursor) -> EngineResult<Option<String>> {
    if !cursor.keyword("IDENTIFIED") {
        return Ok(None);
    }
    if cursor.keyword("WITH") {
        let plugin = cursor.name()?;
        if !plugin.eq_ignore_ascii_case("mysql_native_password") {
            return Err(error::unsupported(format!(
                "the authentication plugin '{plugin}' (use mysql_native_password)"
            )));
        }
        if !cursor.keyword("BY") {
            return Ok(Some(String::new()));
        }
    } else if !cursor.keyword("BY") {
        return Err(cursor.syntax_error());
    }
    Ok(Some(cursor.string()?))
}

fn parse_set_password(cursor: &mut Cursor) -> EngineResult<AccountStatement> {
    let user = if cursor.keyword("FOR") {
        Some(parse_user(cursor)?)
    } else {
        None
    };
    if !cursor.symbol('=') {
        return Err(cursor.syntax_error());
    }
    let password = if cursor.keyword("PASSWORD") {
        if !cursor.symbol('(') {
            return Err(cursor.syntax_error());
        }
        let password = cursor.string()?;
        if !cursor.symbol(')') {
            return Err(cursor.syntax_error());
        }
        password
    } else {
        cursor.string()?
    };
    Ok(AccountStatement::SetPassword { user, password })
}

fn parse_grant(cursor: &mut Cursor) -> EngineResult<AccountStatement> {
    let (privileges, grant_option) = parse_privileges(cursor)?;
    if grant_option {
        return Err(error::unsupported(
            "GRANT OPTION in the privilege list (use WITH GRANT OPTION)",
        ));
    }
    let level = parse_level(cursor)?;
    if !cursor.keyword("TO") {
        return Err(cursor.syntax_error());
    }
    let users = parse_user_list(cursor)?;
    let with_grant_option = cursor.keywords(&["WITH", "GRANT", "OPTION"]);
    Ok(AccountStatement::Grant {
        privileges,
        level,
        users,
        with_grant_option,
    })
}

fn parse_revoke(cursor: &mut Cursor) -> EngineResult<AccountStatement> {
    let (privileges, grant_option) = parse_privileges(cursor)?;
    let level = parse_level(cursor)?;
    if !cursor.keyword("FROM") {
        return Err(cursor.syntax_error());
    }
    let users = parse_user_list(cursor)?;
    Ok(AccountStatement::Revoke {
        privileges,
        grant_option,
        level,
        users,
    })
}

/// Reads the privilege list up to `ON`. Returns the list and whether it
/// contains `GRANT OPTION`.
fn parse_privileges(cursor: &mut Cursor) -> EngineResult<(PrivilegeList, bool)> {
    let mut all = false;
    let mut grant_option = false;
    let mut named = Vec::new();
    loop {
        let mut words = Vec::new();
        while let Some(word) = cursor.peek_word() {
            if word.eq_ignore_ascii_case("ON") {
                break;
            }
            cursor.word();
            words.push(word.to_ascii_uppercase());
        }
        let item = words.join(" ");
        match item.as_str() {
            "" => return Err(cursor.syntax_error()),
            "ALL" | "ALL PRIVILEGES" => all = true,
            "GRANT OPTION" => grant_option = true,
            _ => {
                let privilege = Privilege::parse(&item)
                    .ok_or_else(|| error::syntax(&format!("{item} {}", cursor.rest())))?;
                named.push(privilege);
            }
        }
        if !cursor.symbol(',') {
            break;
        }
    }
    if !cursor.keyword("ON") {
        return Err(cursor.syntax_error());
    }

    let list = match (all, named.is_empty()) {
        (true, true) => PrivilegeList::All,
        (true, false) => return Err(cursor.syntax_error()),
        (false, _) => PrivilegeList::Only(named),
    };
    Ok((list, grant_option))
}

/// Reads the level after `ON`: `*.*`, `*`, `db.*`, `db.t` or `t`, with an
/// optional `TABLE` keyword in front.
fn parse_level(cursor: &mut Cursor) -> EngineResult<LevelSpec> {
    cursor.keyword("TABLE");
    if cursor.symbol('*') {
        if !cursor.symbol('.') {
            return Ok(LevelSpec::CurrentDatabase);
        }
        if !cursor.symbol('*') {
            return Err(cursor.syntax_error());
        }
        return Ok(LevelSpec::Global);
    }
    let first = cursor.name()?;
    if !cursor.symbol('.') {
        return Ok(LevelSpec::Table(None, first));
    }
    if cursor.symbol('*') {
        return Ok(LevelSpec::Database(first));
    }
    let table = cursor.name()?;
    Ok(LevelSpec::Table(Some(first), table))
}

fn parse_user_list(cursor: &mut Cursor) -> EngineResult<Vec<UserSpec>> {
    let mut users = vec![parse_user(cursor)?];
    while cursor.symbol(',') {
        users.push(parse_user(cursor)?);
    }
    Ok(users)
}

/// Reads `'user'@'host'`, `user@host`, `'user'` (host `%`) or
/// `CURRENT_USER[()]`.
fn parse_user(cursor: &mut Cursor) -> EngineResult<UserSpec> {
    if cursor.keyword("CURRENT_USER") {
        if cursor.symbol('(') && !cursor.symbol(')') {
            return Err(cursor.syntax_error());
        }
        return Ok(UserSpec::Current);
    }
    let user = cursor.name()?;
    let host = if cursor.symbol_adjacent('@') {
        cursor.host()?
    } else {
        "%".to_string()
    };
    Ok(UserSpec::Named(UserIdentity::new(user, host)))
}

/// A position in the statement text.
struct Cursor<'a> {
    text: &'a str,
    position: usize,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$'
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Cursor<'a> {
        Cursor { text, position: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.position..]
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.position += rest.len() - rest.trim_start().len();
    }

    fn syntax_error(&self) -> error::SqlError {
        error::syntax(self.rest().trim_start())
    }

    fn expect_end(&mut self) -> EngineResult<()> {
        self.skip_space();
        if self.rest().is_empty() {
            Ok(())
        } else {
            Err(self.syntax_error())
        }
    }

    /// Returns the next bare word without consuming it.
    fn peek_word(&mut self) -> Option<String> {
        self.skip_space();
        let rest = self.rest();
        let end = rest.find(|c: char| !is_word_char(c)).unwrap_or(rest.len());
        (end > 0).then(|| rest[..end].to_string())
    }

    /// Consumes and returns the next bare word.
    fn word(&mut self) -> Option<String> {
        let word = self.peek_word()?;
        self.position += word.len();
        Some(word)
    }

    /// Consumes `keyword` (case-insensitive, whole word) if it is next.
    fn keyword(&mut self, keyword: &str) -> bool {
        match self.peek_word() {
            Some(word) if word.eq_ignore_ascii_case(keyword) => {
                self.position += word.len();
                true
            }
            _ => false,
        }
    }

    /// Consumes the keyword sequence if all of it is next; otherwise
    /// consumes nothing.
    fn keywords(&mut self, keywords: &[&str]) -> bool {
        let start = self.position;
        if keywords.iter().all(|k| self.keyword(k)) {
            return true;
        }
        self.position = start;
        false
    }

    /// Consumes `symbol` if it is the next non-space character.
    fn symbol(&mut self, symbol: char) -> bool {
        self.skip_space();
        if self.rest().starts_with(symbol) {
            self.position += symbol.len_utf8();
            return true;
        }
        false
    }

    /// Consumes `symbol` only if it follows without space, as the `@` of
    /// `'u'@'h'` does.
    fn symbol_adjacent(&mut self, symbol: char) -> bool {
        if self.rest().starts_with(symbol) {
            self.position += symbol.len_utf8();
            return true;
        }
        false
    }

    /// Reads a quoted string or identifier starting at the cursor, if
    /// one is there. Single and double quotes allow backslash escapes, and
    /// in every style a doubled quote is one quote character.
    fn quoted(&mut self) -> Option<EngineResult<String>> {
        self.skip_space();
        let quote = self
            .rest()
            .chars()
            .next()
            .filter(|c| matches!(c, '\'' | '"' | '`'))?;
        let mut value = String::new();
        let mut chars = self.rest().char_indices().skip(1).peekable();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                if chars.peek().is_some_and(|(_, next)| *next == quote) {
                    chars.next();
                    value.push(quote);
                    continue;
                }
                self.position += i + c.len_utf8();
                return Some(Ok(value));
            }
            if c == '\\' && quote != '`' {
                match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, 't')) => value.push('\t'),
                    Some((_, '0')) => value.push('\0'),
                    Some((_, escaped)) => value.push(escaped),
                    None => break,
                }
                continue;
            }
            value.push(c);
        }
        Some(Err(error::syntax(self.rest())))
    }

    /// Reads a quoted or bare name.
    fn name(&mut self) -> EngineResult<String> {
        if let Some(quoted) = self.quoted() {
            return quoted;
        }
        self.word().ok_or_else(|| self.syntax_error())
    }

    /// Reads a string literal in single or double quotes.
    fn string(&mut self) -> EngineResult<String> {
        self.skip_space();
        if self.rest().starts_with('`') {
            return Err(self.syntax_error());
        }
        match self.quoted() {
            Some(value) => value,
            None => Err(self.syntax_error()),
        }
    }

    /// Reads the host after `@`: quoted, or a bare run such as `localhost`,
    /// `127.0.0.1` or `10.0.%`.
    fn host(&mut self) -> EngineResult<String> {
        if let Some(quoted) = self.quoted() {
            return quoted;
        }
        let rest = self.rest();
        let end = rest
            .find(|c: char| !(is_word_char(c) || matches!(c, '.' | '%' | '-' | ':')))
            .unwrap_or(rest.len());
        if end == 0 {
            return Err(self.syntax_error());
        }
        self.position += end;
        Ok(rest[..end].to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(user: &str, host: &str) -> UserSpec {
        UserSpec::Named(UserIdentity::new(user, host))
    }

    #[test]
    fn user_forms() {
        let cases = [
            ("DROP USER 'u'@'%'", named("u", "%")),
            ("DROP USER u1@localhost", named("u1", "localhost")),
            ("DROP USER `u`@`10.0.%`", named("u", "10.0.%")),
            ("DROP USER \"a'b\"@127.0.0.1", named("a'b", "127.0.0.1")),
            ("DROP USER 'it''s'", named("it's", "%")),
        ];
        for (sql, expected) in cases {
            let parsed = parse(sql).expect(sql);
            assert_eq!(
                parsed,
                Some(AccountStatement::DropUser {
                    if_exists: false,
                    users: vec![expected]
                }),
                "{sql}"
            );
        }
    }

    #[test]
    fn grant_model_privileges() {
        let parsed = parse(
            "grant create model, EXECUTE  MODEL, model_execute on test.* to 'app'@'%', u2 with grant option",
        )
        .expect("parse");
        assert_eq!(
            parsed,
            Some(AccountStatement::Grant {
                privileges: PrivilegeList::Only(vec![
                    Privilege::CreateModel,
                    Privilege::ExecuteModel,
                    Privilege::ExecuteModel
                ]),
                level: LevelSpec::Database("test".into()),
                users: vec![named("app", "%"), named("u2", "%")],
                with_grant_option: true,
            })
        );
    }

    #[test]
    fn grant_levels() {
        let level = |sql: &str| match parse(sql).expect(sql) {
            Some(AccountStatement::Grant { level, .. }) => level,
            other => panic!("{sql}: {other:?}"),
        };
        assert_eq!(level("GRANT ALL ON *.* TO u"), LevelSpec::Global);
        assert_eq!(
            level("GRANT ALL PRIVILEGES ON * TO u"),
            LevelSpec::CurrentDatabase
        );
        assert_eq!(
            level("GRANT SELECT ON TABLE `my db`.t1 TO u"),
            LevelSpec::Table(Some("my db".into()), "t1".into())
        );
        assert_eq!(
            level("GRANT SELECT ON t1 TO u"),
            LevelSpec::Table(None, "t1".into())
        );
    }

    #[test]
    fn revoke_with_grant_option() {
        let parsed = parse("REVOKE SELECT, GRANT OPTION ON test.* FROM u").expect("parse");
        assert_eq!(
            parsed,
            Some(AccountStatement::Revoke {
                privileges: PrivilegeList::Only(vec![Privilege::Select]),
                grant_option: true,
                level: LevelSpec::Database("test".into()),
                users: vec![named("u", "%")],
            })
        );
    }

    #[test]
    fn create_user_and_password() {
        let parsed = parse(
            "CREATE USER IF NOT EXISTS 'a'@'%' IDENTIFIED BY 'p\\'w', b IDENTIFIED WITH mysql_native_password BY \"x\", c",
        )
        .expect("parse");
        let users = vec![
            NewUser {
                identity: UserIdentity::new("a", "%"),
                password: Some("p'w".into()),
            },
            NewUser {
                identity: UserIdentity::new("b", "%"),
                password: Some("x".into()),
            },
            NewUser {
                identity: UserIdentity::new("c", "%"),
                password: None,
            },
        ];
        assert_eq!(
            parsed,
            Some(AccountStatement::CreateUser {
                if_not_exists: true,
                users
            })
        );
        assert_eq!(
            parse("SET PASSWORD FOR CURRENT_USER() = PASSWORD('n')").expect("parse"),
            Some(AccountStatement::SetPassword {
                user: Some(UserSpec::Current),
                password: "n".into()
            })
        );
    }

    #[test]
    fn other_statements_are_not_parsed() {
        for sql in [
            "SELECT 1",
            "CREATE TABLE t (a int)",
            "SET @a = 1",
            "SHOW TABLES",
        ] {
            assert_eq!(parse(sql).expect(sql), None, "{sql}");
        }
    }

    #[test]
    fn bad_input_is_a_syntax_error() {
        for sql in [
            "GRANT FLY ON *.* TO u",
            "GRANT SELECT ON *. TO u",
            "GRANT SELECT *.* TO u",
            "GRANT ALL, SELECT ON *.* TO u",
            "CREATE USER 'u",
            "CREATE USER u IDENTIFIED 'x'",
            "DROP USER u extra",
            "SHOW GRANTS FOR",
        ] {
            let err = parse(sql).expect_err(sql);
            assert_eq!(err.code, 1064, "{sql}: {err}");
        }
    }
}
