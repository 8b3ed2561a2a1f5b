package sidecarclient

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// goldenDir holds the golden frames that are part of docs/protocol.md.
const goldenDir = "../../cases/protocol"

type goldenCase struct {
	name  string
	frame []byte
	// Exactly one of expect.Error and expect.Header is set.
	expect struct {
		Error      Code            `json:"error"`
		Header     json.RawMessage `json:"header"`
		PayloadF32 []float64       `json:"payload_f32"`
	}
}

func loadGoldenCases(t *testing.T) []goldenCase {
	t.Helper()
	hexFiles, err := filepath.Glob(filepath.Join(goldenDir, "*.hex"))
	if err != nil {
		t.Fatalf("list golden frames: %v", err)
	}
	jsonFiles, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if err != nil {
		t.Fatalf("list golden meanings: %v", err)
	}
	if len(hexFiles) == 0 {
		t.Fatalf("no *.hex files in %s; run the tests from fake-sidecar/go", goldenDir)
	}
	if len(hexFiles) != len(jsonFiles) {
		t.Fatalf("%s has %d .hex files but %d .json files; every case is a pair", goldenDir, len(hexFiles), len(jsonFiles))
	}

	var cases []goldenCase
	for _, hexPath := range hexFiles {
		c := goldenCase{name: strings.TrimSuffix(filepath.Base(hexPath), ".hex")}
		c.frame = readHexFile(t, hexPath)

		meaning, err := os.ReadFile(strings.TrimSuffix(hexPath, ".hex") + ".json")
		if err != nil {
			t.Fatalf("case %s: %v", c.name, err)
		}
		if err := json.Unmarshal(meaning, &c.expect); err != nil {
			t.Fatalf("case %s: parse .json: %v", c.name, err)
		}
		if (c.expect.Error == "") == (c.expect.Header == nil) {
			t.Fatalf("case %s: .json must have exactly one of \"error\" and \"header\"", c.name)
		}
		cases = append(cases, c)
	}
	return cases
}

// readHexFile decodes the golden .hex format: '#' comments to end of line,
// whitespace ignored, two hex digits per byte.
func readHexFile(t *testing.T, path string) []byte {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var digits strings.Builder
	for _, line := range strings.Split(string(text), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	frame, err := hex.DecodeString(digits.String())
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return frame
}

// countingReader records how many bytes the decoder consumed.
type countingReader struct {
	r    io.Reader
	read int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

func TestGoldenFrames(t *testing.T) {
	cases := loadGoldenCases(t)
	valid, invalid := 0, 0
	for _, c := range cases {
		c := c
		t.Run(c.name, func(t *testing.T) {
			if c.expect.Error != "" {
				checkInvalidGolden(t, c)
			} else {
				checkValidGolden(t, c)
			}
		})
		if c.expect.Error != "" {
			invalid++
		} else {
			valid++
		}
	}
	// cases/protocol/README.md lists 11 valid and 7 invalid cases.
	if valid < 11 || invalid < 7 {
		t.Errorf("found %d valid and %d invalid golden cases, expected at least 11 and 7", valid, invalid)
	}
}

func checkInvalidGolden(t *testing.T, c goldenCase) {
	reader := &countingReader{r: bytes.NewReader(c.frame)}
	_, err := ReadFrame(reader, DefaultLimits())

	var frameErr *FrameError
	if !errors.As(err, &frameErr) {
		t.Fatalf("ReadFrame error = %v, expected a FrameError with code %s", err, c.expect.Error)
	}
	if frameErr.Code != c.expect.Error {
		t.Errorf("code = %s, expected %s (%v)", frameErr.Code, c.expect.Error, frameErr)
	}
	if reader.read != PreambleSize {
		t.Errorf("decoder read %d bytes before rejecting, expected only the %d-byte preamble", reader.read, PreambleSize)
	}
}

func checkValidGolden(t *testing.T, c goldenCase) {
	reader := bytes.NewReader(c.frame)
	frame, err := ReadFrame(reader, DefaultLimits())
	if err != nil {
		t.Fatalf("ReadFrame: %v", err)
	}
	if reader.Len() != 0 {
		t.Errorf("%d bytes left over after the frame", reader.Len())
	}

	var got, want any
	if err := json.Unmarshal(frame.Header, &got); err != nil {
		t.Fatalf("header is not JSON: %v", err)
	}
	if err := json.Unmarshal(c.expect.Header, &want); err != nil {
		t.Fatalf(".json header: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("header = %s, expected %s", frame.Header, c.expect.Header)
	}

	if len(frame.Payload) != len(c.expect.PayloadF32) {
		t.Fatalf("payload has %d values, expected %d", len(frame.Payload), len(c.expect.PayloadF32))
	}
	for i, v := range frame.Payload {
		wantBits := math.Float32bits(float32(c.expect.PayloadF32[i]))
		if math.Float32bits(v) != wantBits {
			t.Errorf("payload[%d] bits = %08x, expected %08x (%v)", i, math.Float32bits(v), wantBits, c.expect.PayloadF32[i])
		}
	}

	typed := decodeGoldenHeader(t, frame.Header)
	header, err := typed.EncodeHeader()
	if err != nil {
		t.Fatalf("EncodeHeader: %v", err)
	}
	encoded, err := EncodeFrame(header, frame.Payload, DefaultLimits())
	if err != nil {
		t.Fatalf("EncodeFrame: %v", err)
	}
	if !bytes.Equal(encoded, c.frame) {
		t.Errorf("re-encoded frame differs\n got: %x\nwant: %x\n got header: %s", encoded, c.frame, header)
	}
}

// encodable is what both typed requests and typed responses offer.
type encodable interface {
	EncodeHeader() ([]byte, error)
}

// decodeGoldenHeader decodes a header as a request when it has an "op" key,
// else as a response. A response does not name its op, so a golden response
// is matched to one by the keys that only that op's success response has.
func decodeGoldenHeader(t *testing.T, header []byte) encodable {
	t.Helper()
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(header, &keys); err != nil {
		t.Fatalf("header is not a JSON object: %v", err)
	}
	if _, ok := keys["op"]; ok {
		request, err := DecodeRequest(header)
		if err != nil {
			t.Fatalf("DecodeRequest: %v", err)
		}
		return request
	}

	op := OpShutdown
	switch {
	case keys["protocol"] != nil:
		op = OpPing
	case keys["cached"] != nil:
		op = OpLoad
	case keys["output_names"] != nil:
		op = OpPredict
	}
	response, err := DecodeResponse(header, op)
	if err != nil {
		t.Fatalf("DecodeResponse as %s: %v", op, err)
	}
	return response
}
