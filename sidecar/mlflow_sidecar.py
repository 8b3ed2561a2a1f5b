#!/usr/bin/env python3
"""MLflow model sidecar: serves mlflow.pyfunc models over a Unix socket.

The process speaks wire protocol version 1 (docs/protocol.md): it binds the
socket given by --socket, prints one readiness line on standard output, and
serves ping, load, predict and shutdown requests. Each connection has a
thread, and one request at a time runs in the process.
Models are loaded with mlflow.pyfunc.load_model and kept in an LRU cache.
Logs go to standard error. docs/sidecar.md describes the validation rules.

Usage: python mlflow_sidecar.py --socket PATH [--cache-entries N]
"""

import argparse
import collections
import inspect
import json
import logging
import os
import signal
import socket
import stat
import struct
import sys
import threading
import time

IMPLEMENTATION = "mlflow-sidecar/0.1.0"
PROTOCOL_VERSION = 1

MAGIC = b"TMSP"
PREAMBLE = struct.Struct("<4sHHII")
MIN_HEADER_BYTES = 2
MAX_HEADER_BYTES = 64 * 1024
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
MAX_ID = (1 << 53) - 1
MAX_BATCH_SIZE = 1 << 24
DEFAULT_CACHE_ENTRIES = 64
MAX_CACHE_ENTRIES = 65536
# sun_path on Linux is 108 bytes, including the terminating NUL.
SUN_PATH_BYTES = 108
LISTEN_BACKLOG = 16
# How long a connect() probe waits before it calls an existing socket live.
PROBE_TIMEOUT_SECONDS = 1.0
# Bounds on reading and discarding input after a frame error.
DRAIN_TIMEOUT_SECONDS = 1.0
DRAIN_MAX_BYTES = 1 << 20
# Largest payload buffer a connection reuses; a buffer for a larger
# payload is replaced at the connection's next request.
KEPT_BUFFER_MAX_BYTES = 8 << 20

EXIT_OK = 0
EXIT_FATAL = 1
EXIT_USAGE = 2
EXIT_SOCKET = 3
EXIT_DEPENDENCY = 4

# The MLflow column types that convert to and from FP32. `boolean` is not
# one: the design carries numbers only, and the fake sidecar agrees.
NUMERIC_COLUMN_TYPES = ("double", "float", "long", "integer")

log = logging.getLogger("mlflow_sidecar")

# Set by import_runtime() before the readiness line.
np = None
pd = None
mlflow_pyfunc = None
MlflowModel = None
PredictionContext = None
set_prediction_context = None


def compact_json(value):
    """Encode a value as compact JSON, keeping dict insertion order."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------------------
# Errors


class RequestFailed(Exception):
    """A request that gets an error response; the connection stays open."""

    def __init__(self, code, message, request_id=0, exception=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.exception = exception


class FrameError(Exception):
    """A frame that breaks the layout: the error is sent with id 0, then the connection closes."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class ConnectionClosed(Exception):
    """The peer closed the connection at a frame boundary."""


def exception_failure(code, exc, request_id):
    """Wrap an exception raised by MLflow or a model as an error response."""
    name = type(exc).__name__
    return RequestFailed(code, f"{name}: {exc}", request_id, exception=name)


# ---------------------------------------------------------------------------
# Frames


def recv_exact(conn, size, at_boundary):
    """Read exactly `size` bytes; `at_boundary` means EOF before the first byte is a clean close."""
    buffer = bytearray(size)
    recv_exact_into(conn, memoryview(buffer), at_boundary)
    return buffer


def recv_exact_into(conn, view, at_boundary):
    """Fill the writable memoryview `view` from `conn`; EOF is handled as in `recv_exact`."""
    size = len(view)
    received = 0
    while received < size:
        count = conn.recv_into(view[received:])
        if count == 0:
            if at_boundary and received == 0:
                raise ConnectionClosed()
            raise FrameError(
                "BAD_FRAME",
                f"connection closed inside a frame ({received} bytes of an incomplete frame buffered)",
            )
        received += count


def check_preamble(preamble):
    """Check a preamble in the order the Rust protocol crate does; return (header_len, payload_len)."""
    magic, version, flags, header_len, payload_len = PREAMBLE.unpack(bytes(preamble))
    if magic != MAGIC:
        found = ", ".join(f"{byte:02x}" for byte in magic)
        raise FrameError("BAD_FRAME", f'invalid frame: magic is [{found}], expected "TMSP" (54 4d 53 50)')
    if version != PROTOCOL_VERSION:
        raise FrameError("UNSUPPORTED_VERSION", f"unsupported protocol version {version}, expected 1")
    if flags != 0:
        raise FrameError("BAD_FRAME", f"invalid frame: flags are {flags:#06x}, expected 0")
    if header_len < MIN_HEADER_BYTES or header_len > MAX_HEADER_BYTES:
        raise FrameError(
            "HEADER_TOO_LARGE",
            f"header length {header_len} is outside the allowed range "
            f"{MIN_HEADER_BYTES}..={MAX_HEADER_BYTES} bytes",
        )
    if payload_len > MAX_PAYLOAD_BYTES:
        raise FrameError(
            "PAYLOAD_TOO_LARGE",
            f"payload length {payload_len} exceeds the limit of {MAX_PAYLOAD_BYTES} bytes",
        )
    if payload_len % 4 != 0:
        raise FrameError("BAD_FRAME", f"invalid frame: payload length {payload_len} is not a multiple of 4")
    return header_len, payload_len


