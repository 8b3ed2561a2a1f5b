//! Capability flags of the handshake, and server status flags.

/// Longer password hashes (always set by 4.1+ clients).
pub const CLIENT_LONG_PASSWORD: u32 = 0x0000_0001;
/// Longer column flags in column definitions.
pub const CLIENT_LONG_FLAG: u32 = 0x0000_0004;
/// A default database in the handshake response.
pub const CLIENT_CONNECT_WITH_DB: u32 = 0x0000_0008;
/// The 4.1 protocol: required by this server.
pub const CLIENT_PROTOCOL_41: u32 = 0x0000_0200;
/// TLS; never advertised by this server.
pub const CLIENT_SSL: u32 = 0x0000_0800;
/// Transaction status flags in OK and EOF packets.
pub const CLIENT_TRANSACTIONS: u32 = 0x0000_2000;
/// Length-prefixed auth response in the handshake response.
pub const CLIENT_SECURE_CONNECTION: u32 = 0x0000_8000;
/// Authentication method names in the handshake.
pub const CLIENT_PLUGIN_AUTH: u32 = 0x0008_0000;
/// Connection attributes in the handshake response.
pub const CLIENT_CONNECT_ATTRS: u32 = 0x0010_0000;
/// Length-encoded auth response in the handshake response.
pub const CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 0x0020_0000;
/// OK packets (header 0xFE) in place of EOF packets after result rows.
pub const CLIENT_DEPRECATE_EOF: u32 = 0x0100_0000;

/// Everything this server implements. Multi-statements, session tracking,
/// query attributes, compression and TLS are not offered, so clients do
/// not use them.
pub const SERVER_CAPABILITIES: u32 = CLIENT_LONG_PASSWORD
    | CLIENT_LONG_FLAG
    | CLIENT_CONNECT_WITH_DB
    | CLIENT_PROTOCOL_41
    | CLIENT_TRANSACTIONS
    | CLIENT_SECURE_CONNECTION
    | CLIENT_PLUGIN_AUTH
    | CLIENT_CONNECT_ATTRS
    | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
    | CLIENT_DEPRECATE_EOF;

/// A transaction is open.
pub const SERVER_STATUS_IN_TRANS: u16 = 0x0001;
/// Autocommit mode is on.
pub const SERVER_STATUS_AUTOCOMMIT: u16 = 0x0002;
