//! The listener: accepts TCP connections, runs one task per client, and
//! shuts down cleanly when its shutdown token is cancelled.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::auth::Authenticator;
use super::capabilities::SERVER_STATUS_AUTOCOMMIT;
use super::command::{run_command_loop, status_flags, CommandLoopEnd};
use super::handshake::{accept_login, send_login_ok, HandshakeError};
use super::packet::{PacketStream, DEFAULT_MAX_PAYLOAD};
use super::resultset::{encode_error, encode_error_before_handshake};
use crate::target::{Connection, SqlError};

/// Settings of a [`Server`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Version string in the greeting; clients parse its leading
    /// `major.minor.patch`.
    pub server_version: String,
    /// Open connections at most; further clients get error 1040.
    pub max_connections: usize,
    /// Largest client message in bytes, summed over its packets.
    pub max_payload: usize,
    /// Time a client has to finish the connection phase.
    pub handshake_timeout: Duration,
    /// Time connections get to close at shutdown before their tasks are
    /// aborted.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            server_version: crate::engine::functions::VERSION.to_string(),
            max_connections: 256,
            max_payload: DEFAULT_MAX_PAYLOAD,
            handshake_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// A failure to start the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {cause}")]
    Bind {
        /// Requested address.
        addr: SocketAddr,
        /// The socket error.
        cause: std::io::Error,
    },
}

/// State shared by every connection task.
struct Shared {
    authenticator: Arc<dyn Authenticator>,
    config: ServerConfig,
    next_connection_id: AtomicU32,
}

/// A MySQL-protocol server in front of a [`Target`].
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl Server {
    /// Binds `addr`; port 0 takes a free port (see
    /// [`Server::local_addr`]).
    pub async fn bind(
        addr: SocketAddr,
        authenticator: Arc<dyn Authenticator>,
        config: ServerConfig,
    ) -> Result<Server, ServeError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|cause| ServeError::Bind { addr, cause })?;
        Ok(Server {
            listener,
            shared: Arc::new(Shared {
                authenticator,
                config,
                next_connection_id: AtomicU32::new(1),
            }),
        })
    }

    /// Returns the bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts clients until `shutdown` is cancelled, then stops accepting,
    /// closes every connection (a running statement finishes first) and
    /// returns.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                Some(joined) = connections.join_next(), if !connections.is_empty() => {
                    log_task_end(joined);
                }
                accepted = self.listener.accept() => match accepted {
                    Ok((socket, peer)) => self.start_connection(&mut connections, socket, peer, &shutdown),
                    Err(err) => {
                        // Out of file descriptors and similar: wait, so the
                        // loop does not spin.
                        tracing::warn!(error = %err, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }

        drop(self.listener);
        let open = connections.len();
        tracing::info!(open, "stopped accepting connections; closing the open ones");
        let grace = self.shared.config.shutdown_grace;
        let drained = tokio::time::timeout(grace, async {
            while let Some(joined) = connections.join_next().await {
                log_task_end(joined);
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                remaining = connections.len(),
                grace_secs = grace.as_secs_f64(),
                "connections still busy after the shutdown grace period; aborting them"
            );
            connections.abort_all();
            while connections.join_next().await.is_some() {}
        }
    }

    fn start_connection(
        &self,
        connections: &mut JoinSet<()>,
        socket: TcpStream,
        peer: SocketAddr,
        shutdown: &CancellationToken,
    ) {
        let id = next_id(&self.shared.next_connection_id);
        let span = tracing::info_span!("connection", id, %peer);
        if let Err(err) = socket.set_nodelay(true) {
            tracing::debug!(parent: &span, error = %err, "cannot set TCP_NODELAY");
        }

        if connections.len() >= self.shared.config.max_connections {
            let limit = self.shared.config.max_connections;
            tracing::warn!(parent: &span, limit, "rejected: too many connections");
            connections.spawn(reject_too_many(socket).instrument(span));
            return;
        }

        let shared = self.shared.clone();
        let shutdown = shutdown.clone();
        connections.spawn(serve_connection(shared, socket, peer, id, shutdown).instrument(span));
    }
}

fn next_id(counter: &AtomicU32) -> u32 {
    loop {
        let id = counter.fetch_add(1, Ordering::Relaxed);
        if id != 0 {
            return id;
        }
    }
}

fn log_task_end(joined: Result<(), tokio::task::JoinError>) {
    if let Err(err) = joined {
        if err.is_panic() {
            tracing::error!(error = %err, "a connection task panicked");
        }
    }
}

/// Sends a client over the connection limit error 1040 in place of the
/// greeting.
async fn reject_too_many(socket: TcpStream) {
    let (reader, writer) = socket.into_split();
    let mut stream = PacketStream::new(reader, writer, 0);
    let error = SqlError::new(1040, "08004", "Too many connections");
    let sent = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_message(&encode_error_before_handshake(&error)).await?;
        stream.shutdown().await
    })
    .await;
    if !matches!(sent, Ok(Ok(()))) {
        tracing::debug!("could not send error 1040 to the client");
    }
}

