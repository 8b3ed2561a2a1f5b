//! A TCP proxy on 127.0.0.1 that keeps each new connection waiting until
//! the test opens its gate, then relays it to a server on another local port. Tests
//! use it to keep a client stuck in a request to a real server for as long
//! as they need.

use std::io::{self, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running proxy. Dropping it stops accepting, closes every relayed
/// connection and joins its threads.
pub struct GatedProxy {
    /// Port the proxy listens on.
    pub port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    open: bool,
    stopping: bool,
    accepted: usize,
    /// Both ends of every relayed connection, shut down on drop.
    sockets: Vec<TcpStream>,
    relays: Vec<JoinHandle<()>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl GatedProxy {
    /// Starts a proxy to `127.0.0.1:upstream_port` with its gate closed.
    /// A connection held for `max_hold` is relayed anyway, so a test that
    /// fails before opening the gate cannot leave a client stuck.
    pub fn start(upstream_port: u16, max_hold: Duration) -> GatedProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(Shared {
            state: Mutex::new(GateState::default()),
            changed: Condvar::new(),
        });
        let accept_shared = Arc::clone(&shared);
        let acceptor = std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let mut state = accept_shared.lock();
                if state.stopping {
                    break;
                }
                state.accepted += 1;
                let relay_shared = Arc::clone(&accept_shared);
                state.relays.push(std::thread::spawn(move || {
                    relay(&relay_shared, client, upstream_port, max_hold)
                }));
                drop(state);
                accept_shared.changed.notify_all();
            }
        });
        GatedProxy {
            port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Waits until at least one client has connected; returns false when
    /// none did within `timeout`.
    pub fn wait_for_client(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        while state.accepted == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// Opens the gate: held and later connections are relayed.
    pub fn open(&self) {
        self.shared.lock().open = true;
        self.shared.changed.notify_all();
    }
}

/// Holds `client` until the gate opens, then copies bytes both ways
/// between it and the upstream server until either side closes.
fn relay(shared: &Shared, client: TcpStream, upstream_port: u16, max_hold: Duration) {
    let deadline = Instant::now() + max_hold;
    let mut state = shared.lock();
    while !state.open && !state.stopping && Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        state = shared
            .changed
            .wait_timeout(state, left)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
    if state.stopping {
        return;
    }
    drop(state);

    let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
        return;
    };
    let (Ok(client_reader), Ok(upstream_writer), Ok(client_copy), Ok(upstream_copy)) = (
        client.try_clone(),
        upstream.try_clone(),
        client.try_clone(),
        upstream.try_clone(),
    ) else {
        return;
    };
    {
        let mut state = shared.lock();
        if state.stopping {
            return;
        }
        state.sockets.push(client_copy);
        state.sockets.push(upstream_copy);
    }

    let forward = std::thread::spawn(move || pipe(client_reader, upstream_writer));
    pipe(upstream, client);
    let _ = forward.join();
}

/// Copies `from` to `to` until end of stream, then shuts down the write
/// side of `to` so the peer reads the end of stream too.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.flush();
    let _ = to.shutdown(Shutdown::Write);
}

impl Drop for GatedProxy {
    fn drop(&mut self) {
        {
            let mut state = self.shared.lock();
            state.stopping = true;
            state.open = true;
        }
        self.shared.changed.notify_all();

        // Wake the acceptor with one last connection so it checks `stopping`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }

        let relays = {
            let mut state = self.shared.lock();
            for socket in &state.sockets {
                let _ = socket.shutdown(Shutdown::Both);
            }
            std::mem::take(&mut state.relays)
        };
        for relay in relays {
            let _ = relay.join();
        }
    }
}
