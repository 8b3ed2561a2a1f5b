//! What a live server supports, so the runner can skip cases it cannot run.
//!
//! - `tidb`: `SELECT tidb_version()` works.
//! - `models`: the server parses the model statements. The probe runs
//!   `SHOW CREATE MODEL` on a name that should not exist. A server without
//!   the feature rejects it as a syntax error (1064, or 1149, or 1235 "not
//!   supported yet"). A server with it returns the CREATE statement or an
//!   error about the statement's meaning (model not found, no database
//!   selected, access denied), and every such error counts as support.

use mysql_async::Conn;

use super::connection::{run_text_query, SessionInfo};
use crate::target::Outcome;

/// The probe statement for `models`.
pub const MODEL_PROBE: &str = "SHOW CREATE MODEL __kit_probe_nonexistent";

/// `ER_PARSE_ERROR`.
const ER_PARSE_ERROR: u16 = 1064;
/// `ER_SYNTAX_ERROR`.
const ER_SYNTAX_ERROR: u16 = 1149;
/// `ER_NOT_SUPPORTED_YET`.
const ER_NOT_SUPPORTED_YET: u16 = 1235;

/// Features of a live server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// `SELECT VERSION()`.
    pub server_version: String,
    /// `SELECT tidb_version()` works.
    pub tidb: bool,
    /// The text `tidb_version()` returned, when it works.
    pub tidb_version: Option<String>,
    /// The server parses `CREATE MODEL` and the other model statements.
    pub models: bool,
    /// What the model probe returned, for reports: `MODEL_PROBE` and the
    /// error or outcome.
    pub models_evidence: String,
}

impl Capabilities {
    /// Why cases that need model statements cannot run here, or `None` when
    /// they can.
    pub fn models_skip_reason(&self) -> Option<String> {
        (!self.models).then(|| {
            format!(
                "server {} does not support model statements ({})",
                self.server_version, self.models_evidence
            )
        })
    }
}

/// Runs the probes on an open, set-up connection.
pub(super) async fn probe(
    conn: &mut Conn,
    session: &SessionInfo,
) -> Result<Capabilities, mysql_async::Error> {
    let (models, models_evidence) = match run_text_query(conn, MODEL_PROBE).await {
        Ok(Outcome::Rows(result)) => (
            true,
            format!("`{MODEL_PROBE}` returned {} row(s)", result.rows.len()),
        ),
        Ok(Outcome::Affected { .. }) => (true, format!("`{MODEL_PROBE}` succeeded")),
        Err(mysql_async::Error::Server(error)) => {
            let unsupported = matches!(
                error.code,
                ER_PARSE_ERROR | ER_SYNTAX_ERROR | ER_NOT_SUPPORTED_YET
            );
            let evidence = format!(
                "`{MODEL_PROBE}` failed with Error {} ({}): {}",
                error.code, error.state, error.message
            );
            (!unsupported, evidence)
        }
        Err(other) => return Err(other),
    };

    Ok(Capabilities {
        server_version: session.server_version.clone(),
        tidb: session.tidb_version.is_some(),
        tidb_version: session.tidb_version.clone(),
        models,
        models_evidence,
    })
}
