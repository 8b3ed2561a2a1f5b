package sidecarclient

import (
	"encoding/json"
	"fmt"
)

// Response is a typed response header.
type Response interface {
	ResponseID() uint64
	// EncodeHeader returns the canonical header: compact JSON, keys in the
	// documented order, absent optional keys omitted.
	EncodeHeader() ([]byte, error)
}

// CacheStats is the cache object of a ping response.
type CacheStats struct {
	Entries   uint64 `json:"entries"`
	Capacity  uint64 `json:"capacity"`
	Loads     uint64 `json:"loads"`
	Hits      uint64 `json:"hits"`
	Evictions uint64 `json:"evictions"`
}

// PingResponse is the success response to ping.
type PingResponse struct {
	ID             uint64
	Protocol       uint64
	Implementation string
	PID            uint64
	Cache          CacheStats
}

// Column is one input or output of a model signature.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// LoadResponse is the success response to load.
type LoadResponse struct {
	ID      uint64
	Cached  bool
	Inputs  []Column
	Outputs []Column
}

// PredictResponse is the success response to predict. The frame's payload
// holds BatchSize rows of len(OutputNames) values.
type PredictResponse struct {
	ID          uint64
	OutputNames []string
	BatchSize   uint64
}

// ShutdownResponse is the success response to shutdown.
type ShutdownResponse struct {
	ID uint64
}

// ErrorResponse is a response with "ok":false. ID is 0 when the sidecar
// could not attribute the error to a request.
type ErrorResponse struct {
	ID        uint64
	Code      Code
	Message   string
	Exception string // optional: the Python exception type
}

func (r PingResponse) ResponseID() uint64     { return r.ID }
func (r LoadResponse) ResponseID() uint64     { return r.ID }
func (r PredictResponse) ResponseID() uint64  { return r.ID }
func (r ShutdownResponse) ResponseID() uint64 { return r.ID }
func (r ErrorResponse) ResponseID() uint64    { return r.ID }

// The wire structs declare their fields in the key order of
// docs/protocol.md section 4, which encoding/json keeps.
type pingResponseWire struct {
	ID             uint64     `json:"id"`
	OK             bool       `json:"ok"`
	Protocol       uint64     `json:"protocol"`
	Implementation string     `json:"implementation"`
	PID            uint64     `json:"pid"`
	Cache          CacheStats `json:"cache"`
}

type loadResponseWire struct {
	ID      uint64   `json:"id"`
	OK      bool     `json:"ok"`
	Cached  bool     `json:"cached"`
	Inputs  []Column `json:"inputs"`
	Outputs []Column `json:"outputs"`
}

type predictResponseWire struct {
	ID          uint64   `json:"id"`
	OK          bool     `json:"ok"`
	OutputNames []string `json:"output_names"`
	BatchSize   uint64   `json:"batch_size"`
}

type shutdownResponseWire struct {
	ID uint64 `json:"id"`
	OK bool   `json:"ok"`
}

type errorWire struct {
	Code      Code   `json:"code"`
	Message   string `json:"message"`
	Exception string `json:"exception,omitempty"`
}

type errorResponseWire struct {
	ID    uint64    `json:"id"`
	OK    bool      `json:"ok"`
	Error errorWire `json:"error"`
}

func (r PingResponse) EncodeHeader() ([]byte, error) {
	return encodeHeader(pingResponseWire{ID: r.ID, OK: true, Protocol: r.Protocol,
		Implementation: r.Implementation, PID: r.PID, Cache: r.Cache})
}

func (r LoadResponse) EncodeHeader() ([]byte, error) {
	return encodeHeader(loadResponseWire{ID: r.ID, OK: true, Cached: r.Cached,
		Inputs: nonNilColumns(r.Inputs), Outputs: nonNilColumns(r.Outputs)})
}

func (r PredictResponse) EncodeHeader() ([]byte, error) {
	names := r.OutputNames
	if names == nil {
		names = []string{}
	}
	return encodeHeader(predictResponseWire{ID: r.ID, OK: true, OutputNames: names, BatchSize: r.BatchSize})
}

func (r ShutdownResponse) EncodeHeader() ([]byte, error) {
	return encodeHeader(shutdownResponseWire{ID: r.ID, OK: true})
}

