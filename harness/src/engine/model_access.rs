//! Model settings and privilege checks as model statements use them: the
//! session's values from [`super::access`], unless the engine carries a
//! settings override ([`super::ReferenceTarget::override_model_settings`]).
//!
//! Both functions lock the store briefly, so callers must not hold the
//! store lock.

use crate::catalog::{ModelSettings, Privilege};
use crate::target::SqlError;

use super::access;
use super::session::Session;

/// The model settings in force for `session`.
pub fn model_settings(session: &Session) -> ModelSettings {
    let overridden = session.lock().models.settings_override.clone();
    overridden.unwrap_or_else(|| access::model_settings(session))
}

/// Checks that the session's user holds a model privilege on `db` and
/// `model`.
pub fn check_privilege(
    session: &Session,
    privilege: Privilege,
    db: &str,
    model: &str,
) -> Result<(), SqlError> {
    access::check_privilege(session, privilege, Some(db), Some(model))
}
