//! Routing of the server administration statements: account statements
//! (CREATE/DROP USER, SET PASSWORD, GRANT, REVOKE, SHOW GRANTS) and
//! SHOW VARIABLES.

use crate::target::Outcome;

use super::account_syntax;
use super::error::EngineResult;
use super::preparse::Lexeme;
use super::session::Session;
use super::variables;

impl Session {
    /// Runs `sql` if it is an administration statement; `None` for any
    /// other statement.
    pub(super) fn execute_admin(
        &mut self,
        lexemes: &[Lexeme],
        sql: &str,
    ) -> EngineResult<Option<Outcome>> {
        if lexemes.first().is_some_and(|l| l.is("SHOW")) {
            if let Some((scope, filter)) = variables::parse_show_variables(lexemes, sql)? {
                return self.show_variables(scope, &filter).map(Some);
            }
        }
        match account_syntax::parse(sql)? {
            Some(statement) => self.execute_account(statement).map(Some),
            None => Ok(None),
        }
    }
}
