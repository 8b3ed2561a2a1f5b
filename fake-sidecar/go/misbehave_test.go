package sidecarclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// helperModeEnv makes the test binary act as a sidecar that breaks the
// protocol in one way, so the tests can check the client's section 6
// handling of responses that the real sidecars never send.
const helperModeEnv = "SIDECARCLIENT_HELPER_MODE"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperModeEnv); mode != "" {
		os.Exit(runMisbehavingSidecar(mode))
	}
	os.Exit(m.Run())
}

// runMisbehavingSidecar serves one connection on the --socket path. Every
// request gets a correct response except for the fault that mode names.
func runMisbehavingSidecar(mode string) int {
	socketPath := ""
	for i, arg := range os.Args {
		if arg == "--socket" && i+1 < len(os.Args) {
			socketPath = os.Args[i+1]
		}
	}
	listener, err := net.Listen("unix", socketPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		return 3
	}
	defer listener.Close()
	fmt.Printf(`{"ready":true,"protocol":1,"pid":%d,"implementation":"misbehaving/%s","max_header_bytes":65536,"max_payload_bytes":67108864}`+"\n", os.Getpid(), mode)

	conn, err := listener.Accept()
	if err != nil {
		return 1
	}
	defer conn.Close()
	for {
		frame, err := ReadFrame(conn, DefaultLimits())
		if err != nil {
			return 0
		}
		request, err := DecodeRequest(frame.Header)
		if err != nil {
			fmt.Fprintln(os.Stderr, "decode request:", err)
			return 1
		}
		if request.Op() == OpShutdown && mode == "ignore_shutdown" {
			time.Sleep(time.Minute)
		}
		if err := writeMisbehavingResponse(conn, mode, request, frame.Payload); err != nil {
			return 1
		}
		if request.Op() == OpShutdown {
			return 0
		}
	}
}

func writeMisbehavingResponse(conn net.Conn, mode string, request Request, payload []float32) error {
	id := request.RequestID()
	var response Response
	var out []float32
	switch r := request.(type) {
	case PingRequest:
		response = PingResponse{ID: id, Protocol: 1, Implementation: "misbehaving", PID: uint64(os.Getpid()), Cache: CacheStats{Capacity: 64}}
	case ShutdownRequest:
		response = ShutdownResponse{ID: id}
	case LoadRequest:
		response = LoadResponse{ID: id, Inputs: []Column{{"x", "float"}}, Outputs: []Column{{"y", "float"}}}
	case PredictRequest:
		response = PredictResponse{ID: id, OutputNames: []string{"y"}, BatchSize: r.BatchSize}
		out = make([]float32, r.BatchSize)
		copy(out, payload)
		switch mode {
		case "wrong_id":
			response = PredictResponse{ID: id + 1, OutputNames: []string{"y"}, BatchSize: r.BatchSize}
		case "short_payload":
			out = out[:len(out)-1]
		case "wrong_batch":
			response = PredictResponse{ID: id, OutputNames: []string{"y"}, BatchSize: r.BatchSize + 1}
		case "bad_magic":
			_, err := conn.Write([]byte("XXXX\x01\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00{}"))
			return err
		case "closing_error":
			response = ErrorResponse{ID: 0, Code: CodeBadFrame, Message: "bad magic"}
			out = nil
		}
	}
	header, err := response.EncodeHeader()
	if err != nil {
		return err
	}
	frame, err := EncodeFrame(header, out, DefaultLimits())
	if err != nil {
		return err
	}
	_, err = conn.Write(frame)
	return err
}

func misbehavingConfig(t *testing.T, mode string) Config {
	t.Helper()
	return Config{
		Program:       os.Args[0],
		Env:           []string{helperModeEnv + "=" + mode},
		SocketParent:  isolatedSocketParent(t),
		StartTimeout:  10 * time.Second,
		ShutdownGrace: 500 * time.Millisecond,
	}
}

func TestResponseViolationsKillWorker(t *testing.T) {
	for _, mode := range []string{"wrong_id", "short_payload", "wrong_batch", "bad_magic"} {
		mode := mode
		t.Run(mode, func(t *testing.T) {
			w := startWorker(t, misbehavingConfig(t, mode))
			defer assertGone(t, w)
			if _, err := w.Ping(context.Background()); err != nil {
				t.Fatalf("Ping: %v", err)
			}

			_, err := w.Predict(context.Background(), PredictInput{ModelPath: "/m", InputNames: []string{"x"}, Values: []float32{1, 2}})
			var failure *WorkerFailure
			if !errors.As(err, &failure) {
				t.Fatalf("Predict error = %v, expected a WorkerFailure", err)
			}
			if failure.Kind != FailureProtocol {
				t.Errorf("failure kind = %v, expected protocol violation (%v)", failure.Kind, err)
			}
			if w.Alive() {
				t.Error("worker is alive after a protocol violation")
			}
		})
	}
}

