package sidecarclient

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxReadinessLineBytes bounds the readiness line so that a sidecar that
// writes without a newline cannot make the client buffer without limit.
const maxReadinessLineBytes = 64 << 10

// Readiness is the line a sidecar writes to standard output once it serves.
type Readiness struct {
	Ready           bool   `json:"ready"`
	Protocol        uint64 `json:"protocol"`
	PID             uint64 `json:"pid"`
	Implementation  string `json:"implementation"`
	MaxHeaderBytes  uint64 `json:"max_header_bytes"`
	MaxPayloadBytes uint64 `json:"max_payload_bytes"`
}

// process is a launched sidecar and the goroutines that watch it.
type process struct {
	cmd    *exec.Cmd
	pid    int
	exited chan struct{} // closed once Wait has reaped the process
	// waitErr is written before exited is closed.
	waitErr error

	stdout, stderr *os.File
	stderrDone     chan struct{} // closed when standard error reaches EOF
	tail           *lineTail
}

// StartWorker launches a sidecar in a new private socket directory, waits for
// its readiness line and connects to its socket. On any failure it kills and
// reaps the process, removes the directory and returns a *StartError (or a
// plain error for an invalid Config).
func StartWorker(ctx context.Context, cfg Config) (*Worker, error) {
	cfg = cfg.withDefaults()
	if cfg.Program == "" {
		return nil, errors.New("sidecar Config.Program is empty; set it to the sidecar executable")
	}
	if cfg.CacheEntries < 0 || cfg.CacheEntries > 65536 {
		return nil, fmt.Errorf("sidecar Config.CacheEntries is %d; use 1 to 65536, or 0 for the sidecar's default", cfg.CacheEntries)
	}

	dir, socketPath, err := makeSocketDir(cfg.SocketParent)
	if err != nil {
		return nil, err
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()

	proc, err := launch(cfg, socketPath)
	if err != nil {
		removeDir(cfg, dir)
		return nil, &StartError{Program: cfg.Program, Reason: "launch failed", Err: err}
	}
	cfg.logf("sidecar %s started as pid %d with socket %s", cfg.Program, proc.pid, socketPath)

	ready, err := awaitReadiness(ctx, proc)
	if err != nil {
		return nil, abortStart(cfg, proc, dir, err)
	}

	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "unix", socketPath)
	if err != nil {
		return nil, abortStart(cfg, proc, dir, &StartError{Reason: "connect to " + socketPath + " failed", Err: err})
	}

	cfg.logf("sidecar pid %d ready: %s, protocol %d", proc.pid, ready.Implementation, ready.Protocol)
	return newWorker(cfg, proc, dir, socketPath, ready, conn), nil
}

// makeSocketDir creates a directory that only this user can open and checks
// the length of the socket path inside it.
func makeSocketDir(parent string) (dir, socketPath string, err error) {
	if parent == "" {
		parent = os.TempDir()
	}
	parent, err = filepath.Abs(parent)
	if err != nil {
		return "", "", fmt.Errorf("resolve socket parent directory %q: %w", parent, err)
	}

	dir, err = os.MkdirTemp(parent, "sidecar-")
	if err != nil {
		return "", "", fmt.Errorf("create socket directory in %q: %w", parent, err)
	}
	// MkdirTemp already uses 0700; Chmod states it and survives a changed default.
	if err := os.Chmod(dir, 0o700); err != nil {
		_ = os.RemoveAll(dir)
		return "", "", fmt.Errorf("set mode 0700 on socket directory %q: %w", dir, err)
	}

	socketPath = filepath.Join(dir, socketFileName)
	if len(socketPath) > MaxSocketPathBytes {
		_ = os.RemoveAll(dir)
		return "", "", fmt.Errorf("socket path %q is %d bytes, above the limit of %d bytes (sun_path holds 108 with the terminating NUL); set Config.SocketParent to a shorter directory",
			socketPath, len(socketPath), MaxSocketPathBytes)
	}
	return dir, socketPath, nil
}

