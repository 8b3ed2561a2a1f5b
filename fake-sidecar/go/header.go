package sidecarclient

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// MaxID is the largest request id, 2^53 - 1, so that every JSON library
// represents ids exactly.
const MaxID = 1<<53 - 1

// HeaderError is a header that is not a JSON object of the expected shape:
// invalid JSON, a missing key, or a key with the wrong type or range. A
// sidecar answers such a request header with BAD_REQUEST; a client treats
// such a response header as a protocol violation.
type HeaderError struct {
	Message string
}

func (e *HeaderError) Error() string {
	return "invalid header: " + e.Message
}

func headerErrorf(format string, args ...any) *HeaderError {
	return &HeaderError{Message: fmt.Sprintf(format, args...)}
}

// jsonObject is one decoded JSON object with its values left undecoded. It
// matches keys exactly, unlike encoding/json's struct decoding, which
// matches them case-insensitively and cannot tell a missing key from a zero
// value. Keys not looked up are ignored, as section 2.2 requires.
// NOTE: a key that appears twice keeps its last value; the specification
// does not say what a receiver does with duplicate keys.
type jsonObject struct {
	where  string
	fields map[string]json.RawMessage
}

func parseObject(text []byte, where string) (jsonObject, error) {
	trimmed := bytes.TrimLeft(text, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return jsonObject{}, headerErrorf("%s is not a JSON object", where)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(text, &fields); err != nil {
		return jsonObject{}, headerErrorf("%s is not a valid JSON object: %v", where, err)
	}
	return jsonObject{where: where, fields: fields}, nil
}

func (o jsonObject) has(key string) bool {
	_, ok := o.fields[key]
	return ok
}

// required decodes the value of key into dst, failing when the key is
// missing, null, or of another JSON type.
func (o jsonObject) required(key string, dst any) error {
	raw, ok := o.fields[key]
	if !ok {
		return headerErrorf("%s has no %q key", o.where, key)
	}
	return o.decode(key, raw, dst)
}

// optional decodes the value of key into dst when the key is present and not
// null, and reports whether it did.
func (o jsonObject) optional(key string, dst any) (bool, error) {
	raw, ok := o.fields[key]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return false, nil
	}
	return true, o.decode(key, raw, dst)
}

func (o jsonObject) decode(key string, raw json.RawMessage, dst any) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return headerErrorf("%s key %q is null", o.where, key)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return headerErrorf("%s key %q has the wrong type or range (%s): %v", o.where, key, raw, err)
	}
	return nil
}

// requiredID decodes an id and checks that it lies in min to MaxID.
func (o jsonObject) requiredID(min uint64) (uint64, error) {
	var id uint64
	if err := o.required("id", &id); err != nil {
		return 0, err
	}
	if id < min || id > MaxID {
		return 0, headerErrorf("%s id %d is outside %d to %d", o.where, id, min, uint64(MaxID))
	}
	return id, nil
}

// requiredObject decodes a nested object.
func (o jsonObject) requiredObject(key string) (jsonObject, error) {
	raw, ok := o.fields[key]
	if !ok {
		return jsonObject{}, headerErrorf("%s has no %q key", o.where, key)
	}
	return parseObject(raw, fmt.Sprintf("%s key %q", o.where, key))
}

// requiredNames decodes a non-empty array of distinct strings.
func (o jsonObject) requiredNames(key string) ([]string, error) {
	var names []string
	if err := o.required(key, &names); err != nil {
		return nil, err
	}
	return names, checkNames(o.where+" key "+fmt.Sprintf("%q", key), names)
}

func checkNames(what string, names []string) error {
	if len(names) == 0 {
		return headerErrorf("%s is empty", what)
	}
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		if seen[name] {
			return headerErrorf("%s names %q twice", what, name)
		}
		seen[name] = true
	}
	return nil
}

// encodeHeader writes v as compact JSON. Struct fields are written in
// declaration order, which is the documented key order. HTML escaping is off
// so that '<', '>' and '&' stay literal, as other JSON encoders write them.
// NOTE: the specification does not fix how strings are escaped; Go 1.19
// writes \b, \f, U+2028 and U+2029 as \u escapes, which other encoders may
// write differently. Receivers must accept either.
func encodeHeader(v any) ([]byte, error) {
	var buf bytes.Buffer
	encoder := json.NewEncoder(&buf)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(v); err != nil {
		return nil, fmt.Errorf("encode header: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