def has_exports(buffer):
    """Return whether a memoryview or array still refers to the bytearray `buffer`.

    CPython raises BufferError on resizing a bytearray with live exports, so
    a one-byte append, undone at once, detects them without changing the contents.
    """
    try:
        buffer.append(0)
    except BufferError:
        return True
    del buffer[-1]
    return False


class FrameReader:
    """Reads the frames of one connection, with a payload buffer kept between requests.

    A payload is a memoryview of the kept buffer, valid until the next
    `read`. The buffer is reused only when nothing refers to it any more
    (see `has_exports`), so a model that keeps a view of its input keeps
    data that no later request overwrites.
    """

    def __init__(self, conn):
        self.conn = conn
        self.buffer = bytearray()

    def read(self):
        """Read one frame and return (header bytes, payload); the preamble is checked before the body is allocated."""
        preamble = recv_exact(self.conn, PREAMBLE.size, at_boundary=True)
        header_len, payload_len = check_preamble(preamble)
        header = recv_exact(self.conn, header_len, at_boundary=False)
        if payload_len == 0:
            return bytes(header), bytearray()

        # Resizing in place would fail while views exist, so a new buffer
        # replaces one that is too small, too large or still referred to.
        size = len(self.buffer)
        if size < payload_len or size > KEPT_BUFFER_MAX_BYTES or has_exports(self.buffer):
            self.buffer = bytearray(payload_len)
        payload = memoryview(self.buffer)[:payload_len]
        recv_exact_into(self.conn, payload, at_boundary=False)
        return bytes(header), payload


def send_frame(conn, header, payload=b""):
    header_bytes = compact_json(header).encode("utf-8")
    preamble = PREAMBLE.pack(MAGIC, PROTOCOL_VERSION, 0, len(header_bytes), len(payload))
    conn.sendall(preamble + header_bytes)
    if payload:
        conn.sendall(payload)


def error_header(request_id, code, message, exception=None):
    error = {"code": code, "message": message}
    if exception is not None:
        error["exception"] = exception
    return {"id": request_id, "ok": False, "error": error}


# ---------------------------------------------------------------------------
# Request headers


def reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def parse_header(header):
    """Decode and validate a request header; return a dict with `op` and `id` checked."""
    try:
        text = header.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestFailed("BAD_REQUEST", "invalid frame: header is not valid UTF-8") from None
    try:
        value = json.loads(text, parse_constant=reject_constant)
    except ValueError as exc:
        raise RequestFailed("BAD_REQUEST", f"header is not valid JSON: {exc}") from None
    except RecursionError:
        # serde_json in the fake sidecar stops at 128 levels the same way.
        raise RequestFailed("BAD_REQUEST", "header is not valid JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise RequestFailed("BAD_REQUEST", "header is not a JSON object")

    if "id" not in value:
        raise RequestFailed("BAD_REQUEST", "missing key `id`")
    request_id = value["id"]
    if isinstance(request_id, bool) or not isinstance(request_id, (int, float)):
        raise RequestFailed("BAD_REQUEST", f"key `id` is {compact_json(request_id)}, expected an integer")
    if not isinstance(request_id, int) or not 1 <= request_id <= MAX_ID:
        raise RequestFailed(
            "BAD_REQUEST", f"key `id` is {compact_json(request_id)}, expected an integer from 1 to {MAX_ID}"
        )

    fields = HeaderFields(request_id, value)
    op = fields.string("op")
    request = {"op": op, "id": request_id}
    if op in ("ping", "shutdown"):
        return request
    if op == "load":
        request["model_path"] = fields.string("model_path")
        return request
    if op == "predict":
        request["input_names"] = fields.names("input_names")
        request["output_names"] = fields.names("output_names") if "output_names" in value else None
        batch_size = fields.non_negative_integer("batch_size")
        if batch_size == 0 or batch_size > MAX_BATCH_SIZE:
            raise fields.error(f"key `batch_size` is {batch_size}, expected 1 to {MAX_BATCH_SIZE}")
        request["batch_size"] = batch_size
        request["model_path"] = fields.string("model_path")
        return request
    raise fields.error(f"unknown op `{op}`, expected ping, load, predict or shutdown")


class HeaderFields:
    """Typed access to the keys of a request header, with errors naming the key."""

    def __init__(self, request_id, value):
        self.request_id = request_id
        self.value = value

    def error(self, message):
        return RequestFailed("BAD_REQUEST", message, self.request_id)

    def get(self, key):
        if key not in self.value:
            raise self.error(f"missing key `{key}`")
        return self.value[key]

    def string(self, key):
        item = self.get(key)
        if not isinstance(item, str):
            raise self.error(f"key `{key}` is {compact_json(item)}, expected a string")
        return item

    def non_negative_integer(self, key):
        item = self.get(key)
        if isinstance(item, bool) or not isinstance(item, int) or item < 0:
            raise self.error(f"key `{key}` is {compact_json(item)}, expected a non-negative integer")
        return item

    def names(self, key):
        """Return a non-empty list of distinct strings."""
        items = self.get(key)
        if not isinstance(items, list):
            raise self.error(f"key `{key}` must be an array of strings")
        if not items:
            raise self.error(f"key `{key}` is empty, expected at least one name")
        names = []
        seen = set()
        for item in items:
            if not isinstance(item, str):
                raise self.error(f"key `{key}` holds {compact_json(item)}, expected strings only")
            if item in seen:
                raise self.error(f"key `{key}` names `{item}` twice")
            seen.add(item)
            names.append(item)
        return names


# ---------------------------------------------------------------------------
# Models and the cache


class Column:
    """One signature column: its name, wire type name and numpy dtype."""

    def __init__(self, name, type_name, dtype, shape=None):
        self.name = name
        self.type_name = type_name
        self.dtype = dtype
        # Tensor shape, (-1,) or (-1, 1); None for column-based signatures.
        self.shape = shape

    def describe(self):
        return {"name": self.name, "type": self.type_name}


class LoadedModel:
    """A loaded PyFunc model with its validated signature."""

    def __init__(self, model, inputs, outputs, tensor_based):
        self.model = model
        self.inputs = inputs
        self.outputs = outputs
        self.tensor_based = tensor_based
        self.direct_predict = direct_predict_function(model, tensor_based)
        # A frame can be built straight from the (batch, k) FP32 payload when
        # every input is FP32 and so needs no conversion.
        self.all_float32 = all(column.dtype == np.float32 for column in inputs)

    def predict(self, model_input):
        """Run the model, skipping MLflow's schema enforcement when it would change nothing."""
        if self.direct_predict is not None:
            return self.direct_predict(model_input)
        return self.model.predict(model_input)

    def input_names(self):
        return [column.name for column in self.inputs]

    def output_names(self):
        return [column.name for column in self.outputs]


def direct_predict_function(model, tensor_based):
    """Return a call of the model's own predict that skips PyFuncModel.predict's schema enforcement, or None.

    The sidecar hands a column-based model a DataFrame whose columns are the
    signature's, in signature order, each already in the dtype that
    ``DataType.to_numpy()`` gives. MLflow 3.18's ``_enforce_named_col_schema``
    returns such a frame unchanged apart from building a new DataFrame, and
    that enforcement costs about 0.6 ms per request, most of a small
    request's time (docs/benchmarks.md). The shortcut is taken only when
    ``PyFuncModel._predict`` would do nothing else with the input: no
    type-hint signature, no input-example conversion, no params schema and no
    dependency schemas. Otherwise, and when this MLflow lacks the private
    attributes used here, the sidecar calls ``model.predict``.
    """
    if tensor_based:
        return None
    metadata = getattr(model, "metadata", None)
    predict_fn = getattr(model, "_predict_fn", None)
    if metadata is None or not callable(predict_fn):
        return None
    try:
        if metadata._is_signature_from_type_hint() or metadata._is_type_hint_from_example():
            return None
        if metadata.get_params_schema() is not None:
            return None
        if (metadata.metadata or {}).get("dependencies_schemas"):
            return None
        params = inspect.signature(predict_fn).parameters.get("params")
    except (AttributeError, TypeError, ValueError):
        return None
    takes_params = params is not None and params.kind != inspect.Parameter.VAR_KEYWORD
    model_id = getattr(model, "model_id", None)

    def direct_predict(frame):
        # The same prediction context PyFuncModel.predict sets, for tracing.
        context = PredictionContext()
        if model_id:
            context.update(model_id=model_id)
        with set_prediction_context(context):
            if takes_params:
                return predict_fn(frame, params=None)
            return predict_fn(frame)

    return direct_predict


def read_signature(model_path):
    """Read MLmodel and validate its flavor and signature; return (inputs, outputs, tensor_based)."""
    if not os.path.isabs(model_path):
        raise RequestFailed("MODEL_NOT_FOUND", f'model path "{model_path}" is not absolute')
    mlmodel_path = os.path.join(model_path, "MLmodel")
    if not os.path.isfile(mlmodel_path):
        raise RequestFailed("MODEL_NOT_FOUND", f'no MLmodel file in "{model_path}"')

    try:
        meta = MlflowModel.load(mlmodel_path)
    except Exception as exc:
        raise RequestFailed(
            "MODEL_INVALID",
            f'MLmodel in "{model_path}" cannot be read: {type(exc).__name__}: {exc}',
            exception=type(exc).__name__,
        ) from None
    if "python_function" not in (meta.flavors or {}):
        raise RequestFailed("MODEL_INVALID", f'MLmodel in "{model_path}" has no python_function flavor')
    if not meta.flavors["python_function"].get("loader_module"):
        raise RequestFailed(
            "MODEL_INVALID", f'MLmodel in "{model_path}": the python_function flavor has no loader_module'
        )
    signature = meta.signature
    if signature is None or signature.inputs is None:
        raise RequestFailed("MODEL_INVALID", f'MLmodel in "{model_path}" has no signature')
    if signature.outputs is None:
        raise RequestFailed("MODEL_INVALID", f'MLmodel in "{model_path}" has no outputs in its signature')

    tensor_based = signature.inputs.is_tensor_spec()
    inputs = schema_columns(model_path, signature.inputs, "input")
    outputs = schema_columns(model_path, signature.outputs, "output")
    return inputs, outputs, tensor_based


def schema_columns(model_path, schema, role):
    """Convert an MLflow schema to Columns, rejecting unnamed and non-numeric ones."""
    if not schema.has_input_names():
        raise RequestFailed(
            "MODEL_INVALID",
            f'MLmodel in "{model_path}": the signature {role}s have no names; '
            "save the model with a signature that names every column",
        )
    if schema.is_tensor_spec():
        return [tensor_column(model_path, spec, role) for spec in schema.inputs]
    return [column_spec(model_path, spec, role) for spec in schema.inputs]


def column_spec(model_path, spec, role):
    type_name = getattr(spec.type, "name", None)
    if not isinstance(type_name, str):
        type_name = type(spec.type).__name__.lower()
    if type_name not in NUMERIC_COLUMN_TYPES:
        raise RequestFailed(
            "MODEL_INVALID",
            f'MLmodel in "{model_path}": {role} "{spec.name}" has type {type_name}, which is not numeric',
        )
    return Column(spec.name, type_name, spec.type.to_numpy())


def tensor_column(model_path, spec, role):
    dtype = np.dtype(spec.type)
    if dtype.kind not in "iuf":
        raise RequestFailed(
            "MODEL_INVALID",
            f'MLmodel in "{model_path}": {role} "{spec.name}" has type {dtype.name}, which is not numeric',
        )
    shape = tuple(spec.shape)
    if shape not in ((-1,), (-1, 1)):
        raise RequestFailed(
            "MODEL_INVALID",
            f'MLmodel in "{model_path}": {role} "{spec.name}" is a tensor of shape {list(shape)}; '
            "only named tensors of shape [-1] or [-1, 1] (one value per row) are supported",
        )
    return Column(spec.name, dtype.name, dtype, shape)


# Real paths of the code directories of every model loaded so far.
MODEL_CODE_DIRS = set()


def imported_from_model_code(module):
    module_file = getattr(module, "__file__", None)
    if not module_file:
        return False
    module_file = os.path.realpath(module_file)
    return any(module_file.startswith(code_dir + os.sep) for code_dir in MODEL_CODE_DIRS)


def forget_model_code(model_path):
    """Drop imports of other models' code that this model's code directory would shadow.

    mlflow.pyfunc.load_model (3.18) prepends <model>/<code> to sys.path and
    imports the loader module by name, so without this a second model whose
    loader module has the same name would run the first model's module. Only
    modules imported from a model code directory are dropped, never MLflow's
    or a library's own.
    """
    try:
        conf = MlflowModel.load(os.path.join(model_path, "MLmodel")).flavors["python_function"]
    except Exception:
        return
    code = conf.get("code")
    if not isinstance(code, str) or not code:
        return
    code_dir = os.path.realpath(os.path.join(model_path, code))
    if not os.path.isdir(code_dir):
        return
    MODEL_CODE_DIRS.add(code_dir)

    names = set()
    for entry in os.listdir(code_dir):
        stem, extension = os.path.splitext(entry)
        if extension == ".py" or os.path.isdir(os.path.join(code_dir, entry)):
            names.add(stem)
    for module_name, module in list(sys.modules.items()):
        if module_name.split(".")[0] in names and imported_from_model_code(module):
            del sys.modules[module_name]


def drop_duplicate_sys_path_entries():
    """Keep sys.path from growing by one entry each time a model is loaded again."""
    seen = set()
    kept = []
    for entry in sys.path:
        if entry not in seen:
            seen.add(entry)
            kept.append(entry)
    sys.path[:] = kept


def load_model(model_path, request_id):
    try:
        inputs, outputs, tensor_based = read_signature(model_path)
    except RequestFailed as failure:
        failure.request_id = request_id
        raise

    forget_model_code(model_path)
    try:
        # suppress_warnings skips MLflow's check of the model's pip requirements
        # against the installed packages, which dominates a first load
        # (docs/sidecar.md has the measurements).
        model = mlflow_pyfunc.load_model(model_path, suppress_warnings=True)
    except Exception as exc:
        log.warning("loading %s failed: %s: %s", model_path, type(exc).__name__, exc)
        raise exception_failure("LOAD_FAILED", exc, request_id) from None
    finally:
        drop_duplicate_sys_path_entries()
    return LoadedModel(model, inputs, outputs, tensor_based)


class ModelCache:
    """LRU cache of loaded models keyed by normalized model path."""

    def __init__(self, capacity):
        self.capacity = capacity
        self.models = collections.OrderedDict()
        self.loads = 0
        self.hits = 0
        self.evictions = 0

    def get(self, model_path, request_id):
        """Return (model, cached), loading the model on a miss."""
        key = os.path.normpath(model_path) if os.path.isabs(model_path) else model_path
        model = self.models.get(key)
        if model is not None:
            self.models.move_to_end(key)
            self.hits += 1
            return model, True

        model = load_model(model_path, request_id)
        while len(self.models) >= self.capacity:
            evicted, _ = self.models.popitem(last=False)
            self.evictions += 1
            log.info("evicted %s from the model cache", evicted)
        self.models[key] = model
        self.loads += 1
        log.info("loaded %s", model_path)
        return model, False

    def stats(self):
        return {
            "entries": len(self.models),
            "capacity": self.capacity,
            "loads": self.loads,
            "hits": self.hits,
            "evictions": self.evictions,
        }


# ---------------------------------------------------------------------------
# Predict: input conversion


def integral_range(dtype):
    """Return the inclusive value range of an integer or boolean dtype."""
    if dtype.kind == "b":
        return 0, 1
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def convert_column(values, column):
    """Convert FP32 values to the column's dtype; integer types take only integral values in range."""
    dtype = column.dtype
    if dtype.kind == "f":
        return values.astype(dtype)

    low, high = integral_range(dtype)
    wide = values.astype(np.float64)
    # The bounds compare in FP64, where every int32 bound is exact and the
    # int64 bounds round to +-2^63, so the upper test is strict for 64 bits.
    if dtype.itemsize >= 8:
        in_range = (wide >= float(low)) & (wide < float(high) + 1.0)
    else:
        in_range = (wide >= low) & (wide <= high)
    valid = np.isfinite(wide) & (wide == np.floor(wide)) & in_range
    if not valid.all():
        row = int(np.argmin(valid))
        raise RequestFailed(
            "BAD_REQUEST",
            f'cannot convert input "{column.name}" at batch row {row} (0-based) to {column.type_name}: '
            "not an integral value in range",
        )
    return wide.astype(dtype)


def build_model_input(model, input_names, values):
    """Build the object passed to the model's predict from a (batch, k) FP32 array.

    Column-based models get a DataFrame in signature order, which is the
    order MLflow's schema enforcement would give it.
    """
    signature_names = model.input_names()
    if not model.tensor_based and model.all_float32:
        # One FP32 block, without a copy when the request already has
        # signature order. The payload buffer is a private bytearray, so the
        # frame is writable like one pandas builds itself.
        if input_names != signature_names:
            order = [input_names.index(name) for name in signature_names]
            values = values[:, order]
        return pd.DataFrame(values, columns=signature_names, copy=False)

    by_name = {column.name: column for column in model.inputs}
    converted = {}
    for index, name in enumerate(input_names):
        column = by_name[name]
        data = convert_column(values[:, index], column)
        if column.shape == (-1, 1):
            data = data.reshape(-1, 1)
        converted[name] = data

    if model.tensor_based:
        return converted
    return pd.DataFrame(converted, columns=signature_names)


# ---------------------------------------------------------------------------
# Predict: result normalization (docs/protocol.md section 5.1)


def bad_output(message, request_id):
    return RequestFailed("BAD_OUTPUT", message, request_id)


def numeric_matrix(array, request_id):
    """Convert an array of real numbers to FP32; reject other dtypes."""
    if array.dtype.kind not in "biuf":
        raise bad_output(
            f"model returned values of dtype {array.dtype}, which are not real numbers", request_id
        )
    return array.astype(np.float32)


def normalize_frame(frame, output_names, batch_size, request_id):
    if len(frame) != batch_size:
        raise bad_output(f"model returned {len(frame)} rows for a batch of {batch_size}", request_id)
    missing = [name for name in output_names if name not in frame.columns]
    if missing:
        columns = compact_json([str(name) for name in frame.columns])
        raise bad_output(
            f"model returned a DataFrame without the output columns {compact_json(missing)}; "
            f"its columns are {columns}",
            request_id,
        )
    columns = []
    for name in output_names:
        series = frame[name]
        if not (pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_complex_dtype(series.dtype)):
            raise bad_output(
                f'model returned values of dtype {series.dtype} in output "{name}", which are not real numbers',
                request_id,
            )
        columns.append(series.to_numpy(dtype=np.float32, na_value=np.nan))
    return np.stack(columns, axis=1)


def normalize_result(result, output_names, batch_size, request_id):
    """Return the model result as a (batch_size, K) FP32 array in `output_names` order."""
    width = len(output_names)
    if isinstance(result, pd.DataFrame):
        return normalize_frame(result, output_names, batch_size, request_id)
    if isinstance(result, dict):
        raise bad_output(
            "model returned a dict, which is not a supported result; "
            "return an array, a list, a Series or a DataFrame",
            request_id,
        )
    if isinstance(result, pd.Series):
        result = result.to_numpy()
    if isinstance(result, (list, tuple)) or np.isscalar(result) or isinstance(result, np.ndarray):
        try:
            array = np.asarray(result)
        except (TypeError, ValueError) as exc:
            raise bad_output(f"model returned a result that is not an array of numbers: {exc}", request_id) from None
    else:
        raise bad_output(
            f"model returned {type(result).__name__}, which is not a supported result; "
            "return an array, a list, a Series or a DataFrame",
            request_id,
        )

    if array.ndim == 0:
        if batch_size != 1 or width != 1:
            raise bad_output(
                f"model returned a scalar for a batch of {batch_size} rows and {width} outputs", request_id
            )
        return numeric_matrix(array.reshape(1, 1), request_id)

    rows = array.shape[0]
    if rows != batch_size:
        raise bad_output(f"model returned {rows} rows for a batch of {batch_size}", request_id)
    if array.ndim == 1:
        if width != 1:
            raise bad_output(
                f"model returned one value per row for {width} outputs; return shape ({batch_size}, {width})",
                request_id,
            )
        return numeric_matrix(array.reshape(batch_size, 1), request_id)
    if array.ndim == 2:
        if array.shape[1] != width:
            raise bad_output(f"model returned {array.shape[1]} columns for {width} outputs", request_id)
        return numeric_matrix(array, request_id)
    raise bad_output(
        f"model returned an array of shape {list(array.shape)}; expected ({batch_size},) or ({batch_size}, {width})",
        request_id,
    )


# ---------------------------------------------------------------------------
# Request handlers


class Sidecar:
    """Request handlers sharing the model cache."""

    def __init__(self, cache):
        self.cache = cache

    def handle(self, request, payload):
        """Return (response header, response payload) for a parsed request."""
        op = request["op"]
        request_id = request["id"]
        if op != "predict" and len(payload) != 0:
            raise RequestFailed(
                "BAD_REQUEST", f"payload has {len(payload)} bytes, expected 0 for a {op} request", request_id
            )
        if op == "ping":
            header = {
                "id": request_id,
                "ok": True,
                "protocol": PROTOCOL_VERSION,
                "implementation": IMPLEMENTATION,
                "pid": os.getpid(),
                "cache": self.cache.stats(),
            }
            return header, b""
        if op == "load":
            model, cached = self.cache.get(request["model_path"], request_id)
            header = {
                "id": request_id,
                "ok": True,
                "cached": cached,
                "inputs": [column.describe() for column in model.inputs],
                "outputs": [column.describe() for column in model.outputs],
            }
            return header, b""
        if op == "predict":
            return self.predict(request, payload)
        # op == "shutdown"; parse_header rejects every other op.
        return {"id": request_id, "ok": True}, b""

    def predict(self, request, payload):
        request_id = request["id"]
        input_names = request["input_names"]
        batch_size = request["batch_size"]
        expected = batch_size * len(input_names) * 4
        if len(payload) != expected:
            raise RequestFailed(
                "BAD_REQUEST",
                f"payload has {len(payload)} bytes, expected {expected} "
                f"(batch_size {batch_size} x {len(input_names)} inputs x 4)",
                request_id,
            )

        model, _ = self.cache.get(request["model_path"], request_id)
        signature_inputs = model.input_names()
        if set(input_names) != set(signature_inputs):
            raise RequestFailed(
                "BAD_REQUEST",
                f"input_names {compact_json(input_names)} do not match the signature inputs "
                f"{compact_json(signature_inputs)}",
                request_id,
            )
        signature_outputs = model.output_names()
        output_names = request["output_names"]
        if output_names is None:
            output_names = signature_outputs
        elif set(output_names) != set(signature_outputs) or len(output_names) != len(signature_outputs):
            raise RequestFailed(
                "BAD_REQUEST",
                f"output_names {compact_json(output_names)} do not match the signature outputs "
                f"{compact_json(signature_outputs)}",
                request_id,
            )

        values = np.frombuffer(payload, dtype="<f4").reshape(batch_size, len(input_names))
        try:
            model_input = build_model_input(model, input_names, values)
        except RequestFailed as failure:
            failure.request_id = request_id
            raise

        try:
            result = model.predict(model_input)
        except Exception as exc:
            log.warning("predict of %s failed: %s: %s", request["model_path"], type(exc).__name__, exc)
            raise exception_failure("PREDICT_FAILED", exc, request_id) from None

        matrix = normalize_result(result, signature_outputs, batch_size, request_id)
        order = [signature_outputs.index(name) for name in output_names]
        ordered = np.ascontiguousarray(matrix[:, order], dtype="<f4")
        body = ordered.tobytes()
        if len(body) > MAX_PAYLOAD_BYTES:
            raise bad_output(
                f"result has {len(body)} bytes, above the payload limit of {MAX_PAYLOAD_BYTES} bytes; "
                "send smaller batches",
                request_id,
            )
        header = {"id": request_id, "ok": True, "output_names": list(output_names), "batch_size": batch_size}
        return header, body


def serve_connection(conn, sidecar, handling_lock, on_shutdown):
    """Answer requests on one connection in arrival order until it closes."""
    reader = FrameReader(conn)
    while True:
        try:
            header_bytes, payload = reader.read()
        except ConnectionClosed:
            return
        except FrameError as exc:
            log.warning("closing the connection after an invalid frame: %s", exc.message)
            try:
                send_frame(conn, error_header(0, exc.code, exc.message))
                close_gracefully(conn)
            except OSError:
                pass
            return

        # One request runs at a time in the whole process, because models
        # and the cache are not assumed to be thread-safe.
        with handling_lock:
            header, body, shutting_down = handle_frame(sidecar, header_bytes, payload)
            del payload
            send_frame(conn, header, body)
            if shutting_down:
                on_shutdown()


def close_gracefully(conn):
    """Half-close, then discard what the peer still sends, so that it reads EOF and not a reset.

    Closing a socket with unread input makes the kernel reset the connection,
    and the peer may then lose the error frame. The drain is bounded in bytes
    and time.
    """
    conn.shutdown(socket.SHUT_WR)
    conn.settimeout(DRAIN_TIMEOUT_SECONDS)
    drained = 0
    try:
        while drained < DRAIN_MAX_BYTES:
            chunk = conn.recv(65536)
            if not chunk:
                return
            drained += len(chunk)
    except OSError:
        return


def handle_frame(sidecar, header_bytes, payload):
    """Return (response header, response payload, shutdown requested) for one request frame."""
    request = None
    try:
        request = parse_header(header_bytes)
        header, body = sidecar.handle(request, payload)
        return header, body, request["op"] == "shutdown"
    except RequestFailed as failure:
        return error_header(failure.request_id, failure.code, failure.message, failure.exception), b"", False
    except Exception as exc:
        log.exception("internal error while handling a request")
        request_id = request["id"] if request is not None else 0
        return error_header(request_id, "INTERNAL", f"{type(exc).__name__}: {exc}", type(exc).__name__), b"", False


def connection_thread(conn, sidecar, handling_lock, on_shutdown):
    with conn:
        try:
            serve_connection(conn, sidecar, handling_lock, on_shutdown)
        except OSError as exc:
            log.warning("connection failed: %s", exc)


# ---------------------------------------------------------------------------
# Process: arguments, socket, signals, readiness


class BoundSocket:
    """The listening socket and the identity of the file it created."""

    def __init__(self, path, listener):
        self.path = path
        self.listener = listener
        status = os.stat(path)
        self.identity = (status.st_dev, status.st_ino)

    def remove_file(self):
        """Remove the socket file if it is still the one this process bound."""
        try:
            status = os.lstat(self.path)
        except FileNotFoundError:
            return
        if (status.st_dev, status.st_ino) == self.identity:
            os.unlink(self.path)


def fail(status, message):
    log.error("%s", message)
    sys.stderr.flush()
    sys.exit(status)


def bind_socket(path):
    """Bind and listen on `path` following the binding rules; exit 3 when the path cannot be used."""
    if len(os.fsencode(path)) >= SUN_PATH_BYTES:
        fail(
            EXIT_SOCKET,
            f"socket path {path} is {len(os.fsencode(path))} bytes long; "
            f"the limit is {SUN_PATH_BYTES - 1} bytes",
        )

    try:
        existing = os.lstat(path)
    except FileNotFoundError:
        existing = None
    if existing is not None:
        if not stat.S_ISSOCK(existing.st_mode):
            fail(EXIT_SOCKET, f"socket path {path} exists and is not a socket; it was left untouched")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(PROBE_TIMEOUT_SECONDS)
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            log.info("removing stale socket %s", path)
            os.unlink(path)
        except OSError as exc:
            fail(EXIT_SOCKET, f"socket path {path} exists and cannot be probed: {exc}")
        else:
            fail(EXIT_SOCKET, f"socket path {path} belongs to a live process; stop it or choose another path")
        finally:
            probe.close()

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The umask makes bind() create the file as 0600, so it is never open to others.
    previous_umask = os.umask(0o177)
    try:
        listener.bind(path)
    except OSError as exc:
        listener.close()
        fail(EXIT_SOCKET, f"cannot bind socket {path}: {exc}")
    finally:
        os.umask(previous_umask)
    os.chmod(path, 0o600)
    listener.listen(LISTEN_BACKLOG)
    return BoundSocket(path, listener)


def import_runtime():
    """Import numpy, pandas and mlflow.pyfunc; return None, or an error message."""
    global np, pd, mlflow_pyfunc, MlflowModel, PredictionContext, set_prediction_context
    try:
        import numpy
        import pandas
        import mlflow.pyfunc
        from mlflow.models import Model
        from mlflow.pyfunc.context import Context, set_prediction_context as set_context
    except Exception as exc:
        return (
            f"cannot import the sidecar runtime: {type(exc).__name__}: {exc}; "
            "install it with pip install -r sidecar/requirements.txt"
        )
    np = numpy
    pd = pandas
    mlflow_pyfunc = mlflow.pyfunc
    MlflowModel = Model
    PredictionContext = Context
    set_prediction_context = set_context
    return None


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description="Serve MLflow PyFunc models over wire protocol v1.")
    parser.add_argument("--socket", required=True, help="absolute path of the Unix socket to listen on")
    parser.add_argument(
        "--cache-entries",
        type=int,
        default=DEFAULT_CACHE_ENTRIES,
        help=f"maximum number of loaded models kept, 1 to {MAX_CACHE_ENTRIES} (default {DEFAULT_CACHE_ENTRIES})",
    )
    args = parser.parse_args(argv)
    if not os.path.isabs(args.socket):
        parser.error(f"--socket {args.socket} is not an absolute path")
    if not 1 <= args.cache_entries <= MAX_CACHE_ENTRIES:
        parser.error(f"--cache-entries {args.cache_entries} is outside 1 to {MAX_CACHE_ENTRIES}")
    return args