// launch starts the process with its own pipes. The pipes are *os.File so
// exec hands them to the child directly, and cmd.Wait does not wait for or
// close them; the client reads them until EOF.
func launch(cfg Config, socketPath string) (*process, error) {
	args := append(append([]string{}, cfg.Args...), "--socket", socketPath)
	if cfg.CacheEntries > 0 {
		args = append(args, "--cache-entries", strconv.Itoa(cfg.CacheEntries))
	}
	cmd := exec.Command(cfg.Program, args...)
	if len(cfg.Env) > 0 {
		cmd.Env = append(os.Environ(), cfg.Env...)
	}

	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		stdoutR.Close()
		stdoutW.Close()
		return nil, err
	}
	cmd.Stdout = stdoutW
	cmd.Stderr = stderrW

	err = cmd.Start()
	stdoutW.Close()
	stderrW.Close()
	if err != nil {
		stdoutR.Close()
		stderrR.Close()
		return nil, err
	}

	proc := &process{
		cmd:        cmd,
		pid:        cmd.Process.Pid,
		exited:     make(chan struct{}),
		stdout:     stdoutR,
		stderr:     stderrR,
		stderrDone: make(chan struct{}),
		tail:       newLineTail(cfg.StderrTail),
	}
	go func() {
		proc.waitErr = cmd.Wait()
		close(proc.exited)
	}()
	go proc.readStderr(cfg.Stderr)
	return proc, nil
}

func (p *process) readStderr(copyTo io.Writer) {
	defer close(p.stderrDone)
	scanner := bufio.NewScanner(p.stderr)
	scanner.Buffer(make([]byte, 0, 4096), 1<<20)
	for scanner.Scan() {
		line := scanner.Text()
		p.tail.add(line)
		if copyTo != nil {
			fmt.Fprintln(copyTo, line)
		}
	}
}

type readinessResult struct {
	line []byte
	err  error
}

// awaitReadiness reads the first line of standard output and then keeps
// draining it, so that a sidecar that breaks the rule of writing nothing else
// cannot block on a full pipe.
func awaitReadiness(ctx context.Context, proc *process) (Readiness, error) {
	lines := make(chan readinessResult, 1)
	go func() {
		reader := bufio.NewReaderSize(proc.stdout, 4096)
		line, err := readLine(reader, maxReadinessLineBytes)
		lines <- readinessResult{line: line, err: err}
		if err == nil {
			_, _ = io.Copy(io.Discard, reader)
		}
	}()

	select {
	case <-ctx.Done():
		return Readiness{}, &StartError{Reason: "no readiness line on standard output before the start timeout", Err: ctx.Err()}
	case <-proc.exited:
		return Readiness{}, &StartError{Reason: "the process exited before its readiness line", Err: proc.waitErr}
	case got := <-lines:
		if got.err != nil {
			return Readiness{}, &StartError{Reason: "standard output ended before a readiness line", Err: got.err}
		}
		return parseReadiness(got.line)
	}
}

// readLine reads one '\n'-terminated line of at most max bytes.
func readLine(reader *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := reader.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > max {
			return nil, fmt.Errorf("line is longer than %d bytes", max)
		}
		if err == nil {
			return line, nil
		}
		if err != bufio.ErrBufferFull {
			return nil, err
		}
	}
}

