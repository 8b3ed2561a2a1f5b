//! The connection phase: the server's HandshakeV10, the client's
//! HandshakeResponse41, an AuthSwitchRequest to `mysql_native_password`
//! when the client starts with another method, and the final OK or ERR.

use std::hash::{BuildHasher, Hasher};

use tokio::io::{AsyncRead, AsyncWrite};

use super::auth::{Authenticator, NATIVE_PASSWORD_PLUGIN, SALT_LEN};
use super::capabilities::*;
use super::error::ProtocolError;
use super::packet::PacketStream;
use super::resultset::{encode_error, encode_ok};
use super::wire::{put_nul_terminated, PayloadReader};
use crate::target::SqlError;

/// Limit on handshake messages: they hold a user name, a scramble, a
/// database name and connection attributes, far below this.
const MAX_HANDSHAKE_PAYLOAD: usize = 64 * 1024;

/// Character set id sent in the greeting: utf8mb4_general_ci.
pub const SERVER_CHARSET: u8 = 45;

/// The client's HandshakeResponse41.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse {
    /// Client capabilities.
    pub capabilities: u32,
    /// Largest packet the client accepts.
    pub max_packet_size: u32,
    /// Client character set id.
    pub charset: u8,
    /// User name.
    pub user: String,
    /// Authentication data, produced by `plugin`.
    pub auth_response: Vec<u8>,
    /// Default database, when the client sent one.
    pub database: Option<String>,
    /// Authentication method of `auth_response`; `None` without
    /// CLIENT_PLUGIN_AUTH.
    pub plugin: Option<String>,
    /// Connection attributes (`_client_name` and so on).
    pub attributes: Vec<(String, String)>,
}

/// The client's first message after the greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientHello {
    /// An SSLRequest: the client wants TLS, which this server lacks.
    SslRequest,
    /// A HandshakeResponse41.
    Response(HandshakeResponse),
}

/// A login that passed authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// User name.
    pub user: String,
    /// Default database from the handshake.
    pub database: Option<String>,
    /// Capabilities both sides have.
    pub capabilities: u32,
    /// Connection attributes the client sent.
    pub attributes: Vec<(String, String)>,
}

/// Failure of the connection phase.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The client broke the protocol or went away.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The server rejected the client and sent it this error.
    #[error("rejected the client: {0}")]
    Rejected(SqlError),
}

/// Builds the HandshakeV10 greeting.
pub fn encode_greeting(
    server_version: &str,
    connection_id: u32,
    salt: &[u8; SALT_LEN],
    status: u16,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.push(10);
    put_nul_terminated(&mut out, server_version.as_bytes());
    out.extend_from_slice(&connection_id.to_le_bytes());
    out.extend_from_slice(&salt[..8]);
    out.push(0);
    out.extend_from_slice(&(SERVER_CAPABILITIES as u16).to_le_bytes());
    out.push(SERVER_CHARSET);
    out.extend_from_slice(&status.to_le_bytes());
    out.extend_from_slice(&((SERVER_CAPABILITIES >> 16) as u16).to_le_bytes());
    out.push(SALT_LEN as u8 + 1);
    out.extend_from_slice(&[0; 10]);
    put_nul_terminated(&mut out, &salt[8..]);
    put_nul_terminated(&mut out, NATIVE_PASSWORD_PLUGIN.as_bytes());
    out
}

/// Builds an AuthSwitchRequest to `mysql_native_password` with `salt`.
pub fn encode_auth_switch(salt: &[u8; SALT_LEN]) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    out.push(0xFE);
    put_nul_terminated(&mut out, NATIVE_PASSWORD_PLUGIN.as_bytes());
    put_nul_terminated(&mut out, salt);
    out
}

