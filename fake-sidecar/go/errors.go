package sidecarclient

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrWorkerDead is returned for a request to a worker that has already failed
// or been closed; start a new worker.
var ErrWorkerDead = errors.New("sidecar worker is dead or closed; start a new worker")

// StartError is a failed start (docs/protocol.md section 1.3). The process
// has been killed and reaped and its socket directory removed.
type StartError struct {
	Program    string
	Reason     string
	StderrTail []string
	Err        error
}

func (e *StartError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "start sidecar %q: %s", e.Program, e.Reason)
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if len(e.StderrTail) > 0 {
		fmt.Fprintf(&b, "; last lines of its standard error:\n%s", strings.Join(e.StderrTail, "\n"))
	} else {
		b.WriteString("; it wrote nothing to standard error")
	}
	return b.String()
}

func (e *StartError) Unwrap() error { return e.Err }

// FailureKind classifies a failure that kills the worker (section 6).
type FailureKind int

const (
	// FailureTimeout: no response within the request timeout.
	FailureTimeout FailureKind = iota + 1
	// FailureIO: EOF, connection reset or any other I/O error.
	FailureIO
	// FailureProtocol: a response that breaks the protocol.
	FailureProtocol
)

func (k FailureKind) String() string {
	switch k {
	case FailureTimeout:
		return "timeout"
	case FailureIO:
		return "I/O error"
	case FailureProtocol:
		return "protocol violation"
	}
	return "unknown failure"
}

// WorkerFailure is a request that failed in a way that killed the worker:
// the process has been killed and reaped and its socket directory removed.
type WorkerFailure struct {
	Kind    FailureKind
	Op      Op
	Model   string        // empty for ping and shutdown
	PID     int           // the sidecar process that was killed
	Timeout time.Duration // set for FailureTimeout
	Err     error
}

func (e *WorkerFailure) Error() string {
	subject := string(e.Op)
	if e.Model != "" {
		subject = fmt.Sprintf("%s of model %q", e.Op, e.Model)
	}
	if e.Kind == FailureTimeout {
		return fmt.Sprintf("sidecar %s timed out after %v; the sidecar (pid %d) was killed", subject, e.Timeout, e.PID)
	}
	return fmt.Sprintf("sidecar %s failed (%s): %v; the sidecar (pid %d) was killed", subject, e.Kind, e.Err, e.PID)
}

func (e *WorkerFailure) Unwrap() error { return e.Err }

// SidecarError is an error response. WorkerDead is set for the codes after
// which the sidecar closes the connection; the worker has then been killed,
// reaped and cleaned up.
type SidecarError struct {
	Op         Op
	Model      string
	Code       Code
	Message    string
	Exception  string
	WorkerDead bool
}

func (e *SidecarError) Error() string {
	if e.Model != "" {
		return fmt.Sprintf("model %q: sidecar %s: %s", e.Model, e.Code, e.Message)
	}
	return fmt.Sprintf("sidecar %s: %s: %s", e.Op, e.Code, e.Message)
}
