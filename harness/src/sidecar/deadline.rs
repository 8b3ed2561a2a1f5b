//! Blocking socket I/O bounded by a deadline.
//!
//! Each read or write blocks in the kernel for at most the time left until
//! the deadline, through `SO_RCVTIMEO` and `SO_SNDTIMEO`, and never longer
//! than [`STEP`]. The kernel rounds long socket timeouts up to a coarse
//! timer granularity (a 500 ms timeout took 515 ms on Linux 6.x), while
//! short ones end within a few milliseconds. A call that stops at a timeout
//! before the deadline is retried. Setting a socket option costs a system
//! call, so the timeout set last is remembered. It changes only when it
//! would let a call run past the deadline by more than [`SLACK`], or when
//! it is far shorter than the step.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// How far past the deadline one blocking call may end.
const SLACK: Duration = Duration::from_millis(1);

/// Maximum time one blocking call waits before the deadline is checked
/// again.
const STEP: Duration = Duration::from_millis(20);

/// The timeouts last set on a socket, so that unchanged ones are not set
/// again.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SocketTimeouts {
    read: Option<Duration>,
    write: Option<Duration>,
}

/// A socket whose reads and writes fail with [`ErrorKind::TimedOut`] once
/// `deadline` has passed.
pub(crate) struct DeadlineStream<'a> {
    pub(crate) stream: &'a UnixStream,
    pub(crate) deadline: Instant,
    pub(crate) timeouts: &'a mut SocketTimeouts,
}

impl DeadlineStream<'_> {
    /// Time left, or a `TimedOut` error when none is.
    fn remaining(&self) -> std::io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        Ok(left)
    }

    /// Returns the timeout to set for `left` time left, or `None` when the
    /// timeout already `set` can stay.
    fn update(set: Option<Duration>, left: Duration) -> Option<Duration> {
        let target = left.min(STEP);
        match set {
            Some(set) if set <= left + SLACK && set >= target / 2 => None,
            _ => Some(target),
        }
    }

    fn prepare_read(&mut self) -> std::io::Result<()> {
        let left = self.remaining()?;
        if let Some(timeout) = Self::update(self.timeouts.read, left) {
            self.stream.set_read_timeout(Some(timeout))?;
            self.timeouts.read = Some(timeout);
        }
        Ok(())
    }

    fn prepare_write(&mut self) -> std::io::Result<()> {
        let left = self.remaining()?;
        if let Some(timeout) = Self::update(self.timeouts.write, left) {
            self.stream.set_write_timeout(Some(timeout))?;
            self.timeouts.write = Some(timeout);
        }
        Ok(())
    }
}

/// Reports whether an I/O error is a socket timeout expiring.
fn is_timeout(err: &std::io::Error) -> bool {
    matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

impl Read for DeadlineStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            self.prepare_read()?;
            match (&*self.stream).read(buf) {
                Err(err) if is_timeout(&err) => continue,
                other => return other,
            }
        }
    }
}

impl Write for DeadlineStream<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        loop {
            self.prepare_write()?;
            match (&*self.stream).write(buf) {
                Err(err) if is_timeout(&err) => continue,
                other => return other,
            }
        }
    }

    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        loop {
            self.prepare_write()?;
            match (&*self.stream).write_vectored(bufs) {
                Err(err) if is_timeout(&err) => continue,
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_stops_at_the_deadline() {
        let (left, _right) = UnixStream::pair().expect("pair");
        let mut timeouts = SocketTimeouts::default();
        let started = Instant::now();
        let mut stream = DeadlineStream {
            stream: &left,
            deadline: started + Duration::from_millis(50),
            timeouts: &mut timeouts,
        };
        let err = stream.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(50), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(500), "{elapsed:?}");

        // A longer deadline still ends close to its time.
        let started = Instant::now();
        let mut stream = DeadlineStream {
            stream: &left,
            deadline: started + Duration::from_millis(500),
            timeouts: &mut timeouts,
        };
        let err = stream.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(500), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(750), "{elapsed:?}");
    }

    #[test]
    fn deadline_shortens_an_earlier_timeout() {
        let (left, mut right) = UnixStream::pair().expect("pair");
        let mut timeouts = SocketTimeouts::default();
        let mut stream = DeadlineStream {
            stream: &left,
            deadline: Instant::now() + Duration::from_secs(30),
            timeouts: &mut timeouts,
        };
        right.write_all(b"ab").expect("write");
        let mut two = [0u8; 2];
        stream.read_exact(&mut two).expect("read");
        assert_eq!(&two, b"ab");

        let started = Instant::now();
        let mut stream = DeadlineStream {
            stream: &left,
            deadline: started + Duration::from_millis(40),
            timeouts: &mut timeouts,
        };
        let err = stream.read(&mut two).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