/// Decodes the client's reply to the greeting.
pub fn parse_client_hello(payload: &[u8]) -> Result<ClientHello, ProtocolError> {
    const MESSAGE: &str = "handshake response";
    let mut reader = PayloadReader::new(payload, MESSAGE);
    let capabilities = reader.u32("capability flags")?;
    if capabilities & CLIENT_PROTOCOL_41 == 0 {
        return Err(ProtocolError::malformed(
            MESSAGE,
            "the client does not speak the 4.1 protocol (CLIENT_PROTOCOL_41 unset)",
        ));
    }
    let max_packet_size = reader.u32("max packet size")?;
    let charset = reader.u8("character set")?;
    reader.bytes(23, "filler")?;
    if capabilities & CLIENT_SSL != 0 && reader.remaining() == 0 {
        return Ok(ClientHello::SslRequest);
    }

    let user = text(reader.nul_terminated("user name")?, "user name")?;
    let auth_response = if capabilities & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
        reader.lenenc_bytes("auth response")?
    } else if capabilities & CLIENT_SECURE_CONNECTION != 0 {
        let length = reader.u8("auth response length")?;
        reader.bytes(usize::from(length), "auth response")?
    } else {
        reader.nul_terminated("auth response")?
    }
    .to_vec();

    let mut database = None;
    if capabilities & CLIENT_CONNECT_WITH_DB != 0 && reader.remaining() > 0 {
        let name = text(reader.nul_terminated("database")?, "database")?;
        if !name.is_empty() {
            database = Some(name);
        }
    }

    let mut plugin = None;
    if capabilities & CLIENT_PLUGIN_AUTH != 0 && reader.remaining() > 0 {
        plugin = Some(text(reader.nul_terminated("auth plugin name")?, "auth plugin name")?);
    }

    let mut attributes = Vec::new();
    if capabilities & CLIENT_CONNECT_ATTRS != 0 && reader.remaining() > 0 {
        let block = reader.lenenc_bytes("connection attributes")?;
        let mut attrs = PayloadReader::new(block, "connection attributes");
        while attrs.remaining() > 0 {
            let key = String::from_utf8_lossy(attrs.lenenc_bytes("attribute name")?).into_owned();
            let value = String::from_utf8_lossy(attrs.lenenc_bytes("attribute value")?).into_owned();
            attributes.push((key, value));
        }
    }

    Ok(ClientHello::Response(HandshakeResponse {
        capabilities,
        max_packet_size,
        charset,
        user,
        auth_response,
        database,
        plugin,
        attributes,
    }))
}

fn text(bytes: &[u8], field: &'static str) -> Result<String, ProtocolError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| ProtocolError::malformed("handshake response", format!("{field} is not valid UTF-8")))
}

/// Makes a fresh salt of printable ASCII without NUL, as MySQL servers
/// send. The bytes come from SipHash with the standard library's
/// per-process random keys, over a counter and the clock: unpredictable to
/// clients, though not a vetted cryptographic generator.
pub fn new_salt(connection_id: u32) -> [u8; SALT_LEN] {
    let state = std::collections::hash_map::RandomState::new();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or(0);
    let mut salt = [0u8; SALT_LEN];
    for (index, chunk) in salt.chunks_mut(8).enumerate() {
        let mut hasher = state.build_hasher();
        hasher.write_u32(connection_id);
        hasher.write_u128(nanos);
        hasher.write_usize(index);
        let bytes = hasher.finish().to_le_bytes();
        for (slot, byte) in chunk.iter_mut().zip(bytes) {
            // 33..=126: printable, no NUL and no space.
            *slot = 33 + byte % 94;
        }
    }
    salt
}

