package sidecarclient

import (
	"bytes"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// repoRoot is the repository root, two levels above fake-sidecar/go.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatalf("resolve repository root: %v", err)
	}
	return root
}

func fixtureModel(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "fixtures", "mlflow", name)
	if _, err := os.Stat(filepath.Join(dir, "MLmodel")); err != nil {
		t.Fatalf("fixture model %s: %v", name, err)
	}
	return dir
}

// fakeSidecarBin returns the fake-sidecar binary named by FAKE_SIDECAR_BIN.
// The os.Stat also makes `go test` cache results per binary version, since
// the test cache records the size and modification time of files the tests
// stat.
func fakeSidecarBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("FAKE_SIDECAR_BIN")
	if bin == "" {
		t.Fatal("FAKE_SIDECAR_BIN is not set; build the fake sidecar with `cargo build -p fake-sidecar` and run FAKE_SIDECAR_BIN=<repo>/target/debug/fake-sidecar go test ./...")
	}
	info, err := os.Stat(bin)
	if err != nil {
		t.Fatalf("FAKE_SIDECAR_BIN=%q: %v; build it with `cargo build -p fake-sidecar`", bin, err)
	}
	if info.IsDir() || info.Mode().Perm()&0o111 == 0 {
		t.Fatalf("FAKE_SIDECAR_BIN=%q is not an executable file", bin)
	}
	return bin
}

// testLogWriter sends the client's log lines to the test log.
type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// sidecarConfig returns a Config for the fake sidecar whose socket
// directories go in a fresh parent directory. At the end of the test it
// checks that no socket directory and no child process remain.
func sidecarConfig(t *testing.T) Config {
	t.Helper()
	return Config{
		Program:      fakeSidecarBin(t),
		SocketParent: isolatedSocketParent(t),
		StartTimeout: 10 * time.Second,
		Logger:       log.New(testLogWriter{t}, "", log.Lmicroseconds),
		Stderr:       testLogWriter{t},
	}
}

// isolatedSocketParent creates a short parent directory under os.TempDir and
// registers the end-of-test checks.
func isolatedSocketParent(t *testing.T) string {
	t.Helper()
	parent, err := os.MkdirTemp("", "sct-")
	if err != nil {
		t.Fatalf("create socket parent: %v", err)
	}
	t.Cleanup(func() {
		assertNoChildren(t)
		entries, err := os.ReadDir(parent)
		if err != nil {
			t.Errorf("read socket parent %s: %v", parent, err)
		}
		for _, e := range entries {
			t.Errorf("socket directory %s left behind", filepath.Join(parent, e.Name()))
		}
		_ = os.RemoveAll(parent)
	})
	return parent
}

// childPIDs lists the processes, zombies included, whose parent is this test
// process, read from /proc/<pid>/stat.
func childPIDs(t *testing.T) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatalf("list /proc: %v", err)
	}
	self := os.Getpid()
	var children []int
	for _, path := range stats {
		text, err := os.ReadFile(path)
		if err != nil {
			continue // the process ended while we listed
		}
		// The command name in parentheses may contain spaces, so the fields
		// after it start at the last ')'.
		end := bytes.LastIndexByte(text, ')')
		if end < 0 {
			continue
		}
		fields := strings.Fields(string(text[end+1:]))
		if len(fields) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(fields[1]); err == nil && ppid == self {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
			children = append(children, pid)
		}
	}
	return children
}

func assertNoChildren(t *testing.T) {
	t.Helper()
	if children := childPIDs(t); len(children) > 0 {
		t.Errorf("child processes remain after the test: %v", children)
	}
}

// assertGone checks that a worker's process is reaped and its socket
// directory removed.
func assertGone(t *testing.T, w *Worker) {
	t.Helper()
	if exited, _ := w.Exited(); !exited {
		t.Errorf("sidecar pid %d has not been reaped", w.PID())
	}
	if _, err := os.Stat(w.SocketDir()); !os.IsNotExist(err) {
		t.Errorf("socket directory %s still exists (stat error %v)", w.SocketDir(), err)
	}
	for _, pid := range childPIDs(t) {
		if pid == w.PID() {
			t.Errorf("sidecar pid %d is still a child of the test process", pid)
		}
	}
}
