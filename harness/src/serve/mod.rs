//! A MySQL client/server protocol front end for a [`Target`], so real MySQL
//! clients (the `mysql` and `mariadb` command-line clients, drivers) can
//! use the reference engine. See docs/serve.md.
//!
//! The server side of the protocol is implemented here because the engine's
//! errors must reach the client with their exact code, SQLSTATE and
//! message, including TiDB codes such as 8135 and 9006.
//!
//! - [`packet`]: packet framing and the limit on client messages.
//! - [`wire`]: length-encoded integers and strings.
//! - [`capabilities`]: capability and status flags.
//! - [`handshake`]: greeting, handshake response, auth switch.
//! - [`auth`]: the [`Authenticator`] and the `mysql_native_password`
//!   scramble.
//! - [`resultset`]: OK, ERR and EOF packets and text result sets.
//! - [`command`]: the command loop.
//! - [`server`]: the listener, connection tasks and shutdown.
//!
//! [`Target`]: crate::target::Target

pub mod auth;
pub mod capabilities;
pub mod command;
pub mod error;
pub mod handshake;
pub mod packet;
pub mod resultset;
pub mod server;
pub mod wire;

pub use auth::{access_denied, native_scramble, Authenticator};
pub use error::ProtocolError;
pub use server::{ServeError, Server, ServerConfig};