/// Runs the connection phase: sends the greeting, reads the response,
/// switches the client to `mysql_native_password` when needed, and
/// authenticates. On success nothing is sent yet: the caller opens the
/// session and sends OK (or the session's error).
pub async fn accept_login<R, W>(
    stream: &mut PacketStream<R, W>,
    authenticator: &dyn Authenticator,
    connection_id: u32,
    client_host: &str,
    server_version: &str,
    status: u16,
) -> Result<Login, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let salt = new_salt(connection_id);
    stream
        .write_message(&encode_greeting(server_version, connection_id, &salt, status))
        .await?;
    stream.flush().await?;

    let payload = stream.read_reply_limited(MAX_HANDSHAKE_PAYLOAD).await?;
    let response = match parse_client_hello(&payload) {
        Ok(ClientHello::Response(response)) => response,
        Ok(ClientHello::SslRequest) => {
            let error = SqlError::new(
                1043,
                "08S01",
                "TLS is not supported by this server; connect without TLS \
                 (mysql --ssl-mode=DISABLED, mariadb --skip-ssl)",
            );
            return Err(reject(stream, error).await);
        }
        Err(err) => {
            let error = SqlError::new(1043, "08S01", format!("Bad handshake: {err}"));
            return Err(reject(stream, error).await);
        }
    };

    let mut auth_response = response.auth_response.clone();
    let native = match response.plugin.as_deref() {
        None => true,
        Some(plugin) => plugin == NATIVE_PASSWORD_PLUGIN,
    };
    if !native {
        tracing::debug!(
            plugin = response.plugin.as_deref().unwrap_or(""),
            "switching the client to {NATIVE_PASSWORD_PLUGIN}"
        );
        stream.write_message(&encode_auth_switch(&salt)).await?;
        stream.flush().await?;
        auth_response = stream.read_reply_limited(MAX_HANDSHAKE_PAYLOAD).await?;
    }

    if let Err(error) = authenticator.authenticate(&response.user, client_host, &salt, &auth_response) {
        return Err(reject(stream, error).await);
    }

    Ok(Login {
        user: response.user,
        database: response.database,
        capabilities: response.capabilities & SERVER_CAPABILITIES,
        attributes: response.attributes,
    })
}

/// Sends `error` to the client and returns it as a [`HandshakeError`]. A
/// failure to send is logged, since the connection closes either way.
async fn reject<R, W>(stream: &mut PacketStream<R, W>, error: SqlError) -> HandshakeError
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let sent = async {
        stream.write_message(&encode_error(&error)).await?;
        stream.flush().await
    }
    .await;
    if let Err(err) = sent {
        tracing::debug!(error = %err, "could not send the handshake error to the client");
    }
    HandshakeError::Rejected(error)
}

