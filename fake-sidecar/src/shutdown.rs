//! The per-connection view of the server-wide shutdown signal.

use tokio::sync::broadcast;

/// Listens for the server's shutdown signal. The server signals by sending
/// on, or dropping, the broadcast sender; `recv` returns in both cases.
#[derive(Debug)]
pub struct Shutdown {
    /// Whether the signal was already received.
    received: bool,
    /// Receiving half of the server's broadcast channel.
    notify: broadcast::Receiver<()>,
}

impl Shutdown {
    /// Wraps a subscription to the server's broadcast channel.
    pub fn new(notify: broadcast::Receiver<()>) -> Shutdown {
        Shutdown {
            received: false,
            notify,
        }
    }

    /// Waits for the shutdown signal; returns at once if it already came.
    pub async fn recv(&mut self) {
        if self.received {
            return;
        }

        // A lagged or closed channel means the signal was sent.
        let _ = self.notify.recv().await;
        self.received = true;
    }
}
