//! The command phase: reads one command at a time and runs it on the
//! session. COM_QUERY, COM_INIT_DB, COM_PING and COM_QUIT are served;
//! every other command gets error 1047 (08S01) and the connection stays
//! open.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use super::capabilities::{CLIENT_DEPRECATE_EOF, SERVER_STATUS_AUTOCOMMIT, SERVER_STATUS_IN_TRANS};
use super::error::ProtocolError;
use super::packet::PacketStream;
use super::resultset::{encode_error, encode_ok, write_result_set};
use crate::target::{Connection, Outcome, SessionStatus, SqlError};

const COM_QUIT: u8 = 0x01;
const COM_INIT_DB: u8 = 0x02;
const COM_QUERY: u8 = 0x03;
const COM_PING: u8 = 0x0E;

/// Reason the command loop ended.
#[derive(Debug, thiserror::Error)]
pub enum CommandLoopEnd {
    /// The client sent COM_QUIT or closed the connection.
    #[error("the client quit")]
    ClientQuit,
    /// The server is shutting down.
    #[error("the server is shutting down")]
    Shutdown,
    /// The client broke the protocol, or the socket failed.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The engine panicked while running a statement; the session is lost.
    #[error("the engine panicked while running a statement: {0}")]
    EnginePanic(String),
}

/// Server status flags for a session's state.
pub fn status_flags(status: SessionStatus) -> u16 {
    let mut flags = 0;
    if status.autocommit {
        flags |= SERVER_STATUS_AUTOCOMMIT;
    }
    if status.in_transaction {
        flags |= SERVER_STATUS_IN_TRANS;
    }
    flags
}

/// Serves commands until the client quits, the stream fails, or `shutdown`
/// is cancelled while the loop waits for a command. A statement that is
/// running when shutdown starts finishes, and its result is sent first.
pub async fn run_command_loop<R, W>(
    stream: &mut PacketStream<R, W>,
    mut connection: Box<dyn Connection>,
    capabilities: u32,
    shutdown: &CancellationToken,
) -> CommandLoopEnd
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let deprecate_eof = capabilities & CLIENT_DEPRECATE_EOF != 0;
    loop {
        let payload = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return CommandLoopEnd::Shutdown,
            read = stream.read_command() => read,
        };
        let payload = match payload {
            Ok(payload) => payload,
            Err(ProtocolError::Closed) => return CommandLoopEnd::ClientQuit,
            Err(err @ ProtocolError::TooLarge { .. }) => {
                let error = SqlError::new(1153, "08S01", "Got a packet bigger than 'max_allowed_packet' bytes");
                send_best_effort(stream, &error).await;
                return CommandLoopEnd::Protocol(err);
            }
            Err(err) => return CommandLoopEnd::Protocol(err),
        };

        let Some((&command, argument)) = payload.split_first() else {
            if let Err(err) = send_error(stream, &unknown_command()).await {
                return err.into();
            }
            continue;
        };

        let sql = match command {
            COM_QUIT => return CommandLoopEnd::ClientQuit,
            COM_PING => {
                let status = status_flags(connection.status());
                if let Err(err) = send(stream, &encode_ok(0, status, "")).await {
                    return err.into();
                }
                continue;
            }
            COM_QUERY => match std::str::from_utf8(argument) {
                Ok(sql) => sql.to_string(),
                Err(_) => {
                    let error = SqlError::new(1366, "HY000", "Incorrect string value: the statement is not valid UTF-8");
                    if let Err(err) = send_error(stream, &error).await {
                        return err.into();
                    }
                    continue;
                }
            },
            COM_INIT_DB => match std::str::from_utf8(argument) {
                Ok(name) => format!("USE `{}`", name.replace('`', "``")),
                Err(_) => {
                    let error = SqlError::new(1049, "42000", "Unknown database: the name is not valid UTF-8");
                    if let Err(err) = send_error(stream, &error).await {
                        return err.into();
                    }
                    continue;
                }
            },
            other => {
                tracing::debug!(command = other, "unsupported command");
                if let Err(err) = send_error(stream, &unknown_command()).await {
                    return err.into();
                }
                continue;
            }
        };

        let (returned, result) = match execute_blocking(connection, sql).await {
            Ok(pair) => pair,
            Err(panic) => {
                let error = SqlError::new(1105, "HY000", "internal error: the statement failed inside the server; reconnect");
                send_best_effort(stream, &error).await;
                return CommandLoopEnd::EnginePanic(panic);
            }
        };
        connection = returned;

        let status = status_flags(connection.status());
        let sent = match result {
            Ok(Outcome::Rows(result)) if !result.columns.is_empty() => {
                match write_result_set(stream, &result, status, deprecate_eof).await {
                    Ok(()) => stream.flush().await,
                    Err(err) => Err(err),
                }
            }
            Ok(Outcome::Rows(_)) => send(stream, &encode_ok(0, status, "")).await,
            Ok(Outcome::Affected { rows, info }) => send(stream, &encode_ok(rows, status, &info)).await,
            Err(error) => send_error(stream, &error).await,
        };
        if let Err(err) = sent {
            return err.into();
        }
    }
}

/// Runs one statement on tokio's blocking thread pool, off the async
/// worker threads. Returns the connection with the result, or the panic message.
async fn execute_blocking(
    mut connection: Box<dyn Connection>,
    sql: String,
) -> Result<(Box<dyn Connection>, Result<Outcome, SqlError>), String> {
    let task = tokio::task::spawn_blocking(move || {
        let result = connection.execute(&sql);
        (connection, result)
    });
    task.await.map_err(|err| err.to_string())
}

fn unknown_command() -> SqlError {
    SqlError::new(1047, "08S01", "Unknown command")
}

async fn send<R, W>(stream: &mut PacketStream<R, W>, payload: &[u8]) -> Result<(), ProtocolError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    stream.write_message(payload).await?;
    stream.flush().await
}

async fn send_error<R, W>(stream: &mut PacketStream<R, W>, error: &SqlError) -> Result<(), ProtocolError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    send(stream, &encode_error(error)).await
}

/// Sends an error before closing; a failure is logged, since the
/// connection closes either way.
async fn send_best_effort<R, W>(stream: &mut PacketStream<R, W>, error: &SqlError)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    if let Err(err) = send_error(stream, error).await {
        tracing::debug!(error = %err, code = error.code, "could not send the closing error to the client");
    }
}
