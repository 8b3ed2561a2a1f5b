//! Authentication: the [`Authenticator`] a server checks logins with, and
//! the `mysql_native_password` scramble.
//!
//! The client sends `SHA1(password) XOR SHA1(salt + SHA1(SHA1(password)))`
//! for a 20-byte salt, and an empty response for an empty password.

use sha1::{Digest, Sha1};

use crate::engine::ReferenceTarget;
use crate::target::{Connection, SqlError};

/// Name of the only authentication method the server runs.
pub const NATIVE_PASSWORD_PLUGIN: &str = "mysql_native_password";

/// Length of the salt (auth-plugin-data) in bytes.
pub const SALT_LEN: usize = 20;

/// Checks a login against the accounts of a target.
pub trait Authenticator: Send + Sync {
    /// Accepts or rejects `user` connecting from `host` with `response`,
    /// the client's `mysql_native_password` scramble of its password with
    /// `salt`. A rejection is sent to the client as is, normally 1045
    /// (28000) from [`access_denied`].
    fn authenticate(
        &self,
        user: &str,
        host: &str,
        salt: &[u8; SALT_LEN],
        response: &[u8],
    ) -> Result<(), SqlError>;

    /// Opens a session for `user` from `host`, whom [`authenticate`]
    /// accepted; no password is checked again, because the server only
    /// ever receives the scramble.
    ///
    /// [`authenticate`]: Authenticator::authenticate
    fn open_session(
        &self,
        user: &str,
        host: &str,
        database: &str,
    ) -> Result<Box<dyn Connection>, SqlError>;
}

/// Logins check the engine's accounts (`CREATE USER ... IDENTIFIED BY`),
/// whose `mysql_native_password` hashes verify the scramble.
impl Authenticator for ReferenceTarget {
    fn authenticate(
        &self,
        user: &str,
        host: &str,
        salt: &[u8; SALT_LEN],
        response: &[u8],
    ) -> Result<(), SqlError> {
        self.authenticate_native(user, host, salt, response).map(|_| ())
    }

    fn open_session(
        &self,
        user: &str,
        host: &str,
        database: &str,
    ) -> Result<Box<dyn Connection>, SqlError> {
        let user = if user.is_empty() { "root" } else { user };
        let identity = self
            .find_account(user, host)
            .ok_or_else(|| access_denied(user, host, false))?;
        Ok(Box::new(self.connect_as(identity, database)?))
    }
}

/// Error 1045 (28000), as MySQL words it.
pub fn access_denied(user: &str, host: &str, using_password: bool) -> SqlError {
    let using = if using_password { "YES" } else { "NO" };
    SqlError::new(
        1045,
        "28000",
        format!("Access denied for user '{user}'@'{host}' (using password: {using})"),
    )
}

/// Computes the `mysql_native_password` response a client sends for
/// `password` and `salt`; empty for an empty password.
pub fn native_scramble(password: &[u8], salt: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = Sha1::digest(password);
    let stage2 = Sha1::digest(stage1);
    let mut hasher = Sha1::new();
    hasher.update(salt);
    hasher.update(stage2);
    let mask = hasher.finalize();
    stage1.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect()
}

/// Checks a client's response against the stored `SHA1(SHA1(password))`
/// (the 20 bytes behind a `*HEX` `authentication_string`).
pub fn verify_native_scramble(stage2: &[u8; 20], salt: &[u8], response: &[u8]) -> bool {
    if response.len() != 20 {
        return false;
    }
    let mut hasher = Sha1::new();
    hasher.update(salt);
    hasher.update(stage2);
    let mask = hasher.finalize();
    let stage1: Vec<u8> = response.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect();
    Sha1::digest(&stage1).as_slice() == stage2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scramble_verifies_against_stage2_hash() {
        let salt = *b"abcdefghijklmnopqrst";
        let response = native_scramble(b"secret", &salt);
        assert_eq!(response.len(), 20);

        let stage2: [u8; 20] = Sha1::digest(Sha1::digest(b"secret")).into();
        assert!(verify_native_scramble(&stage2, &salt, &response));
        assert!(!verify_native_scramble(&stage2, b"another salt 20bytes", &response));
        assert!(!verify_native_scramble(&stage2, &salt, &native_scramble(b"wrong", &salt)));
        assert!(!verify_native_scramble(&stage2, &salt, &response[..19]));
    }

    #[test]
    fn stage2_matches_mysql_password_function() {
        // MySQL's PASSWORD('secret') before 8.0 and the
        // authentication_string of such an account.
        let stage2 = Sha1::digest(Sha1::digest(b"secret"));
        assert_eq!(hex::encode_upper(stage2), "14E65567ABDB5135D0CFD9A70B3032C179A49EE7");
    }

    #[test]
    fn reference_accepts_only_root_without_password() {
        let target = ReferenceTarget::new();
        let salt = [1u8; SALT_LEN];
        assert!(target.authenticate("root", "127.0.0.1", &salt, b"").is_ok());

        let err = target
            .authenticate("root", "127.0.0.1", &salt, &native_scramble(b"x", &salt))
            .unwrap_err();
        assert_eq!((err.code, err.sqlstate.as_str()), (1045, "28000"));
        assert_eq!(err.message, "Access denied for user 'root'@'127.0.0.1' (using password: YES)");

        let err = target.authenticate("bob", "127.0.0.1", &salt, b"").unwrap_err();
        assert_eq!(err.message, "Access denied for user 'bob'@'127.0.0.1' (using password: NO)");
    }
}