def detach_stdout():
    """Point fd 1 at standard error and return a file for the readiness line.

    Models and libraries may print; protocol clients read only the readiness
    line from standard output, so everything else goes to standard error. The
    original stdout stays open until exit, so the client sees no early EOF.
    """
    ready_fd = os.dup(1)
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(ready_fd, "w", encoding="utf-8")


PARENT_CHECK_SECONDS = 0.5


def watch_parent():
    """Stop the process with SIGTERM once the process that started it exits.

    The sidecar is then re-parented, so its parent process id changes. A
    client that crashed cannot send shutdown, and without this check its
    sidecars would run on with their sockets.
    """
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        log.warning("the parent process exited; stopping")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv=None):
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s mlflow-sidecar[%(process)d] %(levelname)s %(message)s",
    )
    args = parse_arguments(argv)
    ready_stream = detach_stdout()

    bound = None

    def stop(signum, _frame):
        # os._exit, because a model may be inside a sleep or a C call.
        log.info("received %s; stopping", signal.Signals(signum).name)
        if bound is not None:
            bound.remove_file()
        sys.stderr.flush()
        os._exit(EXIT_OK)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    watch_parent()

    bound = bind_socket(args.socket)
    problem = import_runtime()
    if problem is not None:
        bound.remove_file()
        fail(EXIT_DEPENDENCY, problem)

    sidecar = Sidecar(ModelCache(args.cache_entries))
    ready = {
        "ready": True,
        "protocol": PROTOCOL_VERSION,
        "pid": os.getpid(),
        "implementation": IMPLEMENTATION,
        "max_header_bytes": MAX_HEADER_BYTES,
        "max_payload_bytes": MAX_PAYLOAD_BYTES,
    }
    ready_stream.write(compact_json(ready) + "\n")
    ready_stream.flush()
    log.info("listening on %s (cache entries %d)", args.socket, args.cache_entries)

    handling_lock = threading.Lock()

    def shutdown():
        # Runs in a connection thread holding the handling lock, after the
        # response was sent; exiting closes every connection.
        log.info("shutdown requested; stopping")
        bound.remove_file()
        sys.stderr.flush()
        os._exit(EXIT_OK)

    try:
        while True:
            conn, _ = bound.listener.accept()
            worker = threading.Thread(
                target=connection_thread, args=(conn, sidecar, handling_lock, shutdown), daemon=True
            )
            worker.start()
    except Exception:
        log.exception("fatal error")
        bound.remove_file()
        return EXIT_FATAL

if __name__ == "__main__":
    sys.exit(main())
