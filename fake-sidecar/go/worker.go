package sidecarclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Worker is one sidecar process plus one connection to it. Its methods are
// safe for concurrent use and send one request at a time. After a failure
// that kills the worker, every method returns ErrWorkerDead (wrapped).
type Worker struct {
	cfg        Config
	proc       *process
	dir        string
	socketPath string
	ready      Readiness
	sendLimits Limits
	recvLimits Limits

	mu     sync.Mutex // held for a whole request and by Close
	conn   net.Conn
	nextID uint64
	dead   bool
}

func newWorker(cfg Config, proc *process, dir, socketPath string, ready Readiness, conn net.Conn) *Worker {
	send := Limits{MaxHeaderBytes: clampU32(ready.MaxHeaderBytes), MaxPayloadBytes: clampU32(ready.MaxPayloadBytes)}
	// Responses are checked against the larger of the protocol's limits and
	// what the sidecar announced.
	// NOTE: the specification bounds what a sidecar accepts, not what it
	// sends; this bound for responses is the client's own choice.
	recv := DefaultLimits()
	if send.MaxHeaderBytes > recv.MaxHeaderBytes {
		recv.MaxHeaderBytes = send.MaxHeaderBytes
	}
	if send.MaxPayloadBytes > recv.MaxPayloadBytes {
		recv.MaxPayloadBytes = send.MaxPayloadBytes
	}
	return &Worker{
		cfg: cfg, proc: proc, dir: dir, socketPath: socketPath, ready: ready,
		sendLimits: send, recvLimits: recv, conn: conn, nextID: 1,
	}
}

// PID returns the process id of the sidecar.
func (w *Worker) PID() int { return w.proc.pid }

// SocketDir returns the private directory that holds the socket.
func (w *Worker) SocketDir() string { return w.dir }

// SocketPath returns the path of the sidecar's socket.
func (w *Worker) SocketPath() string { return w.socketPath }

// Readiness returns the sidecar's readiness line.
func (w *Worker) Readiness() Readiness { return w.ready }

// Alive reports whether the worker can still take requests.
func (w *Worker) Alive() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.dead
}

// Exited reports whether the process has been reaped, and how it ended.
func (w *Worker) Exited() (bool, string) {
	select {
	case <-w.proc.exited:
		return true, exitDescription(w.proc)
	default:
		return false, ""
	}
}

// Ping checks that the sidecar responds and returns its cache counters.
func (w *Worker) Ping(ctx context.Context) (PingResponse, error) {
	check := func(response Response, _ []float32) error {
		if protocol := response.(PingResponse).Protocol; protocol != ProtocolVersion {
			return fmt.Errorf("ping response has protocol %d, expected %d", protocol, ProtocolVersion)
		}
		return nil
	}
	response, _, err := w.call(ctx, func(id uint64) Request { return PingRequest{ID: id} }, "", nil, check)
	if err != nil {
		return PingResponse{}, err
	}
	return response.(PingResponse), nil
}

// Load loads a model into the sidecar's cache, or finds it there, and
// returns its signature.
func (w *Worker) Load(ctx context.Context, modelPath string) (LoadResponse, error) {
	response, _, err := w.call(ctx, func(id uint64) Request { return LoadRequest{ID: id, ModelPath: modelPath} }, modelPath, nil, nil)
	if err != nil {
		return LoadResponse{}, err
	}
	return response.(LoadResponse), nil
}

// PredictInput is a batch of rows for one model.
type PredictInput struct {
	ModelPath  string
	InputNames []string
	// OutputNames is optional: nil takes the signature's order.
	OutputNames []string
	// Values holds the rows, row-major: len(InputNames) values per row.
	Values []float32
}

// PredictOutput is the result of a batch.
type PredictOutput struct {
	OutputNames []string
	Rows        int
	// Values holds the rows, row-major: len(OutputNames) values per row.
	Values []float32
}

// Predict runs a model on a batch. A batch of zero rows returns zero rows
// without contacting the sidecar, as the protocol requires.
func (w *Worker) Predict(ctx context.Context, in PredictInput) (PredictOutput, error) {
	rows, err := checkPredictInput(in)
	if err != nil {
		return PredictOutput{}, err
	}
	if rows == 0 {
		return PredictOutput{OutputNames: in.OutputNames}, nil
	}

	build := func(id uint64) Request {
		return PredictRequest{ID: id, ModelPath: in.ModelPath, InputNames: in.InputNames,
			OutputNames: in.OutputNames, BatchSize: uint64(rows)}
	}
	check := func(response Response, payload []float32) error {
		return checkPredictResponse(in, rows, response.(PredictResponse), len(payload))
	}
	response, payload, err := w.call(ctx, build, in.ModelPath, in.Values, check)
	if err != nil {
		return PredictOutput{}, err
	}
	return PredictOutput{OutputNames: response.(PredictResponse).OutputNames, Rows: rows, Values: payload}, nil
}

