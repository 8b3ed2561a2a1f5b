//! A live MySQL-protocol server as a [`Target`]: a TiDB cluster under test,
//! MySQL, MariaDB, or `harness serve`.
//!
//! Connections use mysql_async over TCP with the text protocol only, so
//! result cells are the server's own text. The interface is blocking: the
//! target owns a Tokio runtime and every call blocks on it, so the methods
//! must be called from a plain thread, never from inside a Tokio runtime
//! (they return an error there instead of blocking).
//!
//! Each connection is set up as mysql-tester sets up its connections (see
//! [`session`]): `time_zone` `Asia/Shanghai` (or `+08:00` when the server
//! has no time zone tables), and on TiDB the `tidb_*` settings.

mod capabilities;
mod connection;
mod errors;
pub mod session;
mod url;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use mysql_async::{Conn, OptsBuilder};

pub use self::capabilities::{Capabilities, MODEL_PROBE};
pub use self::connection::{MysqlConnection, SessionInfo};
pub use self::errors::{is_client_error, ClientError, MysqlTargetError};
pub use self::url::{redact_password, MysqlUrl, UrlError};

use self::errors::{client_error, connect_error};
use crate::target::{ConnectOptions, Connection, SqlError, Target};

/// How long `connect` waits for TCP, handshake and session setup together.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A live server reached at a `mysql://` URL.
pub struct MysqlTarget {
    url: MysqlUrl,
    runtime: Arc<BlockingRuntime>,
    connect_timeout: Duration,
}

impl MysqlTarget {
    /// Creates a target for `mysql://USER[:PASS]@HOST:PORT[/DB]`. Nothing is
    /// connected yet.
    pub fn new(url: &str) -> Result<MysqlTarget, MysqlTargetError> {
        let url = MysqlUrl::parse(url)?;
        let runtime = BlockingRuntime::new().map_err(MysqlTargetError::Runtime)?;
        Ok(MysqlTarget {
            url,
            runtime: Arc::new(runtime),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        })
    }

    /// Sets how long `connect` may take, setup statements included.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> MysqlTarget {
        self.connect_timeout = timeout;
        self
    }

    /// The parsed URL.
    pub fn url(&self) -> &MysqlUrl {
        &self.url
    }

    /// Opens a set-up session. [`Target::connect`] returns the same as a
    /// boxed [`Connection`].
    pub fn open(&self, options: &ConnectOptions) -> Result<MysqlConnection, SqlError> {
        BlockingRuntime::ensure_outside_runtime()?;
        let address = self.url.address();
        let opts = self.connection_opts(options);
        let timeout = self.connect_timeout;

        let connected = self.runtime.block_on(async {
            tokio::time::timeout(timeout, async {
                let mut conn = Conn::new(opts).await?;
                let session = session::set_up(&mut conn).await?;
                Ok::<_, mysql_async::Error>((conn, session))
            })
            .await
        });

        match connected {
            Ok(Ok((conn, session))) => {
                tracing::debug!(%address, server = %session.server_version, "connected");
                Ok(MysqlConnection::new(
                    self.runtime.clone(),
                    conn,
                    address,
                    session,
                ))
            }
            Ok(Err(error)) => Err(connect_error(error, &address)),
            Err(_) => Err(client_error(
                ClientError::ConnectHost,
                &address,
                &format!("timed out after {timeout:?}"),
            )),
        }
    }

    /// Probes what the server supports, on a fresh session with the URL's
    /// user and database. See [`Capabilities`] for the rules.
    pub fn capabilities(&self) -> Result<Capabilities, SqlError> {
        let mut connection = self.open(&ConnectOptions::default())?;
        connection.probe_capabilities()
    }

    /// Builds the mysql_async options of one session. A non-empty field of
    /// `options` replaces the URL's value. A user given without a password
    /// connects with an empty password, not with the URL's.
    fn connection_opts(&self, options: &ConnectOptions) -> OptsBuilder {
        let url = &self.url;
        let (user, password) = if !options.user.is_empty() {
            (options.user.as_str(), options.password.as_str())
        } else if !options.password.is_empty() {
            (url.user.as_str(), options.password.as_str())
        } else {
            (url.user.as_str(), url.password.as_str())
        };
        let database = if options.database.is_empty() {
            url.database.as_str()
        } else {
            options.database.as_str()
        };

        OptsBuilder::default()
            .ip_or_hostname(url.host.clone())
            .tcp_port(url.port)
            .user(Some(user))
            .pass((!password.is_empty()).then_some(password))
            .db_name((!database.is_empty()).then_some(database))
            // mysql_async would otherwise move a connection to 127.0.0.1 over
            // to the server's Unix socket. The kit talks to exactly the
            // address it was given.
            .prefer_socket(false)
            .stmt_cache_size(0)
    }
}

impl Target for MysqlTarget {
    fn connect(&self, options: &ConnectOptions) -> Result<Box<dyn Connection>, SqlError> {
        Ok(Box::new(self.open(options)?))
    }

    fn name(&self) -> String {
        format!("mysql://{}", self.url.address())
    }
}

impl MysqlConnection {
    /// Probes what the server supports on this session.
    pub fn probe_capabilities(&mut self) -> Result<Capabilities, SqlError> {
        let session = self.session().clone();
        self.run_blocking(move |conn| {
            Box::pin(async move { capabilities::probe(conn, &session).await })
        })
    }
}

/// A Tokio runtime that the blocking facade drives.
///
/// Dropping it never blocks: the worker thread is told to stop and is not
/// waited for, so a target may be dropped anywhere, inside a runtime too.
pub(crate) struct BlockingRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl BlockingRuntime {
    fn new() -> std::io::Result<BlockingRuntime> {
        // One worker thread drives all sockets. Callers block in `block_on`
        // from their own threads, so several connections can run at once.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mysql-target")
            .enable_all()
            .build()?;
        Ok(BlockingRuntime {
            runtime: Some(runtime),
        })
    }

    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        match &self.runtime {
            Some(runtime) => runtime.block_on(future),
            None => unreachable!("the runtime is only taken in Drop"),
        }
    }

    pub(crate) fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if let Some(runtime) = &self.runtime {
            runtime.spawn(future);
        }
    }

    /// Fails when called inside a Tokio runtime, where blocking would panic.
    pub(crate) fn ensure_outside_runtime() -> Result<(), SqlError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(client_error(
                ClientError::Unknown,
                "-",
                "the blocking MySQL target was called inside a Tokio runtime; call it from a plain \
                 thread, e.g. through tokio::task::spawn_blocking",
            ));
        }
        Ok(())
    }
}

impl Drop for BlockingRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
