package sidecarclient

import (
	"io"
	"log"
	"time"
)

// Defaults for Config fields left at their zero value.
const (
	// DefaultStartTimeout covers `import mlflow.pyfunc`, which alone can take
	// about 2 s on a small machine, with a wide margin.
	DefaultStartTimeout   = 20 * time.Second
	DefaultRequestTimeout = 30 * time.Second
	DefaultShutdownGrace  = 5 * time.Second
	DefaultStderrTail     = 20
)

// MaxSocketPathBytes is the longest socket path: sun_path on Linux holds 108
// bytes including the terminating NUL.
const MaxSocketPathBytes = 107

// socketFileName is the socket's name inside its private directory.
const socketFileName = "sidecar.sock"

// Config describes how to launch and talk to one sidecar process.
type Config struct {
	// Program is the executable: the fake-sidecar binary, or the Python
	// interpreter for the MLflow sidecar.
	Program string
	// Args go before --socket, for example the path of mlflow_sidecar.py.
	Args []string
	// Env holds extra "KEY=value" entries for the sidecar's environment,
	// added to the client's own environment.
	Env []string
	// CacheEntries sets --cache-entries (1 to 65536); 0 leaves the
	// sidecar's default of 64.
	CacheEntries int
	// SocketParent is the directory in which the private socket directory is
	// created; empty means os.TempDir(). The socket path must stay under
	// MaxSocketPathBytes.
	SocketParent string
	// StartTimeout bounds the wait for the readiness line and the connect.
	StartTimeout time.Duration
	// RequestTimeout bounds each request when the caller's context has no
	// earlier deadline.
	RequestTimeout time.Duration
	// ShutdownGrace bounds Close: the shutdown request and the wait for the
	// process to exit together, before the process is killed.
	ShutdownGrace time.Duration
	// StderrTail is how many of the sidecar's last standard error lines a
	// failed start reports.
	StderrTail int
	// Stderr, when set, also receives everything the sidecar writes to
	// standard error.
	Stderr io.Writer
	// Logger, when set, receives the client's log of starts, stops, kills and
	// failures.
	Logger *log.Logger
}

func (c Config) withDefaults() Config {
	if c.StartTimeout <= 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = DefaultShutdownGrace
	}
	if c.StderrTail <= 0 {
		c.StderrTail = DefaultStderrTail
	}
	return c
}

func (c Config) logf(format string, args ...any) {
	if c.Logger != nil {
		c.Logger.Printf(format, args...)
	}
}