/// Sends the OK that completes the connection phase.
pub async fn send_login_ok<R, W>(stream: &mut PacketStream<R, W>, status: u16) -> Result<(), ProtocolError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    stream.write_message(&encode_ok(0, status, "")).await?;
    stream.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::wire::{put_lenenc_bytes, put_lenenc_int};
    use proptest::prelude::*;

    fn response_bytes(capabilities: u32, user: &str, auth: &[u8], database: Option<&str>, plugin: Option<&str>) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&capabilities.to_le_bytes());
        out.extend_from_slice(&(1u32 << 24).to_le_bytes());
        out.push(45);
        out.extend_from_slice(&[0; 23]);
        put_nul_terminated(&mut out, user.as_bytes());
        if capabilities & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
            put_lenenc_bytes(&mut out, auth);
        } else {
            out.push(auth.len() as u8);
            out.extend_from_slice(auth);
        }
        if let Some(database) = database {
            put_nul_terminated(&mut out, database.as_bytes());
        }
        if let Some(plugin) = plugin {
            put_nul_terminated(&mut out, plugin.as_bytes());
        }
        out
    }

    #[test]
    fn greeting_has_salt_in_two_parts() {
        let salt = *b"ABCDEFGHIJKLMNOPQRST";
        let greeting = encode_greeting("8.0.11-test", 7, &salt, SERVER_STATUS_AUTOCOMMIT);
        let mut reader = PayloadReader::new(&greeting, "greeting");
        assert_eq!(reader.u8("protocol").unwrap(), 10);
        assert_eq!(reader.nul_terminated("version").unwrap(), b"8.0.11-test");
        assert_eq!(reader.u32("id").unwrap(), 7);
        assert_eq!(reader.bytes(8, "salt1").unwrap(), b"ABCDEFGH");
        assert_eq!(reader.u8("filler").unwrap(), 0);
        let low = reader.u16("caps").unwrap();
        assert_eq!(reader.u8("charset").unwrap(), SERVER_CHARSET);
        assert_eq!(reader.u16("status").unwrap(), SERVER_STATUS_AUTOCOMMIT);
        let high = reader.u16("caps").unwrap();
        assert_eq!(u32::from(low) | u32::from(high) << 16, SERVER_CAPABILITIES);
        assert_eq!(reader.u8("salt len").unwrap(), 21);
        reader.bytes(10, "reserved").unwrap();
        assert_eq!(reader.nul_terminated("salt2").unwrap(), b"IJKLMNOPQRST");
        assert_eq!(reader.nul_terminated("plugin").unwrap(), b"mysql_native_password");
        assert_eq!(reader.remaining(), 0);
    }

    #[test]
    fn response_with_database_plugin_and_attributes_parses() {
        let capabilities = CLIENT_PROTOCOL_41
            | CLIENT_SECURE_CONNECTION
            | CLIENT_PLUGIN_AUTH
            | CLIENT_CONNECT_WITH_DB
            | CLIENT_CONNECT_ATTRS
            | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA;
        let mut bytes = response_bytes(capabilities, "alice", &[9; 20], Some("test"), Some("caching_sha2_password"));
        let mut attrs = Vec::new();
        put_lenenc_bytes(&mut attrs, b"_client_name");
        put_lenenc_bytes(&mut attrs, b"libmariadb");
        put_lenenc_int(&mut bytes, attrs.len() as u64);
        bytes.extend_from_slice(&attrs);

        let ClientHello::Response(response) = parse_client_hello(&bytes).unwrap() else {
            panic!("expected a handshake response");
        };
        assert_eq!(response.user, "alice");
        assert_eq!(response.auth_response, vec![9; 20]);
        assert_eq!(response.database.as_deref(), Some("test"));
        assert_eq!(response.plugin.as_deref(), Some("caching_sha2_password"));
        assert_eq!(response.attributes, vec![("_client_name".to_string(), "libmariadb".to_string())]);
    }

    #[test]
    fn ssl_request_is_recognized() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&(CLIENT_PROTOCOL_41 | CLIENT_SSL).to_le_bytes());
        bytes.extend_from_slice(&[0; 28]);
        assert_eq!(parse_client_hello(&bytes).unwrap(), ClientHello::SslRequest);
    }

    #[test]
    fn pre_41_client_is_rejected() {
        let bytes = response_bytes(CLIENT_SECURE_CONNECTION, "root", b"", None, None);
        let err = parse_client_hello(&bytes).unwrap_err();
        assert!(err.to_string().contains("CLIENT_PROTOCOL_41"), "{err}");
    }

    #[test]
    fn auth_response_past_end_is_malformed() {
        let mut bytes = response_bytes(CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION, "root", b"", None, None);
        let last = bytes.len() - 1;
        bytes[last] = 200;
        assert!(parse_client_hello(&bytes).is_err());
    }

    #[test]
    fn salt_is_printable_and_varies() {
        let first = new_salt(1);
        let second = new_salt(1);
        assert!(first.iter().all(|byte| (33..=126).contains(byte)));
        assert_ne!(first, second);
    }

    proptest! {
        #[test]
        fn arbitrary_hello_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_client_hello(&bytes);
        }

        #[test]
        fn hello_with_valid_prefix_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..128), capabilities in any::<u32>()) {
            let mut bytes = Vec::new();
            bytes.extend_from_slice(&(capabilities | CLIENT_PROTOCOL_41).to_le_bytes());
            bytes.extend_from_slice(&[0; 28]);
            bytes.extend_from_slice(&tail);
            let _ = parse_client_hello(&bytes);
        }
    }
}