func parseReadiness(line []byte) (Readiness, error) {
	fail := func(reason string, err error) (Readiness, error) {
		return Readiness{}, &StartError{Reason: fmt.Sprintf("invalid readiness line %q: %s", line, reason), Err: err}
	}

	obj, err := parseObject(line, "readiness line")
	if err != nil {
		return fail("not a JSON object", err)
	}
	var r Readiness
	if err := obj.required("ready", &r.Ready); err != nil || !r.Ready {
		return fail(`"ready" is not true`, err)
	}
	if err := obj.required("protocol", &r.Protocol); err != nil {
		return fail(`"protocol" is missing or not an integer`, err)
	}
	if r.Protocol != ProtocolVersion {
		return fail(fmt.Sprintf("protocol %d is not supported, this client speaks protocol %d", r.Protocol, ProtocolVersion), nil)
	}

	// The remaining fields are informational or only lower what the client
	// sends, so absent limits fall back to the protocol's.
	// NOTE: the specification lists these fields but does not say whether a
	// client must reject a readiness line without them.
	r.MaxHeaderBytes, r.MaxPayloadBytes = DefaultMaxHeaderBytes, DefaultMaxPayloadBytes
	for _, field := range []struct {
		key string
		dst any
	}{
		{"pid", &r.PID},
		{"implementation", &r.Implementation},
		{"max_header_bytes", &r.MaxHeaderBytes},
		{"max_payload_bytes", &r.MaxPayloadBytes},
	} {
		if _, err := obj.optional(field.key, field.dst); err != nil {
			return fail(fmt.Sprintf("%q has the wrong type", field.key), err)
		}
	}
	if r.MaxHeaderBytes < MinHeaderBytes {
		return fail(fmt.Sprintf("max_header_bytes %d is below the %d-byte minimum header", r.MaxHeaderBytes, MinHeaderBytes), nil)
	}
	return r, nil
}

// abortStart kills and reaps the process, removes the socket directory and
// completes the StartError with the tail of standard error.
func abortStart(cfg Config, proc *process, dir string, err error) error {
	killAndReap(cfg, proc)
	removeDir(cfg, dir)

	var startErr *StartError
	if !errors.As(err, &startErr) {
		startErr = &StartError{Reason: "start failed", Err: err}
	}
	startErr.Program = cfg.Program
	startErr.StderrTail = proc.tail.lines()
	cfg.logf("sidecar pid %d failed to start: %v", proc.pid, startErr)
	return startErr
}

// killAndReap sends SIGKILL unless the process has exited, waits for Wait to
// reap it, and closes the pipes once standard error is drained.
func killAndReap(cfg Config, proc *process) {
	select {
	case <-proc.exited:
	default:
		if err := proc.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			cfg.logf("sidecar pid %d: kill failed: %v", proc.pid, err)
		}
	}
	reap(cfg, proc)
}

// reap waits for the process to be reaped and its standard error drained.
// Both waits are bounded: SIGKILL ends a process promptly, but a descendant
// that inherited standard error may keep it open.
func reap(cfg Config, proc *process) {
	select {
	case <-proc.exited:
	case <-time.After(10 * time.Second):
		cfg.logf("sidecar pid %d has not exited 10 s after SIGKILL", proc.pid)
	}
	select {
	case <-proc.stderrDone:
	case <-time.After(time.Second):
	}
	proc.stdout.Close()
	proc.stderr.Close()
}

func removeDir(cfg Config, dir string) {
	if err := os.RemoveAll(dir); err != nil {
		cfg.logf("remove socket directory %s failed: %v", dir, err)
	}
}

// exitDescription renders how a reaped process ended.
func exitDescription(proc *process) string {
	state := proc.cmd.ProcessState
	if state == nil {
		return "not reaped"
	}
	return state.String()
}

// lineTail keeps the last n lines written to it.
type lineTail struct {
	mu    sync.Mutex
	n     int
	items []string
}

func newLineTail(n int) *lineTail { return &lineTail{n: n} }

func (t *lineTail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.items = append(t.items, strings.TrimRight(line, "\r"))
	if len(t.items) > t.n {
		t.items = t.items[len(t.items)-t.n:]
	}
}

func (t *lineTail) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.items...)
}

// clampU32 fits an announced limit into the u32 length fields of a frame.
func clampU32(v uint64) uint32 {
	if v > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(v)
}
