//! Server-wide state that is not table data: accounts with their grants,
//! and the global values of the system variables, plus login checks.
//!
//! The state sits behind its own lock, reached from the store and from
//! every session. Privilege checks and model settings can then be read
//! while a statement holds the store lock. Code that needs both locks
//! takes the store lock first and holds the server lock only briefly.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::catalog::privileges::{verify_native_scramble, Privileges, UserIdentity};
use crate::catalog::sysvars::SysVars;
use crate::target::SqlError;

/// The host every embedded connection comes from. TiDB reports clients on
/// the loopback interface as `127.0.0.1`, which `USER()` prints too.
pub const CLIENT_HOST: &str = "127.0.0.1";

/// A host that also identifies the local machine. Accounts created for
/// `'u'@'localhost'` can log in to the embedded engine as well.
const LOCAL_HOST_NAME: &str = "localhost";

/// Accounts and global system variables of one engine.
#[derive(Debug, Default)]
pub struct ServerState {
    /// Accounts and grants.
    pub privileges: Privileges,
    /// Global system variable values.
    pub sysvars: SysVars,
}

/// The shared handle to [`ServerState`].
pub type SharedServer = Arc<Mutex<ServerState>>;

/// Locks the server state. A poisoned lock is recovered, because every
/// mutation of the state is a single call that either completes or
/// changes nothing observable.
pub fn lock_server(server: &SharedServer) -> MutexGuard<'_, ServerState> {
    server
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Error 1045 as MySQL reports a failed login.
pub fn access_denied(user: &str, host: &str, using_password: bool) -> SqlError {
    let using = if using_password { "YES" } else { "NO" };
    SqlError::new(
        1045,
        "28000",
        format!("Access denied for user '{user}'@'{host}' (using password: {using})"),
    )
}

/// Returns the user name a login uses: an empty name means `root`.
fn login_user(user: &str) -> &str {
    if user.is_empty() {
        "root"
    } else {
        user
    }
}

impl ServerState {
    /// Finds the account a login as `user` from `client_host` uses. A
    /// login from [`CLIENT_HOST`] also matches `localhost` accounts.
    fn login_account(&self, user: &str, client_host: &str) -> Option<UserIdentity> {
        let found = self.privileges.find_account(user, client_host);
        let found = match found {
            Some(identity) => Some(identity),
            None if client_host == CLIENT_HOST => {
                self.privileges.find_account(user, LOCAL_HOST_NAME)
            }
            None => None,
        };
        found.cloned()
    }

    /// Authenticates a login with a clear-text password, as
    /// [`crate::target::ConnectOptions`] carries it. Fails with 1045 for an
    /// unknown user or a wrong password.
    pub fn authenticate_password(
        &self,
        user: &str,
        password: &str,
    ) -> Result<UserIdentity, SqlError> {
        let user = login_user(user);
        let denied = || access_denied(user, CLIENT_HOST, !password.is_empty());
        let identity = self.login_account(user, CLIENT_HOST).ok_or_else(denied)?;
        if !self.privileges.check_password(&identity, password) {
            return Err(denied());
        }
        Ok(identity)
    }

    /// Authenticates a `mysql_native_password` login: `response` is the
    /// client's scramble of the password with `salt`. Fails with 1045 for
    /// an unknown user or a wrong response.
    pub fn authenticate_native(
        &self,
        user: &str,
        client_host: &str,
        salt: &[u8],
        response: &[u8],
    ) -> Result<UserIdentity, SqlError> {
        let user = login_user(user);
        let denied = || access_denied(user, client_host, !response.is_empty());
        let identity = self.login_account(user, client_host).ok_or_else(denied)?;
        let stored = self.privileges.auth_string(&identity).unwrap_or_default();
        if !verify_native_scramble(stored, salt, response) {
            return Err(denied());
        }
        Ok(identity)
    }
}