/// Runs one client from greeting to close.
async fn serve_connection(
    shared: Arc<Shared>,
    socket: TcpStream,
    peer: SocketAddr,
    id: u32,
    shutdown: CancellationToken,
) {
    let (reader, writer) = socket.into_split();
    let mut stream = PacketStream::new(reader, writer, shared.config.max_payload);
    let host = peer.ip().to_string();

    let handshake = accept_login(
        &mut stream,
        shared.authenticator.as_ref(),
        id,
        &host,
        &shared.config.server_version,
        SERVER_STATUS_AUTOCOMMIT,
    );
    let login = tokio::select! {
        _ = shutdown.cancelled() => {
            tracing::info!("closed during the handshake: the server is shutting down");
            return;
        }
        timed = tokio::time::timeout(shared.config.handshake_timeout, handshake) => match timed {
            Ok(Ok(login)) => login,
            Ok(Err(HandshakeError::Rejected(error))) => {
                tracing::info!(code = error.code, error = %error.message, "login rejected");
                return;
            }
            Ok(Err(HandshakeError::Protocol(err))) => {
                tracing::info!(error = %err, "handshake failed; connection closed");
                return;
            }
            Err(_) => {
                tracing::info!(
                    timeout_secs = shared.config.handshake_timeout.as_secs_f64(),
                    "handshake timed out; connection closed"
                );
                return;
            }
        },
    };

    let connection = match open_session(&shared, &login.user, &host, login.database.clone()).await {
        Ok(connection) => connection,
        Err(error) => {
            tracing::info!(user = %login.user, code = error.code, error = %error.message, "opening the session failed");
            let sent = async {
                stream.write_message(&encode_error(&error)).await?;
                stream.flush().await
            }
            .await;
            if let Err(err) = sent {
                tracing::debug!(error = %err, "could not send the session error to the client");
            }
            return;
        }
    };
    if let Err(err) = send_login_ok(&mut stream, status_flags(connection.status())).await {
        tracing::info!(error = %err, "could not complete the login; connection closed");
        return;
    }
    let client = login
        .attributes
        .iter()
        .find(|(key, _)| key == "_client_name")
        .map(|(_, value)| value.as_str())
        .unwrap_or("");
    tracing::info!(
        user = %login.user,
        database = login.database.as_deref().unwrap_or(""),
        client,
        "connection opened"
    );

    let end = run_command_loop(&mut stream, connection, login.capabilities, &shutdown).await;
    match &end {
        CommandLoopEnd::ClientQuit | CommandLoopEnd::Shutdown => {
            tracing::info!(user = %login.user, reason = %end, "connection closed");
        }
        CommandLoopEnd::Protocol(_) => {
            tracing::warn!(user = %login.user, error = %end, "connection closed after a protocol error");
        }
        CommandLoopEnd::EnginePanic(_) => {
            tracing::error!(user = %login.user, error = %end, "connection closed");
        }
    }
    if let Err(err) = stream.shutdown().await {
        tracing::debug!(error = %err, "closing the socket failed");
    }
}

/// Opens the engine session on a blocking thread.
async fn open_session(
    shared: &Arc<Shared>,
    user: &str,
    host: &str,
    database: Option<String>,
) -> Result<Box<dyn Connection>, SqlError> {
    let authenticator = shared.authenticator.clone();
    let (user, host) = (user.to_string(), host.to_string());
    let database = database.unwrap_or_default();
    let task =
        tokio::task::spawn_blocking(move || authenticator.open_session(&user, &host, &database));
    match task.await {
        Ok(result) => result,
        Err(err) => {
            tracing::error!(error = %err, "opening the engine session panicked");
            Err(SqlError::new(1105, "HY000", "internal error: opening the session failed"))
        }
    }
}