func TestConnectionClosingErrorKillsWorker(t *testing.T) {
	w := startWorker(t, misbehavingConfig(t, "closing_error"))
	defer assertGone(t, w)

	_, err := w.Predict(context.Background(), PredictInput{ModelPath: "/m", InputNames: []string{"x"}, Values: []float32{1}})
	var sidecarErr *SidecarError
	if !errors.As(err, &sidecarErr) || sidecarErr.Code != CodeBadFrame {
		t.Fatalf("Predict error = %v, expected a BAD_FRAME SidecarError", err)
	}
	if !sidecarErr.WorkerDead || w.Alive() {
		t.Error("BAD_FRAME left the worker alive, but the sidecar closes the connection after it")
	}
}

func TestCloseKillsAfterGrace(t *testing.T) {
	w := startWorker(t, misbehavingConfig(t, "ignore_shutdown"))
	start := time.Now()
	err := w.Close()
	if err == nil {
		t.Error("Close returned nil for a sidecar that ignored shutdown")
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Close took %v with a 500ms grace", elapsed)
	}
	assertGone(t, w)
	if _, desc := w.Exited(); desc != "signal: killed" {
		t.Errorf("sidecar ended with %q, expected SIGKILL", desc)
	}
}

func shellConfig(t *testing.T, script string) Config {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("find sh: %v", err)
	}
	return Config{
		Program:      sh,
		Args:         []string{"-c", script, "sidecar"},
		SocketParent: isolatedSocketParent(t),
		StartTimeout: 300 * time.Millisecond,
	}
}

func TestFailedStarts(t *testing.T) {
	cases := []struct {
		name, script, wantInError string
	}{
		{"exits early", `echo "ImportError: No module named mlflow" >&2; exit 4`, "No module named mlflow"},
		{"no readiness line", `echo "importing slowly" >&2; exec sleep 30`, "start timeout"},
		{"protocol 2", `echo '{"ready":true,"protocol":2}'; exec sleep 30`, "protocol 2 is not supported"},
		{"not ready", `echo '{"ready":false,"protocol":1}'; exec sleep 30`, `"ready" is not true`},
		{"not json", `echo 'listening'; exec sleep 30`, "not a JSON object"},
	}
	for _, c := range cases {
		c := c
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := StartWorker(context.Background(), shellConfig(t, c.script))
			var startErr *StartError
			if !errors.As(err, &startErr) {
				t.Fatalf("StartWorker error = %v, expected a StartError", err)
			}
			if !strings.Contains(err.Error(), c.wantInError) {
				t.Errorf("error %q does not contain %q", err, c.wantInError)
			}
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("failed start took %v with a 300ms start timeout", elapsed)
			}
		})
	}
}

func TestSocketPathTooLong(t *testing.T) {
	parent := isolatedSocketParent(t)
	long := parent + "/" + strings.Repeat("d", 100)
	if err := os.Mkdir(long, 0o700); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(long)

	cfg := Config{Program: "/nonexistent/sidecar", SocketParent: long}
	_, err := StartWorker(context.Background(), cfg)
	if err == nil {
		t.Fatal("StartWorker accepted a socket path above 107 bytes")
	}
	msg := err.Error()
	if !strings.Contains(msg, long) || !strings.Contains(msg, "above the limit of 107 bytes") {
		t.Errorf("error %q does not name the path and the limit", msg)
	}
	entries, _ := os.ReadDir(long)
	if len(entries) != 0 {
		t.Errorf("socket directory left in %s after the rejected start", long)
	}
}

func TestReadinessLineJSON(t *testing.T) {
	r, err := parseReadiness([]byte(`{"ready":true,"protocol":1,"pid":7,"implementation":"x/1","max_header_bytes":1000,"max_payload_bytes":4096}` + "\n"))
	if err != nil {
		t.Fatalf("parseReadiness: %v", err)
	}
	text, _ := json.Marshal(r)
	if want := `{"ready":true,"protocol":1,"pid":7,"implementation":"x/1","max_header_bytes":1000,"max_payload_bytes":4096}`; string(text) != want {
		t.Errorf("readiness = %s, expected %s", text, want)
	}
}
