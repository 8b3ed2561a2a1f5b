package sidecarclient

// Code is an error code of the sidecar wire protocol (docs/protocol.md
// section 5). A decoder also reports the first four codes for frames that it
// rejects itself.
type Code string

// The error codes of protocol version 1.
const (
	CodeBadFrame           Code = "BAD_FRAME"
	CodeUnsupportedVersion Code = "UNSUPPORTED_VERSION"
	CodeHeaderTooLarge     Code = "HEADER_TOO_LARGE"
	CodePayloadTooLarge    Code = "PAYLOAD_TOO_LARGE"
	CodeBadRequest         Code = "BAD_REQUEST"
	CodeModelNotFound      Code = "MODEL_NOT_FOUND"
	CodeModelInvalid       Code = "MODEL_INVALID"
	CodeLoadFailed         Code = "LOAD_FAILED"
	CodePredictFailed      Code = "PREDICT_FAILED"
	CodeBadOutput          Code = "BAD_OUTPUT"
	CodeShuttingDown       Code = "SHUTTING_DOWN"
	CodeInternal           Code = "INTERNAL"
)

// KnownCodes lists every code of protocol version 1 in the order of the
// specification's table.
var KnownCodes = []Code{
	CodeBadFrame, CodeUnsupportedVersion, CodeHeaderTooLarge, CodePayloadTooLarge,
	CodeBadRequest, CodeModelNotFound, CodeModelInvalid, CodeLoadFailed,
	CodePredictFailed, CodeBadOutput, CodeShuttingDown, CodeInternal,
}

// Known reports whether c is a code of protocol version 1.
func (c Code) Known() bool {
	for _, k := range KnownCodes {
		if c == k {
			return true
		}
	}
	return false
}

// ClosesConnection reports whether the sidecar closes the connection after
// sending an error with this code. Codes unknown to version 1 are treated as
// leaving the connection open: if the sidecar did close it, the next request
// fails with an I/O error and the worker is replaced then.
func (c Code) ClosesConnection() bool {
	switch c {
	case CodeBadFrame, CodeUnsupportedVersion, CodeHeaderTooLarge,
		CodePayloadTooLarge, CodeShuttingDown:
		return true
	}
	return false
}