func (r ErrorResponse) EncodeHeader() ([]byte, error) {
	return encodeHeader(errorResponseWire{ID: r.ID, OK: false,
		Error: errorWire{Code: r.Code, Message: r.Message, Exception: r.Exception}})
}

// nonNilColumns keeps an empty signature encoded as [] rather than null.
func nonNilColumns(columns []Column) []Column {
	if columns == nil {
		return []Column{}
	}
	return columns
}

// DecodeResponse parses a response header to the request op. A response does
// not name its op, so the caller passes the op of the request it answers.
// An "ok":false header decodes to ErrorResponse whatever the op.
func DecodeResponse(header []byte, op Op) (Response, error) {
	obj, err := parseObject(header, "response header")
	if err != nil {
		return nil, err
	}
	id, err := obj.requiredID(0)
	if err != nil {
		return nil, err
	}
	var ok bool
	if err := obj.required("ok", &ok); err != nil {
		return nil, err
	}
	if !ok {
		return decodeErrorResponse(obj, id)
	}

	switch op {
	case OpPing:
		return decodePingResponse(obj, id)
	case OpLoad:
		return decodeLoadResponse(obj, id)
	case OpPredict:
		return decodePredictResponse(obj, id)
	case OpShutdown:
		return ShutdownResponse{ID: id}, nil
	}
	return nil, fmt.Errorf("decode response: op %q is unknown", op)
}

func decodeErrorResponse(obj jsonObject, id uint64) (Response, error) {
	inner, err := obj.requiredObject("error")
	if err != nil {
		return nil, err
	}
	r := ErrorResponse{ID: id}
	if err := inner.required("code", &r.Code); err != nil {
		return nil, err
	}
	if err := inner.required("message", &r.Message); err != nil {
		return nil, err
	}
	if _, err := inner.optional("exception", &r.Exception); err != nil {
		return nil, err
	}
	return r, nil
}

func decodePingResponse(obj jsonObject, id uint64) (Response, error) {
	r := PingResponse{ID: id}
	if err := obj.required("protocol", &r.Protocol); err != nil {
		return nil, err
	}
	if err := obj.required("implementation", &r.Implementation); err != nil {
		return nil, err
	}
	if err := obj.required("pid", &r.PID); err != nil {
		return nil, err
	}

	cache, err := obj.requiredObject("cache")
	if err != nil {
		return nil, err
	}
	counters := []struct {
		key string
		dst *uint64
	}{
		{"entries", &r.Cache.Entries},
		{"capacity", &r.Cache.Capacity},
		{"loads", &r.Cache.Loads},
		{"hits", &r.Cache.Hits},
		{"evictions", &r.Cache.Evictions},
	}
	for _, c := range counters {
		if err := cache.required(c.key, c.dst); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func decodeLoadResponse(obj jsonObject, id uint64) (Response, error) {
	r := LoadResponse{ID: id}
	if err := obj.required("cached", &r.Cached); err != nil {
		return nil, err
	}
	var err error
	if r.Inputs, err = decodeColumns(obj, "inputs"); err != nil {
		return nil, err
	}
	if r.Outputs, err = decodeColumns(obj, "outputs"); err != nil {
		return nil, err
	}
	return r, nil
}

func decodeColumns(obj jsonObject, key string) ([]Column, error) {
	var items []json.RawMessage
	if err := obj.required(key, &items); err != nil {
		return nil, err
	}
	columns := make([]Column, 0, len(items))
	for i, item := range items {
		column, err := parseObject(item, fmt.Sprintf("%s[%d]", key, i))
		if err != nil {
			return nil, err
		}
		var c Column
		if err := column.required("name", &c.Name); err != nil {
			return nil, err
		}
		if err := column.required("type", &c.Type); err != nil {
			return nil, err
		}
		columns = append(columns, c)
	}
	return columns, nil
}

func decodePredictResponse(obj jsonObject, id uint64) (Response, error) {
	r := PredictResponse{ID: id}
	var err error
	if r.OutputNames, err = obj.requiredNames("output_names"); err != nil {
		return nil, err
	}
	if err := obj.required("batch_size", &r.BatchSize); err != nil {
		return nil, err
	}
	return r, nil
}
