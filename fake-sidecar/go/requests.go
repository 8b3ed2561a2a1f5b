package sidecarclient

// Op is the operation of a request.
type Op string

// The operations of protocol version 1.
const (
	OpPing     Op = "ping"
	OpLoad     Op = "load"
	OpPredict  Op = "predict"
	OpShutdown Op = "shutdown"
)

// MaxBatchSize is the largest batch_size of a predict request.
const MaxBatchSize = 16_777_216

// Request is a typed request header.
type Request interface {
	Op() Op
	RequestID() uint64
	// EncodeHeader returns the canonical header: compact JSON, keys in the
	// documented order, absent optional keys omitted.
	EncodeHeader() ([]byte, error)
}

// PingRequest checks that the sidecar is alive and reads its cache counters.
type PingRequest struct {
	ID uint64
}

// LoadRequest loads a model into the sidecar's cache, or finds it there.
type LoadRequest struct {
	ID        uint64
	ModelPath string
}

// PredictRequest runs a model on BatchSize rows of len(InputNames) FP32
// values each, sent row-major as the frame's payload.
type PredictRequest struct {
	ID          uint64
	ModelPath   string
	InputNames  []string
	OutputNames []string // optional: nil lets the sidecar use the signature's order
	BatchSize   uint64
}

// ShutdownRequest asks the sidecar to answer and then exit with status 0.
type ShutdownRequest struct {
	ID uint64
}

func (PingRequest) Op() Op     { return OpPing }
func (LoadRequest) Op() Op     { return OpLoad }
func (PredictRequest) Op() Op  { return OpPredict }
func (ShutdownRequest) Op() Op { return OpShutdown }

func (r PingRequest) RequestID() uint64     { return r.ID }
func (r LoadRequest) RequestID() uint64     { return r.ID }
func (r PredictRequest) RequestID() uint64  { return r.ID }
func (r ShutdownRequest) RequestID() uint64 { return r.ID }

// The wire structs declare their fields in the key order of
// docs/protocol.md section 3, which encoding/json keeps.
type bareRequestWire struct {
	Op Op     `json:"op"`
	ID uint64 `json:"id"`
}

type loadRequestWire struct {
	Op        Op     `json:"op"`
	ID        uint64 `json:"id"`
	ModelPath string `json:"model_path"`
}

type predictRequestWire struct {
	Op          Op       `json:"op"`
	ID          uint64   `json:"id"`
	ModelPath   string   `json:"model_path"`
	InputNames  []string `json:"input_names"`
	OutputNames []string `json:"output_names,omitempty"`
	BatchSize   uint64   `json:"batch_size"`
}

func (r PingRequest) EncodeHeader() ([]byte, error) {
	return encodeHeader(bareRequestWire{Op: OpPing, ID: r.ID})
}

func (r LoadRequest) EncodeHeader() ([]byte, error) {
	return encodeHeader(loadRequestWire{Op: OpLoad, ID: r.ID, ModelPath: r.ModelPath})
}

func (r PredictRequest) EncodeHeader() ([]byte, error) {
	return encodeHeader(predictRequestWire{
		Op:          OpPredict,
		ID:          r.ID,
		ModelPath:   r.ModelPath,
		InputNames:  r.InputNames,
		OutputNames: r.OutputNames,
		BatchSize:   r.BatchSize,
	})
}

func (r ShutdownRequest) EncodeHeader() ([]byte, error) {
	return encodeHeader(bareRequestWire{Op: OpShutdown, ID: r.ID})
}

// DecodeRequest parses a request header and checks every key the operation
// requires. It ignores unknown keys.
func DecodeRequest(header []byte) (Request, error) {
	obj, err := parseObject(header, "request header")
	if err != nil {
		return nil, err
	}
	var op Op
	if err := obj.required("op", &op); err != nil {
		return nil, err
	}
	id, err := obj.requiredID(1)
	if err != nil {
		return nil, err
	}

	switch op {
	case OpPing:
		return PingRequest{ID: id}, nil
	case OpShutdown:
		return ShutdownRequest{ID: id}, nil
	case OpLoad:
		var path string
		if err := obj.required("model_path", &path); err != nil {
			return nil, err
		}
		return LoadRequest{ID: id, ModelPath: path}, nil
	case OpPredict:
		return decodePredictRequest(obj, id)
	}
	return nil, headerErrorf("request op %q is unknown, expected ping, load, predict or shutdown", op)
}

func decodePredictRequest(obj jsonObject, id uint64) (Request, error) {
	r := PredictRequest{ID: id}
	if err := obj.required("model_path", &r.ModelPath); err != nil {
		return nil, err
	}
	names, err := obj.requiredNames("input_names")
	if err != nil {
		return nil, err
	}
	r.InputNames = names

	if obj.has("output_names") {
		if r.OutputNames, err = obj.requiredNames("output_names"); err != nil {
			return nil, err
		}
	}

	if err := obj.required("batch_size", &r.BatchSize); err != nil {
		return nil, err
	}
	if r.BatchSize < 1 || r.BatchSize > MaxBatchSize {
		return nil, headerErrorf("request batch_size %d is outside 1 to %d", r.BatchSize, MaxBatchSize)
	}
	return r, nil
}
