package sidecarclient

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func startWorker(t *testing.T, cfg Config) *Worker {
	t.Helper()
	w, err := StartWorker(context.Background(), cfg)
	if err != nil {
		t.Fatalf("StartWorker: %v", err)
	}
	return w
}

func closeWorker(t *testing.T, w *Worker) {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	assertGone(t, w)
}

// churnBatch returns the rows of fixtures/inputs/churn.csv row-major, in
// the CSV's column order, and the values the model spec gives for them.
func churnBatch(t *testing.T) ([]string, [][]float32, []float32) {
	t.Helper()
	names, rows := readInputCSV(t, filepath.Join(repoRoot(t), "fixtures", "inputs", "churn.csv"))
	model := loadSpecModel(t, fixtureModel(t, "churn"))
	if strings.Join(names, ",") != strings.Join(model.inputs, ",") {
		t.Fatalf("churn.csv columns %q differ from the model inputs %q", names, model.inputs)
	}
	var expected []float32
	for _, row := range rows {
		out, err := model.evaluate(row)
		if err != nil {
			t.Fatal(err)
		}
		expected = append(expected, out...)
	}
	return names, rows, expected
}

func flatten(rows [][]float32, columns []int) []float32 {
	var values []float32
	for _, row := range rows {
		for _, c := range columns {
			values = append(values, row[c])
		}
	}
	return values
}

func assertBits(t *testing.T, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d values, expected %d", len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Errorf("value %d = %v (bits %08x), expected %v (bits %08x)",
				i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

func TestPingLoadPredictChurn(t *testing.T) {
	cfg := sidecarConfig(t)
	cfg.CacheEntries = 8
	w := startWorker(t, cfg)
	defer closeWorker(t, w)
	ctx := context.Background()

	if ready := w.Readiness(); ready.PID != uint64(w.PID()) {
		t.Errorf("readiness pid = %d, process pid = %d", ready.PID, w.PID())
	}
	if info, err := os.Stat(w.SocketDir()); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("socket directory mode = %v (%v), expected 0700", info.Mode().Perm(), err)
	}
	if info, err := os.Stat(w.SocketPath()); err != nil || info.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket %s is missing or not a socket (%v)", w.SocketPath(), err)
	}

	ping, err := w.Ping(ctx)
	if err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if ping.Protocol != 1 || ping.PID != uint64(w.PID()) {
		t.Errorf("ping = %+v, expected protocol 1 and pid %d", ping, w.PID())
	}
	if want := (CacheStats{Capacity: 8}); ping.Cache != want {
		t.Errorf("cache before any load = %+v, expected %+v", ping.Cache, want)
	}

	churn := fixtureModel(t, "churn")
	loaded, err := w.Load(ctx, churn)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if loaded.Cached {
		t.Error("first load reports cached = true")
	}
	wantInputs := []Column{{"tenure", "double"}, {"spend", "double"}}
	if len(loaded.Inputs) != 2 || loaded.Inputs[0] != wantInputs[0] || loaded.Inputs[1] != wantInputs[1] {
		t.Errorf("inputs = %+v, expected %+v", loaded.Inputs, wantInputs)
	}
	if len(loaded.Outputs) != 1 || loaded.Outputs[0] != (Column{"score", "float"}) {
		t.Errorf("outputs = %+v, expected [{score float}]", loaded.Outputs)
	}

	again, err := w.Load(ctx, churn)
	if err != nil {
		t.Fatalf("second Load: %v", err)
	}
	if !again.Cached {
		t.Error("second load reports cached = false")
	}

	names, rows, expected := churnBatch(t)
	out, err := w.Predict(ctx, PredictInput{ModelPath: churn, InputNames: names, Values: flatten(rows, []int{0, 1})})
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	if out.Rows != len(rows) || len(out.OutputNames) != 1 || out.OutputNames[0] != "score" {
		t.Errorf("predict output names %q rows %d, expected [score] and %d", out.OutputNames, out.Rows, len(rows))
	}
	assertBits(t, out.Values, expected)

	// The same rows with the columns swapped and output_names given.
	swapped, err := w.Predict(ctx, PredictInput{ModelPath: churn, InputNames: []string{names[1], names[0]},
		OutputNames: []string{"score"}, Values: flatten(rows, []int{1, 0})})
	if err != nil {
		t.Fatalf("Predict with swapped columns: %v", err)
	}
	assertBits(t, swapped.Values, expected)

	ping, err = w.Ping(ctx)
	if err != nil {
		t.Fatalf("Ping after predicts: %v", err)
	}
	// One load from disk; the second load and both predicts found it cached.
	if want := (CacheStats{Entries: 1, Capacity: 8, Loads: 1, Hits: 3}); ping.Cache != want {
		t.Errorf("cache after two loads and two predicts = %+v, expected %+v", ping.Cache, want)
	}
}

func TestPredictInputNameMismatch(t *testing.T) {
	w := startWorker(t, sidecarConfig(t))
	defer closeWorker(t, w)
	ctx := context.Background()
	churn := fixtureModel(t, "churn")

	_, err := w.Predict(ctx, PredictInput{ModelPath: churn, InputNames: []string{"tenure", "amount"}, Values: []float32{1, 2}})
	var sidecarErr *SidecarError
	if !errors.As(err, &sidecarErr) {
		t.Fatalf("Predict error = %v, expected a SidecarError", err)
	}
	if sidecarErr.Code != CodeBadRequest {
		t.Errorf("code = %s, expected BAD_REQUEST", sidecarErr.Code)
	}
	// NOTE: docs/protocol.md does not fix error messages; this is the text
	// of the kit's sidecars.
	const wantMessage = `input_names ["tenure","amount"] do not match the signature inputs ["tenure","spend"]`
	if sidecarErr.Message != wantMessage {
		t.Errorf("message = %q, expected %q", sidecarErr.Message, wantMessage)
	}
	if sidecarErr.WorkerDead || !w.Alive() {
		t.Error("BAD_REQUEST killed the worker, but it leaves the connection open")
	}

	if _, err := w.Ping(ctx); err != nil {
		t.Errorf("Ping after BAD_REQUEST: %v", err)
	}
}

