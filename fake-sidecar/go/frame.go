package sidecarclient

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"unicode/utf8"
)

// Frame layout constants of protocol version 1 (docs/protocol.md section 2).
const (
	PreambleSize           = 16
	ProtocolVersion        = 1
	MinHeaderBytes         = 2
	DefaultMaxHeaderBytes  = 65536
	DefaultMaxPayloadBytes = 64 << 20
)

// Magic is the first four bytes of every frame.
var Magic = [4]byte{'T', 'M', 'S', 'P'}

// Limits bounds the header and payload lengths that a receiver accepts or a
// sender may send.
type Limits struct {
	MaxHeaderBytes  uint32
	MaxPayloadBytes uint32
}

// DefaultLimits returns the limits of protocol version 1.
func DefaultLimits() Limits {
	return Limits{MaxHeaderBytes: DefaultMaxHeaderBytes, MaxPayloadBytes: DefaultMaxPayloadBytes}
}

// Frame is one decoded message: the header's JSON text and the FP32 payload.
type Frame struct {
	Header  []byte
	Payload []float32
}

// FrameError is a frame that breaks section 2 of the protocol. Code is the
// error code that a sidecar would send for it.
type FrameError struct {
	Code    Code
	Message string
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func frameErrorf(code Code, format string, args ...any) *FrameError {
	return &FrameError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Preamble is the 16 bytes that precede a frame's header.
type Preamble struct {
	Version    uint16
	Flags      uint16
	HeaderLen  uint32
	PayloadLen uint32
}

// ParsePreamble checks a preamble against the limits, in field order: magic,
// version, flags, header_len, then payload_len (limit before alignment).
// NOTE: the specification gives no precedence between checks, so a frame that
// breaks two rules may get a different code from another implementation.
func ParsePreamble(raw [PreambleSize]byte, limits Limits) (Preamble, error) {
	if !bytes.Equal(raw[0:4], Magic[:]) {
		return Preamble{}, frameErrorf(CodeBadFrame, "magic is %q (% x), expected \"TMSP\"", raw[0:4], raw[0:4])
	}

	p := Preamble{
		Version:    binary.LittleEndian.Uint16(raw[4:6]),
		Flags:      binary.LittleEndian.Uint16(raw[6:8]),
		HeaderLen:  binary.LittleEndian.Uint32(raw[8:12]),
		PayloadLen: binary.LittleEndian.Uint32(raw[12:16]),
	}
	if p.Version != ProtocolVersion {
		return Preamble{}, frameErrorf(CodeUnsupportedVersion, "frame version is %d, only version %d is supported", p.Version, ProtocolVersion)
	}
	if p.Flags != 0 {
		return Preamble{}, frameErrorf(CodeBadFrame, "flags are 0x%04x, reserved flags must be 0", p.Flags)
	}
	if p.HeaderLen < MinHeaderBytes || p.HeaderLen > limits.MaxHeaderBytes {
		return Preamble{}, frameErrorf(CodeHeaderTooLarge, "header_len %d is outside %d to %d bytes", p.HeaderLen, MinHeaderBytes, limits.MaxHeaderBytes)
	}
	if p.PayloadLen > limits.MaxPayloadBytes {
		return Preamble{}, frameErrorf(CodePayloadTooLarge, "payload_len %d is above the limit of %d bytes", p.PayloadLen, limits.MaxPayloadBytes)
	}
	if p.PayloadLen%4 != 0 {
		return Preamble{}, frameErrorf(CodeBadFrame, "payload_len %d is not a multiple of 4", p.PayloadLen)
	}
	return p, nil
}

// ReadFrame reads one frame. It checks the preamble before it allocates the
// header or payload buffer, and checks that the header is UTF-8 without a byte
// order mark. It returns io.EOF when the stream ends cleanly before a frame,
// io.ErrUnexpectedEOF when it ends inside one, a *FrameError for a frame that
// breaks section 2, and other read errors unchanged.
func ReadFrame(r io.Reader, limits Limits) (Frame, error) {
	var raw [PreambleSize]byte
	if _, err := io.ReadFull(r, raw[:]); err != nil {
		return Frame{}, err
	}
	p, err := ParsePreamble(raw, limits)
	if err != nil {
		return Frame{}, err
	}

	body := make([]byte, int(p.HeaderLen)+int(p.PayloadLen))
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, err
	}

	header := body[:p.HeaderLen]
	if err := checkHeaderText(header); err != nil {
		return Frame{}, err
	}
	return Frame{Header: header, Payload: decodePayload(body[p.HeaderLen:])}, nil
}

// checkHeaderText rejects a header that is not UTF-8 or starts with a byte
// order mark. Whether it is a JSON object is checked when it is parsed.
func checkHeaderText(header []byte) error {
	if bytes.HasPrefix(header, []byte("\xef\xbb\xbf")) {
		return &HeaderError{Message: "header starts with a UTF-8 byte order mark"}
	}
	if !utf8.Valid(header) {
		return &HeaderError{Message: "header is not valid UTF-8"}
	}
	return nil
}

func decodePayload(raw []byte) []float32 {
	values := make([]float32, len(raw)/4)
	for i := range values {
		values[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return values
}

// EncodeFrame builds the bytes of one frame. It fails when the header or the
// payload does not fit the limits, so a client never sends more than the
// sidecar announced.
func EncodeFrame(header []byte, payload []float32, limits Limits) ([]byte, error) {
	if len(header) < MinHeaderBytes || uint64(len(header)) > uint64(limits.MaxHeaderBytes) {
		return nil, frameErrorf(CodeHeaderTooLarge, "header of %d bytes is outside %d to %d bytes", len(header), MinHeaderBytes, limits.MaxHeaderBytes)
	}
	payloadLen := uint64(len(payload)) * 4
	if payloadLen > uint64(limits.MaxPayloadBytes) {
		return nil, frameErrorf(CodePayloadTooLarge, "payload of %d bytes is above the limit of %d bytes; send fewer rows per request", payloadLen, limits.MaxPayloadBytes)
	}

	out := make([]byte, PreambleSize, PreambleSize+len(header)+int(payloadLen))
	copy(out[0:4], Magic[:])
	binary.LittleEndian.PutUint16(out[4:6], ProtocolVersion)
	binary.LittleEndian.PutUint16(out[6:8], 0)
	binary.LittleEndian.PutUint32(out[8:12], uint32(len(header)))
	binary.LittleEndian.PutUint32(out[12:16], uint32(payloadLen))
	out = append(out, header...)
	for _, v := range payload {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
	}
	return out, nil
}