func checkPredictInput(in PredictInput) (int, error) {
	if in.ModelPath == "" {
		return 0, errors.New("predict: ModelPath is empty; set the model directory")
	}
	if err := checkNames("predict input names", in.InputNames); err != nil {
		return 0, err
	}
	if in.OutputNames != nil {
		if err := checkNames("predict output names", in.OutputNames); err != nil {
			return 0, err
		}
	}
	if len(in.Values)%len(in.InputNames) != 0 {
		return 0, fmt.Errorf("predict of model %q: %d values do not make whole rows of %d inputs", in.ModelPath, len(in.Values), len(in.InputNames))
	}
	rows := len(in.Values) / len(in.InputNames)
	if rows > MaxBatchSize {
		return 0, fmt.Errorf("predict of model %q: %d rows is above the maximum batch of %d; split the batch", in.ModelPath, rows, MaxBatchSize)
	}
	return rows, nil
}

// checkPredictResponse applies the section 6 checks to a predict response.
// NOTE: without output_names in the request, the response's names are only
// checked for shape. The protocol gives the client no signature to compare
// them with unless it sent load first.
func checkPredictResponse(in PredictInput, rows int, r PredictResponse, values int) error {
	if r.BatchSize != uint64(rows) {
		return fmt.Errorf("predict response has batch_size %d, the request had %d", r.BatchSize, rows)
	}
	if in.OutputNames != nil && !equalStrings(r.OutputNames, in.OutputNames) {
		return fmt.Errorf("predict response has output_names %q, the request asked for %q", r.OutputNames, in.OutputNames)
	}
	if want := rows * len(r.OutputNames); values != want {
		return fmt.Errorf("predict response has %d payload values, expected batch_size %d x %d outputs = %d", values, rows, len(r.OutputNames), want)
	}
	return nil
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// call sends one request and reads its response, applying the client-side
// failure handling of docs/protocol.md section 6. check, when set, validates
// a success response further; its error is a protocol violation.
func (w *Worker) call(ctx context.Context, build func(id uint64) Request, model string, payload []float32,
	check func(Response, []float32) error) (Response, []float32, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dead {
		return nil, nil, ErrWorkerDead
	}

	id := w.nextID
	w.nextID++
	request := build(id)
	op := request.Op()

	header, err := request.EncodeHeader()
	if err != nil {
		return nil, nil, err
	}
	frame, err := EncodeFrame(header, payload, w.sendLimits)
	if err != nil {
		// Nothing was sent, so the worker is still usable.
		return nil, nil, fmt.Errorf("%s of model %q: %w", op, model, err)
	}

	timeout := w.cfg.RequestTimeout
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < timeout {
		timeout = time.Until(deadline)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	response, responsePayload, err := w.exchange(ctx, frame, op)
	if err != nil {
		return nil, nil, w.failLocked(ctx, op, model, timeout, err)
	}
	response, responsePayload, err = w.checkResponse(id, op, model, response, responsePayload)
	if err != nil {
		return nil, nil, err
	}
	if check != nil {
		if err := check(response, responsePayload); err != nil {
			return nil, nil, w.violationLocked(op, model, err)
		}
	}
	return response, responsePayload, nil
}

// exchange writes the frame and reads one response under the context's
// deadline. Cancelling the context interrupts blocked I/O.
func (w *Worker) exchange(ctx context.Context, frame []byte, op Op) (Response, []float32, error) {
	deadline, _ := ctx.Deadline()
	if err := w.conn.SetDeadline(deadline); err != nil {
		return nil, nil, err
	}
	// The watcher must have finished before exchange returns, or it could
	// set a past deadline during the next request.
	stop := make(chan struct{})
	watcherDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		select {
		case <-ctx.Done():
			_ = w.conn.SetDeadline(time.Unix(1, 0))
		case <-stop:
		}
	}()
	defer func() {
		close(stop)
		<-watcherDone
	}()

	if _, err := w.conn.Write(frame); err != nil {
		return nil, nil, err
	}
	got, err := ReadFrame(w.conn, w.recvLimits)
	if err != nil {
		return nil, nil, err
	}
	response, err := DecodeResponse(got.Header, op)
	if err != nil {
		return nil, nil, err
	}
	return response, got.Payload, nil
}

// checkResponse matches a decoded response to its request.
func (w *Worker) checkResponse(id uint64, op Op, model string, response Response, payload []float32) (Response, []float32, error) {
	if errResponse, ok := response.(ErrorResponse); ok {
		// Id 0 marks an error the sidecar could not attribute to a request;
		// responses come in request order, so it belongs to this one.
		if errResponse.ID != id && errResponse.ID != 0 {
			return nil, nil, w.violationLocked(op, model, fmt.Errorf("error response has id %d, expected %d", errResponse.ID, id))
		}
		if len(payload) != 0 {
			return nil, nil, w.violationLocked(op, model, fmt.Errorf("error response has a payload of %d values, expected none", len(payload)))
		}
		sidecarErr := &SidecarError{Op: op, Model: model, Code: errResponse.Code,
			Message: errResponse.Message, Exception: errResponse.Exception,
			WorkerDead: errResponse.Code.ClosesConnection()}
		if sidecarErr.WorkerDead {
			w.cfg.logf("sidecar pid %d sent %s, which closes the connection; killing it", w.proc.pid, errResponse.Code)
			w.killLocked()
		}
		return nil, nil, sidecarErr
	}

	if response.ResponseID() != id {
		return nil, nil, w.violationLocked(op, model, fmt.Errorf("response has id %d, expected %d", response.ResponseID(), id))
	}
	if op != OpPredict && len(payload) != 0 {
		return nil, nil, w.violationLocked(op, model, fmt.Errorf("%s response has a payload of %d values, expected none", op, len(payload)))
	}
	return response, payload, nil
}

// failLocked turns an exchange error into a WorkerFailure and kills the
// worker: after a timeout, an I/O error or an untrustworthy frame the byte
// stream cannot be resynchronised.
func (w *Worker) failLocked(ctx context.Context, op Op, model string, timeout time.Duration, err error) error {
	failure := &WorkerFailure{Kind: FailureIO, Op: op, Model: model, PID: w.proc.pid, Err: err}

	var frameErr *FrameError
	var headerErr *HeaderError
	var netErr net.Error
	switch {
	case errors.As(err, &frameErr) || errors.As(err, &headerErr):
		failure.Kind = FailureProtocol
	case errors.Is(ctx.Err(), context.Canceled):
		failure.Err = ctx.Err()
	case ctx.Err() != nil || (errors.As(err, &netErr) && netErr.Timeout()):
		failure.Kind = FailureTimeout
		failure.Timeout = timeout
	}

	w.cfg.logf("sidecar pid %d: %v", w.proc.pid, failure)
	w.killLocked()
	return failure
}

// violationLocked kills the worker for a response that breaks the
// protocol. The caller holds w.mu.
func (w *Worker) violationLocked(op Op, model string, err error) error {
	failure := &WorkerFailure{Kind: FailureProtocol, Op: op, Model: model, PID: w.proc.pid, Err: err}
	w.cfg.logf("sidecar pid %d: %v", w.proc.pid, failure)
	w.killLocked()
	return failure
}

// killLocked kills and reaps the process, closes the connection and removes
// the socket directory. The caller holds w.mu.
func (w *Worker) killLocked() {
	if w.dead {
		return
	}
	w.dead = true
	w.conn.Close()
	killAndReap(w.cfg, w.proc)
	removeDir(w.cfg, w.dir)
	w.cfg.logf("sidecar pid %d killed and reaped (%s); removed %s", w.proc.pid, exitDescription(w.proc), w.dir)
}

// Close stops the sidecar: it sends shutdown, waits up to the shutdown grace
// for the process to exit, kills it if it has not, reaps it and removes the
// socket directory. It returns an error when the sidecar did not stop
// cleanly; the process is gone and the directory removed either way.
func (w *Worker) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dead {
		return nil
	}
	w.dead = true

	graceEnd := time.Now().Add(w.cfg.ShutdownGrace)
	err := w.shutdownLocked(graceEnd)
	w.conn.Close()

	select {
	case <-w.proc.exited:
		reap(w.cfg, w.proc)
	case <-time.After(time.Until(graceEnd)):
		w.cfg.logf("sidecar pid %d still running %v after shutdown; killing it", w.proc.pid, w.cfg.ShutdownGrace)
		killAndReap(w.cfg, w.proc)
		if err == nil {
			err = fmt.Errorf("sidecar pid %d did not exit within %v of shutdown and was killed", w.proc.pid, w.cfg.ShutdownGrace)
		}
	}
	removeDir(w.cfg, w.dir)

	if err == nil && !w.proc.cmd.ProcessState.Success() {
		err = fmt.Errorf("sidecar pid %d exited with %s after shutdown, expected status 0", w.proc.pid, exitDescription(w.proc))
	}
	w.cfg.logf("sidecar pid %d stopped (%s)", w.proc.pid, exitDescription(w.proc))
	return err
}

// shutdownLocked sends the shutdown request and checks its response.
func (w *Worker) shutdownLocked(deadline time.Time) error {
	id := w.nextID
	w.nextID++
	header, err := ShutdownRequest{ID: id}.EncodeHeader()
	if err != nil {
		return err
	}
	frame, err := EncodeFrame(header, nil, w.sendLimits)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	response, _, err := w.exchange(ctx, frame, OpShutdown)
	if err != nil {
		return fmt.Errorf("sidecar pid %d: shutdown request failed: %w", w.proc.pid, err)
	}
	if _, ok := response.(ShutdownResponse); !ok || response.ResponseID() != id {
		return fmt.Errorf("sidecar pid %d: unexpected shutdown response %+v", w.proc.pid, response)
	}
	return nil
}