func TestPredictTimeoutKillsHang(t *testing.T) {
	w := startWorker(t, sidecarConfig(t))
	defer assertGone(t, w)
	hang := fixtureModel(t, "faults/hang")

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := w.Predict(ctx, PredictInput{ModelPath: hang, InputNames: []string{"tenure", "spend"}, Values: []float32{1, 2}})
	elapsed := time.Since(start)

	var failure *WorkerFailure
	if !errors.As(err, &failure) {
		t.Fatalf("Predict error = %v, expected a WorkerFailure", err)
	}
	if failure.Kind != FailureTimeout {
		t.Errorf("failure kind = %v, expected timeout", failure.Kind)
	}
	if !strings.Contains(err.Error(), hang) || !strings.Contains(err.Error(), "timed out after") {
		t.Errorf("error %q does not name the model and the timeout", err)
	}
	if elapsed > 5*time.Second {
		t.Errorf("timeout took %v to take effect, expected about 300ms", elapsed)
	}
	if w.Alive() {
		t.Error("worker is still alive after a timeout")
	}
	if _, desc := w.Exited(); desc != "signal: killed" {
		t.Errorf("sidecar ended with %q, expected it killed by SIGKILL", desc)
	}
	if _, err := w.Ping(context.Background()); !errors.Is(err, ErrWorkerDead) {
		t.Errorf("Ping on the dead worker = %v, expected ErrWorkerDead", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close of a dead worker: %v", err)
	}
}

func TestCrashRecovery(t *testing.T) {
	client := NewClient(sidecarConfig(t))
	defer func() {
		if err := client.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	ctx := context.Background()
	crash := fixtureModel(t, "faults/crash2")
	names, rows, expected := churnBatch(t)
	in := PredictInput{ModelPath: crash, InputNames: names, Values: flatten(rows, []int{0, 1})}

	first, err := client.Worker(ctx)
	if err != nil {
		t.Fatalf("start worker: %v", err)
	}
	out, err := client.Predict(ctx, in)
	if err != nil {
		t.Fatalf("first predict: %v", err)
	}
	assertBits(t, out.Values, expected)

	// crash_on_request 2: the second predict ends the process with status 70.
	_, err = client.Predict(ctx, in)
	var failure *WorkerFailure
	if !errors.As(err, &failure) || failure.Kind != FailureIO {
		t.Fatalf("second predict error = %v, expected an I/O WorkerFailure", err)
	}
	if failure.PID != first.PID() {
		t.Errorf("failure names pid %d, expected %d", failure.PID, first.PID())
	}
	assertGone(t, first)
	if _, desc := first.Exited(); desc != "exit status 70" {
		t.Errorf("crashed sidecar ended with %q, expected exit status 70", desc)
	}

	// The next call starts a new worker, whose predict count starts again.
	out, err = client.Predict(ctx, in)
	if err != nil {
		t.Fatalf("predict after the crash: %v", err)
	}
	assertBits(t, out.Values, expected)
	second, err := client.Worker(ctx)
	if err != nil {
		t.Fatalf("Worker after restart: %v", err)
	}
	if second.PID() == first.PID() {
		t.Errorf("worker pid %d did not change after the crash", second.PID())
	}
}

func TestFaultErrorResponses(t *testing.T) {
	w := startWorker(t, sidecarConfig(t))
	defer closeWorker(t, w)
	ctx := context.Background()

	cases := []struct {
		model       string
		code        Code
		wantMessage string
	}{
		{"faults/error", CodePredictFailed, "injected failure"},
		{"faults/wrong_count", CodeBadOutput, "2"},
	}
	for _, c := range cases {
		model := fixtureModel(t, c.model)
		_, err := w.Predict(ctx, PredictInput{ModelPath: model, InputNames: []string{"tenure", "spend"}, Values: []float32{1, 2}})
		var sidecarErr *SidecarError
		if !errors.As(err, &sidecarErr) {
			t.Fatalf("%s: Predict error = %v, expected a SidecarError", c.model, err)
		}
		if sidecarErr.Code != c.code {
			t.Errorf("%s: code = %s, expected %s", c.model, sidecarErr.Code, c.code)
		}
		if !strings.Contains(sidecarErr.Message, c.wantMessage) {
			t.Errorf("%s: message %q does not contain %q", c.model, sidecarErr.Message, c.wantMessage)
		}
		if !strings.Contains(err.Error(), model) {
			t.Errorf("%s: error %q does not name the model", c.model, err)
		}
		if !w.Alive() {
			t.Fatalf("%s: %s killed the worker, but it leaves the connection open", c.model, c.code)
		}
	}

	// NaN passes through the protocol unchanged.
	out, err := w.Predict(ctx, PredictInput{ModelPath: fixtureModel(t, "faults/nan"), InputNames: []string{"tenure", "spend"}, Values: []float32{1, 2}})
	if err != nil {
		t.Fatalf("faults/nan: %v", err)
	}
	if len(out.Values) != 1 || !math.IsNaN(float64(out.Values[0])) {
		t.Errorf("faults/nan values = %v, expected one NaN", out.Values)
	}
}
