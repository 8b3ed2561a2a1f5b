"""Tests of the MLflow sidecar process over a real Unix socket.

Every test starts the real sidecar (sidecar/mlflow_sidecar.py) with this
interpreter, so mlflow, numpy and pandas must be importable. Run from the
repository root:

    .venv/bin/python -m unittest discover -s sidecar/tests -v
"""

import csv
import json
import math
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SIDECAR = REPO / "sidecar" / "mlflow_sidecar.py"
FIXTURES = REPO / "fixtures" / "mlflow"
INPUTS = REPO / "fixtures" / "inputs"

PREAMBLE = struct.Struct("<4sHHII")
START_TIMEOUT_SECONDS = 60
IO_TIMEOUT_SECONDS = 60
EXIT_TIMEOUT_SECONDS = 20


# ---------------------------------------------------------------------------
# Process and protocol helpers


def encode_frame(header, payload=b"", magic=b"TMSP", version=1, flags=0):
    header_bytes = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    return PREAMBLE.pack(magic, version, flags, len(header_bytes), len(payload)) + header_bytes + payload


def f32_bytes(rows):
    return np.asarray(rows, dtype="<f4").tobytes()


class Client:
    """A minimal protocol client on one connection."""

    def __init__(self, path, timeout=IO_TIMEOUT_SECONDS):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))

    def close(self):
        self.sock.close()

    def send(self, header, payload=b""):
        self.sock.sendall(encode_frame(header, payload))

    def send_raw(self, data):
        self.sock.sendall(data)

    def recv_exact(self, size):
        data = bytearray()
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return bytes(data)

    def read(self):
        """Return (header dict, payload bytes, raw header bytes), or None at EOF."""
        preamble = self.recv_exact(PREAMBLE.size)
        if preamble is None:
            return None
        magic, version, flags, header_len, payload_len = PREAMBLE.unpack(preamble)
        assert magic == b"TMSP" and version == 1 and flags == 0, preamble
        raw_header = self.recv_exact(header_len)
        payload = self.recv_exact(payload_len) if payload_len else b""
        return json.loads(raw_header), payload, raw_header

    def call(self, header, payload=b""):
        self.send(header, payload)
        response = self.read()
        assert response is not None, f"connection closed without an answer to {header}"
        return response[0], response[1]


class SidecarProcess:
    """A running sidecar in a private directory; stop() reaps it and removes its socket."""

    def __init__(self, workdir, cache_entries=None, socket_path=None, env=None, expect_ready=True):
        self.workdir = Path(workdir)
        self.socket_path = Path(socket_path) if socket_path else self.workdir / "sidecar.sock"
        self.stderr_path = self.workdir / f"stderr-{time.monotonic_ns()}.log"
        command = [sys.executable, str(SIDECAR), "--socket", str(self.socket_path)]
        if cache_entries is not None:
            command += ["--cache-entries", str(cache_entries)]
        self.stderr_file = open(self.stderr_path, "wb")
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self.stderr_file, env=env, cwd=self.workdir
        )
        self.ready = self.read_ready_line() if expect_ready else None

    def read_ready_line(self):
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        line = b""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        try:
            while not line.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    self.stop()
                    raise AssertionError(f"no readiness line within {START_TIMEOUT_SECONDS} s: {self.stderr_tail()}")
                chunk = os.read(self.process.stdout.fileno(), 4096)
                if not chunk:
                    self.stop()
                    raise AssertionError(f"stdout closed before the readiness line: {self.stderr_tail()}")
                line += chunk
        finally:
            selector.close()
        return json.loads(line)

    def stderr_tail(self):
        self.stderr_file.flush()
        return self.stderr_path.read_text(errors="replace")[-2000:]

    def client(self, timeout=IO_TIMEOUT_SECONDS):
        return Client(self.socket_path, timeout)

    def wait(self, timeout=EXIT_TIMEOUT_SECONDS):
        return self.process.wait(timeout)

    def stop(self):
        """Stop the process if it still runs, reap it and remove a leftover socket file."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(EXIT_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        self.stderr_file.close()
        if self.socket_path.is_socket():
            self.socket_path.unlink()


def private_tempdir(test=None):
    """Create a directory only this user can open; a test case given removes it at cleanup."""
    directory = tempfile.TemporaryDirectory(prefix="sidecar-test-")
    os.chmod(directory.name, 0o700)
    if test is not None:
        test.addCleanup(directory.cleanup)
    return directory


# ---------------------------------------------------------------------------
# Reference evaluation of a fixture spec, written from docs/model-spec.md


def reference_predict(model_dir, rows):
    """Evaluate data/model.json on rows given in spec input order; return (N, K) float32."""
    spec = json.loads((Path(model_dir) / "data" / "model.json").read_text())
    out = np.zeros((len(rows), len(spec["outputs"])), dtype=np.float32)
    for r, row in enumerate(np.asarray(rows, dtype=np.float32)):
        for k, output in enumerate(spec["outputs"]):
            acc = np.float32(output["bias"])
            for weight, x in zip(output["weights"], row):
                acc = np.float32(acc + np.float32(np.float32(weight) * x))
            if output["activation"] == "relu":
                acc = acc if acc > 0 else np.float32(0)
            elif output["activation"] == "sigmoid":
                acc = np.float32(1.0 / (1.0 + math.exp(-float(acc))))
            out[r, k] = acc
    return out


def read_csv_rows(name):
    with open(INPUTS / name, newline="") as table:
        reader = csv.reader(table)
        header = next(reader)
        return header, [[float(value) for value in row] for row in reader]


def predict_header(request_id, model_dir, input_names, batch_size, output_names=None):
    header = {"op": "predict", "id": request_id, "model_path": str(model_dir), "input_names": input_names}
    if output_names is not None:
        header["output_names"] = output_names
    header["batch_size"] = batch_size
    return header


def decode_output(header, payload):
    values = np.frombuffer(payload, dtype="<f4")
    return values.reshape(header["batch_size"], len(header["output_names"]))


# ---------------------------------------------------------------------------
# Test-time models


RESULT_MODEL_SOURCE = textwrap.dedent(
    '''
    """Returns results of the shape named in the model's data file, to test result normalization."""
    import numpy as np
    import pandas as pd


    def _load_pyfunc(data_path):
        with open(data_path) as kind_file:
            kind = kind_file.read().strip()
        if kind == "load_error":
            raise OSError("cannot open weights")
        return ResultModel(kind)


    class ResultModel:
        def __init__(self, kind):
            self.kind = kind

        def predict(self, model_input, params=None):
            a = model_input["a"].to_numpy()
            n = len(a)
            kind = self.kind
            if kind == "scalar":
                return 0.75
            if kind == "zero_d":
                return np.array(0.25)
            if kind == "list":
                return [float(v) * 2 for v in a]
            if kind == "series":
                return pd.Series(a * 3, name="whatever")
            if kind == "column":
                return (a * 4).reshape(n, 1)
            if kind == "matrix":
                return np.stack([a + 1, a + 2], axis=1)
            if kind == "frame":
                return pd.DataFrame({"extra": a * 0, "y2": a + 20, "y1": a + 10})
            if kind == "frame_missing":
                return pd.DataFrame({"y1": a})
            if kind == "dict":
                return {"y1": a, "y2": a}
            if kind == "short":
                return a[:-1]
            if kind == "wide":
                return np.stack([a, a, a], axis=1)
            if kind == "strings":
                return np.array(["x"] * n)
            if kind == "raise":
                raise ValueError("bad input")
            raise AssertionError(kind)
    '''
)


def save_loader_model(directory, loader_module, source, data_text, inputs, outputs):
    """Save a pickle-free PyFunc model whose loader module is `source`."""
    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    code_dir = Path(directory).parent / f"code-{Path(directory).name}"
    code_dir.mkdir(parents=True)
    module_file = code_dir / f"{loader_module}.py"
    module_file.write_text(source)
    data_file = code_dir / "data.txt"
    data_file.write_text(data_text)
    signature = ModelSignature(
        inputs=Schema([ColSpec(t, name) for name, t in inputs]),
        outputs=Schema([ColSpec(t, name) for name, t in outputs]),
    )
    mlflow.pyfunc.save_model(
        str(directory),
        loader_module=loader_module,
        data_path=str(data_file),
        code_paths=[str(module_file)],
        signature=signature,
        pip_requirements=["numpy", "pandas"],
    )
    return Path(directory)


# ---------------------------------------------------------------------------
# Tests with one shared sidecar


class FixtureModelTests(unittest.TestCase):
    """Predicts and request errors against the committed fixtures."""

    @classmethod
    def setUpClass(cls):
        cls.tempdir = private_tempdir()
        cls.sidecar = SidecarProcess(cls.tempdir.name)
        cls.next_id = 1

    @classmethod
    def tearDownClass(cls):
        cls.sidecar.stop()
        assert not cls.sidecar.socket_path.exists()
        cls.tempdir.cleanup()

    def setUp(self):
        self.client = self.sidecar.client()
        self.addCleanup(self.client.close)

    def new_id(self):
        type(self).next_id += 1
        return type(self).next_id

    def predict(self, model, input_names, rows, output_names=None):
        header = predict_header(self.new_id(), FIXTURES / model, input_names, len(rows), output_names)
        return self.client.call(header, f32_bytes(rows))

    def assert_error(self, response, code, message=None):
        header, payload = response
        self.assertFalse(header["ok"], header)
        self.assertEqual(header["error"]["code"], code, header)
        if message is not None:
            self.assertEqual(header["error"]["message"], message)
        self.assertEqual(payload, b"")

    def test_ready_line_fields(self):
        ready = self.sidecar.ready
        self.assertEqual(list(ready), ["ready", "protocol", "pid", "implementation", "max_header_bytes", "max_payload_bytes"])
        self.assertIs(ready["ready"], True)
        self.assertEqual(ready["protocol"], 1)
        self.assertEqual(ready["pid"], self.sidecar.process.pid)
        self.assertTrue(ready["implementation"].startswith("mlflow-sidecar/"))
        self.assertEqual(ready["max_header_bytes"], 65536)
        self.assertEqual(ready["max_payload_bytes"], 64 * 1024 * 1024)

    def test_socket_mode_is_0600(self):
        mode = self.sidecar.socket_path.stat().st_mode & 0o777
        self.assertEqual(mode, 0o600)

    def test_ping_header_is_canonical(self):
        self.client.send({"op": "ping", "id": 7})
        header, payload, raw = self.client.read()
        self.assertEqual(payload, b"")
        prefix = f'{{"id":7,"ok":true,"protocol":1,"implementation":"{header["implementation"]}","pid":{self.sidecar.process.pid},"cache":{{"entries":'
        self.assertTrue(raw.decode().startswith(prefix), raw)
        self.assertEqual(list(header["cache"]), ["entries", "capacity", "loads", "hits", "evictions"])
        self.assertEqual(header["cache"]["capacity"], 64)

    def test_fixtures_match_reference(self):
        cases = [
            ("churn", "churn.csv"),
            ("churn_linear", "churn.csv"),
            ("tensor_churn", "churn.csv"),
            ("wide8", "wide8.csv"),
            ("risk", "risk.csv"),
        ]
        for model, table in cases:
            with self.subTest(model=model):
                names, rows = read_csv_rows(table)
                header, payload = self.predict(model, names, rows)
                self.assertTrue(header["ok"], header)
                self.assertEqual(header["batch_size"], len(rows))
                expected = reference_predict(FIXTURES / model, rows)
                self.assertEqual(decode_output(header, payload).tobytes(), expected.tobytes())

    def test_churn_half_point(self):
        # -2 + 0.03125 * 32 + 0.0078125 * 128 = 0, and sigmoid(0) = 0.5.
        header, payload = self.predict("churn", ["tenure", "spend"], [[32, 128]])
        self.assertEqual(header["output_names"], ["score"])
        self.assertEqual(np.frombuffer(payload, "<f4").tolist(), [0.5])

    def test_churn_linear_is_fp32_chain(self):
        header, payload = self.predict("churn_linear", ["tenure", "spend"], [[7.25, 64.125]])
        tenure, spend = np.float32(7.25), np.float32(64.125)
        expected = np.float32(np.float32(np.float32(-2.0) + np.float32(0.03125) * tenure) + np.float32(0.0078125) * spend)
        self.assertEqual(np.frombuffer(payload, "<f4")[0], expected)

    def test_input_names_any_order(self):
        _, rows = read_csv_rows("churn.csv")
        swapped = [[spend, tenure] for tenure, spend in rows]
        header, payload = self.predict("churn", ["spend", "tenure"], swapped)
        expected = reference_predict(FIXTURES / "churn", rows)
        self.assertEqual(decode_output(header, payload).tobytes(), expected.tobytes())

    def test_output_names_order(self):
        _, rows = read_csv_rows("risk.csv")
        header, payload = self.predict("risk", ["age", "income"], rows, output_names=["band", "score"])
        self.assertEqual(header["output_names"], ["band", "score"])
        expected = reference_predict(FIXTURES / "risk", rows)[:, [1, 0]]
        self.assertEqual(decode_output(header, payload).tobytes(), np.ascontiguousarray(expected).tobytes())

    def test_long_column_casting(self):
        header, payload = self.predict("risk", ["age", "income"], [[30, 1000.5], [-4, 0]])
        self.assertTrue(header["ok"], header)
        expected = reference_predict(FIXTURES / "risk", [[30, 1000.5], [-4, 0]])
        self.assertEqual(decode_output(header, payload).tobytes(), expected.tobytes())

    def test_long_column_rejects_fraction(self):
        response = self.predict("risk", ["age", "income"], [[30, 1.0], [2.5, 1.0]])
        self.assert_error(
            response,
            "BAD_REQUEST",
            'cannot convert input "age" at batch row 1 (0-based) to long: not an integral value in range',
        )

    def test_long_column_rejects_out_of_range(self):
        for value in [2.0**63, -(2.0**64), float("nan"), float("inf")]:
            with self.subTest(value=value):
                response = self.predict("risk", ["age", "income"], [[value, 1.0]])
                self.assert_error(
                    response,
                    "BAD_REQUEST",
                    'cannot convert input "age" at batch row 0 (0-based) to long: not an integral value in range',
                )

    def test_long_column_accepts_lowest_int64(self):
        header, _ = self.predict("risk", ["age", "income"], [[-(2.0**63), 1.0]])
        self.assertTrue(header["ok"], header)

    def test_input_names_mismatch(self):
        response = self.predict("churn", ["tenure", "spent"], [[1, 2]])
        self.assert_error(
            response, "BAD_REQUEST", 'input_names ["tenure","spent"] do not match the signature inputs ["tenure","spend"]'
        )

    def test_output_names_mismatch(self):
        response = self.predict("risk", ["age", "income"], [[1, 2]], output_names=["score"])
        self.assert_error(
            response, "BAD_REQUEST", 'output_names ["score"] do not match the signature outputs ["score","band"]'
        )

    def test_payload_size_mismatch(self):
        header = predict_header(self.new_id(), FIXTURES / "churn", ["tenure", "spend"], 3)
        response = self.client.call(header, f32_bytes([1, 2, 3, 4]))
        self.assert_error(response, "BAD_REQUEST", "payload has 16 bytes, expected 24 (batch_size 3 x 2 inputs x 4)")
        self.assertEqual(response[0]["id"], header["id"])

    def test_model_path_not_absolute(self):
        response = self.client.call({"op": "load", "id": 3, "model_path": "fixtures/mlflow/churn"})
        self.assert_error(response, "MODEL_NOT_FOUND", 'model path "fixtures/mlflow/churn" is not absolute')

    def test_model_path_without_mlmodel(self):
        response = self.client.call({"op": "load", "id": 3, "model_path": str(FIXTURES)})
        self.assert_error(response, "MODEL_NOT_FOUND", f'no MLmodel file in "{FIXTURES}"')

    def test_invalid_mlmodel_files(self):
        base = Path(self.tempdir.name) / "invalid"
        flavor = "flavors:\n  python_function:\n    loader_module: spec_model\n"
        signature = (
            "signature:\n  inputs: '[{\"type\": \"string\", \"name\": \"s\", \"required\": true}]'\n"
            "  outputs: '[{\"type\": \"float\", \"name\": \"y\", \"required\": true}]'\n"
        )
        cases = {
            "no_flavor": ("flavors:\n  sklearn:\n    pickled_model: model.pkl\n", "has no python_function flavor"),
            "no_signature": (flavor, "has no signature"),
            "string_input": (flavor + signature, ': input "s" has type string, which is not numeric'),
            "string_output": (
                flavor + signature.replace('"string", "name": "s"', '"double", "name": "s"').replace('"float"', '"string"'),
                ': output "y" has type string, which is not numeric',
            ),
        }
        for name, (text, suffix) in cases.items():
            with self.subTest(case=name):
                model_dir = base / name
                model_dir.mkdir(parents=True)
                (model_dir / "MLmodel").write_text(text)
                response = self.client.call({"op": "load", "id": 4, "model_path": str(model_dir)})
                separator = "" if suffix.startswith(":") else " "
                self.assert_error(response, "MODEL_INVALID", f'MLmodel in "{model_dir}"{separator}{suffix}')

    def test_load_reports_signature(self):
        first, _ = self.client.call({"op": "load", "id": 5, "model_path": str(FIXTURES / "risk")})
        second, _ = self.client.call({"op": "load", "id": 6, "model_path": str(FIXTURES / "risk")})
        self.assertTrue(first["ok"], first)
        self.assertEqual(first["inputs"], [{"name": "age", "type": "long"}, {"name": "income", "type": "double"}])
        self.assertEqual(first["outputs"], [{"name": "score", "type": "float"}, {"name": "band", "type": "float"}])
        self.assertIs(second["cached"], True)

    def test_load_reports_tensor_types(self):
        header, _ = self.client.call({"op": "load", "id": 5, "model_path": str(FIXTURES / "tensor_churn")})
        self.assertEqual(header["inputs"], [{"name": "tenure", "type": "float32"}, {"name": "spend", "type": "float32"}])
        self.assertEqual(header["outputs"], [{"name": "score", "type": "float32"}])

    def test_invalid_json_keeps_connection(self):
        self.client.send_raw(encode_frame(b"{not json"))
        header, payload, _ = self.client.read()
        self.assertEqual(header["id"], 0)
        self.assert_error((header, payload), "BAD_REQUEST")
        self.assertTrue(header["error"]["message"].startswith("header is not valid JSON"), header)
        pong, _ = self.client.call({"op": "ping", "id": 11})
        self.assertTrue(pong["ok"])
        self.assertEqual(pong["id"], 11)

    def test_header_errors_keep_connection(self):
        cases = [
            (b"[1,2]", 0, "header is not a JSON object"),
            (b'{"op":"ping"}', 0, "missing key `id`"),
            (b'{"op":"ping","id":0}', 0, "key `id` is 0, expected an integer from 1 to 9007199254740991"),
            (b'{"op":"ping","id":true}', 0, "key `id` is true, expected an integer"),
            (b'{"op":"fly","id":12}', 12, "unknown op `fly`, expected ping, load, predict or shutdown"),
            (b'{"op":"load","id":13}', 13, "missing key `model_path`"),
            (
                b'{"op":"predict","id":14,"model_path":"/m","input_names":["a","a"],"batch_size":1}',
                14,
                "key `input_names` names `a` twice",
            ),
            (
                b'{"op":"predict","id":15,"model_path":"/m","input_names":["a"],"batch_size":0}',
                15,
                "key `batch_size` is 0, expected 1 to 16777216",
            ),
            (b"\xff\xfe", 0, "invalid frame: header is not valid UTF-8"),
            (b'{"op":"ping","id":1,"x":' + b"[" * 30000, 0, "header is not valid JSON: nested too deeply"),
        ]
        for raw, request_id, message in cases:
            with self.subTest(header=raw):
                self.client.send_raw(encode_frame(raw))
                header, payload, _ = self.client.read()
                self.assertEqual(header["id"], request_id)
                self.assert_error((header, payload), "BAD_REQUEST", message)

    def test_frame_errors_close_connection(self):
        ping = b'{"op":"ping","id":1}'
        cases = [
            ("bad magic", encode_frame(ping, magic=b"XMSP"), "BAD_FRAME"),
            ("version 2", encode_frame(ping, version=2), "UNSUPPORTED_VERSION"),
            ("flags", encode_frame(ping, flags=1), "BAD_FRAME"),
            ("header of 1 byte", PREAMBLE.pack(b"TMSP", 1, 0, 1, 0) + b"{", "HEADER_TOO_LARGE"),
            ("oversized header", PREAMBLE.pack(b"TMSP", 1, 0, 65537, 0), "HEADER_TOO_LARGE"),
            ("oversized payload", PREAMBLE.pack(b"TMSP", 1, 0, len(ping), 64 * 1024 * 1024 + 4) + ping, "PAYLOAD_TOO_LARGE"),
            ("unaligned payload", encode_frame(ping, payload=b"\0\0\0"), "BAD_FRAME"),
        ]
        for name, data, code in cases:
            with self.subTest(case=name):
                client = self.sidecar.client()
                try:
                    client.send_raw(data)
                    header, payload, _ = client.read()
                    self.assertEqual(header["id"], 0)
                    self.assert_error((header, payload), code)
                    self.assertIsNone(client.read(), "the connection stays open after a frame error")
                finally:
                    client.close()

    def test_pipelined_requests_answer_in_order(self):
        rows = [[1, 2], [3, 4]]
        self.client.send_raw(
            encode_frame({"op": "ping", "id": 21})
            + encode_frame(predict_header(22, FIXTURES / "churn", ["tenure", "spend"], 2), f32_bytes(rows))
            + encode_frame({"op": "load", "id": 23, "model_path": "relative"})
            + encode_frame({"op": "ping", "id": 24})
        )
        ids = [self.client.read()[0]["id"] for _ in range(4)]
        self.assertEqual(ids, [21, 22, 23, 24])

    def test_error_fault(self):
        response = self.predict("faults/error", ["tenure", "spend"], [[1, 2]])
        self.assert_error(response, "PREDICT_FAILED", "RuntimeError: injected failure")
        self.assertEqual(response[0]["error"]["exception"], "RuntimeError")
        pong, _ = self.client.call({"op": "ping", "id": 30})
        self.assertTrue(pong["ok"])

    def test_wrong_count_fault(self):
        response = self.predict("faults/wrong_count", ["tenure", "spend"], [[1, 2], [3, 4], [5, 6]])
        self.assert_error(response, "BAD_OUTPUT", "model returned 4 rows for a batch of 3")

    def test_nan_fault(self):
        header, payload = self.predict("faults/nan", ["tenure", "spend"], [[1, 2], [3, 4]])
        self.assertTrue(header["ok"], header)
        self.assertTrue(np.isnan(np.frombuffer(payload, "<f4")).all())
        self.assertEqual(len(payload), 8)

    def test_slow_fault_delays(self):
        started = time.monotonic()
        header, _ = self.predict("faults/slow", ["tenure", "spend"], [[1, 2]])
        self.assertTrue(header["ok"], header)
        self.assertGreaterEqual(time.monotonic() - started, 3.0)


class ResultNormalizationTests(unittest.TestCase):
    """Model results of every accepted and rejected shape, from models saved at test time."""

    KINDS_ONE_OUTPUT = ["scalar", "zero_d", "list", "series", "column", "short", "dict", "strings", "raise", "load_error"]
    KINDS_TWO_OUTPUTS = ["matrix", "frame", "frame_missing", "wide", "dict"]

    @classmethod
    def setUpClass(cls):
        cls.tempdir = private_tempdir()
        base = Path(cls.tempdir.name)
        cls.models = {}
        for kind in cls.KINDS_ONE_OUTPUT:
            cls.models[(kind, 1)] = save_loader_model(
                base / f"one-{kind}", "result_model", RESULT_MODEL_SOURCE, kind, [("a", "double")], [("y1", "float")]
            )
        for kind in cls.KINDS_TWO_OUTPUTS:
            cls.models[(kind, 2)] = save_loader_model(
                base / f"two-{kind}",
                "result_model",
                RESULT_MODEL_SOURCE,
                kind,
                [("a", "double")],
                [("y1", "float"), ("y2", "float")],
            )
        cls.sidecar = SidecarProcess(base)

    @classmethod
    def tearDownClass(cls):
        cls.sidecar.stop()
        cls.tempdir.cleanup()

    def setUp(self):
        self.client = self.sidecar.client()
        self.addCleanup(self.client.close)

    def predict(self, kind, outputs, values):
        header = predict_header(9, self.models[(kind, outputs)], ["a"], len(values))
        return self.client.call(header, f32_bytes(values))

    def values_of(self, response):
        header, payload = response
        self.assertTrue(header["ok"], header)
        return decode_output(header, payload).tolist()

    def assert_bad_output(self, response, message=None):
        header, _ = response
        self.assertFalse(header["ok"], header)
        self.assertEqual(header["error"]["code"], "BAD_OUTPUT", header)
        if message is not None:
            self.assertEqual(header["error"]["message"], message)

    def test_scalar_for_one_row(self):
        self.assertEqual(self.values_of(self.predict("scalar", 1, [5])), [[0.75]])

    def test_scalar_for_two_rows_rejected(self):
        self.assert_bad_output(self.predict("scalar", 1, [5, 6]), "model returned a scalar for a batch of 2 rows and 1 outputs")

    def test_zero_d_array(self):
        self.assertEqual(self.values_of(self.predict("zero_d", 1, [5])), [[0.25]])

    def test_list_and_series(self):
        self.assertEqual(self.values_of(self.predict("list", 1, [1, 2])), [[2.0], [4.0]])
        self.assertEqual(self.values_of(self.predict("series", 1, [1, 2])), [[3.0], [6.0]])

    def test_column_vector(self):
        self.assertEqual(self.values_of(self.predict("column", 1, [1, 2])), [[4.0], [8.0]])

    def test_matrix_n_by_k(self):
        self.assertEqual(self.values_of(self.predict("matrix", 2, [1, 2])), [[2.0, 3.0], [3.0, 4.0]])

    def test_frame_matched_by_name(self):
        self.assertEqual(self.values_of(self.predict("frame", 2, [1, 2])), [[11.0, 21.0], [12.0, 22.0]])

    def test_frame_missing_column(self):
        self.assert_bad_output(self.predict("frame_missing", 2, [1]))

    def test_dict_rejected(self):
        self.assert_bad_output(self.predict("dict", 1, [1]))
        self.assert_bad_output(self.predict("dict", 2, [1]))

    def test_length_mismatch_names_both(self):
        self.assert_bad_output(self.predict("short", 1, [1, 2, 3]), "model returned 2 rows for a batch of 3")

    def test_width_mismatch(self):
        self.assert_bad_output(self.predict("wide", 2, [1, 2]), "model returned 3 columns for 2 outputs")

    def test_strings_rejected(self):
        self.assert_bad_output(self.predict("strings", 1, [1, 2]))

    def test_model_exception(self):
        header, _ = self.predict("raise", 1, [1])
        self.assertEqual(header["error"]["code"], "PREDICT_FAILED")
        self.assertEqual(header["error"]["message"], "ValueError: bad input")
        self.assertEqual(header["error"]["exception"], "ValueError")

    def test_load_exception(self):
        header, _ = self.client.call({"op": "load", "id": 3, "model_path": str(self.models[("load_error", 1)])})
        self.assertEqual(header["error"]["code"], "LOAD_FAILED")
        self.assertEqual(header["error"]["exception"], "OSError")
        self.assertEqual(header["error"]["message"], "OSError: cannot open weights")
        pong, _ = self.client.call({"op": "ping", "id": 4})
        self.assertTrue(pong["ok"])


class RealModelTests(unittest.TestCase):
    """Models saved by MLflow's own flavors."""

    def setUp(self):
        self.tempdir = private_tempdir(self)
        self.base = Path(self.tempdir.name)

    def test_sklearn_linear_regression(self):
        import mlflow.sklearn
        import pandas as pd
        from mlflow.models import ModelSignature
        from mlflow.types.schema import ColSpec, Schema
        from sklearn.linear_model import LinearRegression

        train = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 4.0], "b": [1.0, 0.0, 3.0, 2.0, 5.0]})
        target = 2.0 * train["a"] + 3.0 * train["b"] + 1.0
        regression = LinearRegression().fit(train, target)
        signature = ModelSignature(
            inputs=Schema([ColSpec("double", "a"), ColSpec("double", "b")]),
            outputs=Schema([ColSpec("double", "y")]),
        )
        model_dir = self.base / "linear"
        mlflow.sklearn.save_model(
            regression,
            str(model_dir),
            signature=signature,
            serialization_format="cloudpickle",
            pip_requirements=["scikit-learn"],
        )

        rows = [[0.5, 1.25], [10, -3], [7.125, 2.5]]
        sidecar = SidecarProcess(self.base)
        self.addCleanup(sidecar.stop)
        client = sidecar.client()
        self.addCleanup(client.close)
        header, payload = client.call(predict_header(1, model_dir, ["b", "a"], 3), f32_bytes([[b, a] for a, b in rows]))
        self.assertTrue(header["ok"], header)

        frame = pd.DataFrame(np.asarray(rows, dtype=np.float32).astype(np.float64), columns=["a", "b"])
        expected = regression.predict(frame).astype(np.float32).reshape(3, 1)
        self.assertEqual(decode_output(header, payload).tobytes(), expected.tobytes())

    def test_same_loader_name_different_code(self):
        source = "def _load_pyfunc(path):\n    return M()\n\nclass M:\n    def predict(self, df, params=None):\n        return [{value}] * len(df)\n"
        first = save_loader_model(self.base / "first", "same_name", source.format(value=1.5), "x", [("a", "double")], [("y", "float")])
        second = save_loader_model(self.base / "second", "same_name", source.format(value=2.5), "x", [("a", "double")], [("y", "float")])
        sidecar = SidecarProcess(self.base)
        self.addCleanup(sidecar.stop)
        client = sidecar.client()
        self.addCleanup(client.close)
        for request_id, (model_dir, expected) in enumerate([(first, 1.5), (second, 2.5), (first, 1.5)], start=1):
            header, payload = client.call(predict_header(request_id, model_dir, ["a"], 1), f32_bytes([0]))
            self.assertTrue(header["ok"], header)
            self.assertEqual(np.frombuffer(payload, "<f4").tolist(), [expected])


class CacheTests(unittest.TestCase):
    def test_counters_with_one_entry(self):
        tempdir = private_tempdir(self)
        sidecar = SidecarProcess(tempdir.name, cache_entries=1)
        self.addCleanup(sidecar.stop)
        client = sidecar.client()
        self.addCleanup(client.close)

        def cache():
            header, _ = client.call({"op": "ping", "id": 99})
            return header["cache"]

        self.assertEqual(cache(), {"entries": 0, "capacity": 1, "loads": 0, "hits": 0, "evictions": 0})
        first, _ = client.call({"op": "load", "id": 1, "model_path": str(FIXTURES / "churn")})
        self.assertIs(first["cached"], False)
        self.assertEqual(cache(), {"entries": 1, "capacity": 1, "loads": 1, "hits": 0, "evictions": 0})
        again, _ = client.call({"op": "load", "id": 2, "model_path": str(FIXTURES / "churn")})
        self.assertIs(again["cached"], True)
        self.assertEqual(cache(), {"entries": 1, "capacity": 1, "loads": 1, "hits": 1, "evictions": 0})
        header, _ = client.call(predict_header(3, FIXTURES / "churn", ["tenure", "spend"], 1), f32_bytes([1, 2]))
        self.assertTrue(header["ok"], header)
        self.assertEqual(cache()["hits"], 2)
        other, _ = client.call({"op": "load", "id": 4, "model_path": str(FIXTURES / "churn_linear")})
        self.assertIs(other["cached"], False)
        self.assertEqual(cache(), {"entries": 1, "capacity": 1, "loads": 2, "hits": 2, "evictions": 1})
        back, _ = client.call({"op": "load", "id": 5, "model_path": str(FIXTURES / "churn")})
        self.assertIs(back["cached"], False)
        self.assertEqual(cache(), {"entries": 1, "capacity": 1, "loads": 3, "hits": 2, "evictions": 2})


# ---------------------------------------------------------------------------
# Process lifecycle


def process_running(pid):
    """Whether pid is a running process; a zombie counts as exited."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return not stat.rsplit(")", 1)[-1].strip().startswith("Z")


class LifecycleTests(unittest.TestCase):
    def setUp(self):
        self.tempdir = private_tempdir(self)
        self.base = Path(self.tempdir.name)
        self.socket_path = self.base / "sidecar.sock"

    def run_sidecar(self, *arguments, env=None):
        """Run a sidecar that is expected to exit on its own; return (status, stderr)."""
        completed = subprocess.run(
            [sys.executable, str(SIDECAR), *arguments],
            capture_output=True,
            timeout=START_TIMEOUT_SECONDS,
            env=env,
        )
        return completed.returncode, completed.stdout, completed.stderr.decode(errors="replace")

    def test_usage_errors_exit_2(self):
        cases = [
            [],
            ["--socket", "relative.sock"],
            ["--socket", str(self.socket_path), "--cache-entries", "0"],
            ["--socket", str(self.socket_path), "--cache-entries", "65537"],
            ["--socket", str(self.socket_path), "--cache-entries", "many"],
        ]
        for arguments in cases:
            with self.subTest(arguments=arguments):
                status, stdout, _ = self.run_sidecar(*arguments)
                self.assertEqual(status, 2)
                self.assertEqual(stdout, b"")
                self.assertFalse(self.socket_path.exists())

    def test_too_long_path_exits_3(self):
        long_path = self.base / ("s" * 120)
        status, stdout, stderr = self.run_sidecar("--socket", str(long_path))
        self.assertEqual(status, 3, stderr)
        self.assertEqual(stdout, b"")
        self.assertIn("the limit is 107 bytes", stderr)

    def test_regular_file_left_untouched(self):
        self.socket_path.write_bytes(b"keep me")
        status, stdout, stderr = self.run_sidecar("--socket", str(self.socket_path))
        self.assertEqual(status, 3, stderr)
        self.assertEqual(stdout, b"")
        self.assertEqual(self.socket_path.read_bytes(), b"keep me")
        self.assertIn("is not a socket", stderr)

    def test_live_socket_exits_3(self):
        live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(live.close)
        live.bind(str(self.socket_path))
        live.listen(4)
        status, stdout, stderr = self.run_sidecar("--socket", str(self.socket_path))
        self.assertEqual(status, 3, stderr)
        self.assertEqual(stdout, b"")
        self.assertTrue(self.socket_path.is_socket())
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(probe.close)
        probe.connect(str(self.socket_path))
        live.close()
        self.socket_path.unlink()

    def test_stale_socket_replaced(self):
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(str(self.socket_path))
        stale.close()
        self.assertTrue(self.socket_path.is_socket())
        sidecar = SidecarProcess(self.base)
        self.addCleanup(sidecar.stop)
        client = sidecar.client()
        self.addCleanup(client.close)
        header, _ = client.call({"op": "ping", "id": 1})
        self.assertTrue(header["ok"])

    def test_sigterm_removes_socket(self):
        sidecar = SidecarProcess(self.base)
        self.addCleanup(sidecar.stop)
        self.assertTrue(self.socket_path.is_socket())
        sidecar.process.send_signal(signal.SIGTERM)
        self.assertEqual(sidecar.wait(), 0)
        self.assertFalse(self.socket_path.exists())

    def test_orphaned_sidecar_stops(self):
        # The shell starts the sidecar in the background and exits soon
        # after, as a crashed client would.
        started = subprocess.run(
            ["sh", "-c", '"$0" "$1" --socket "$2" >/dev/null 2>&1 & echo $!; sleep 1',
             sys.executable, str(SIDECAR), str(self.socket_path)],
            capture_output=True,
            timeout=START_TIMEOUT_SECONDS,
        )
        pid = int(started.stdout)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while process_running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(process_running(pid), f"sidecar {pid} still runs after its parent exited")
        self.assertFalse(self.socket_path.exists())

    def test_sigint_during_hang_exits_0(self):
        sidecar = SidecarProcess(self.base)
        self.addCleanup(sidecar.stop)
        client = sidecar.client(timeout=2)
        self.addCleanup(client.close)
        client.send(predict_header(1, FIXTURES / "faults" / "hang", ["tenure", "spend"], 1), f32_bytes([1, 2]))
        with self.assertRaises(socket.timeout):
            client.read()
        sidecar.process.send_signal(signal.SIGINT)
        self.assertEqual(sidecar.wait(), 0)
        self.assertFalse(self.socket_path.exists())

    def test_shutdown_op(self):
        sidecar = SidecarProcess(self.base)
        self.addCleanup(sidecar.stop)
        client = sidecar.client()
        self.addCleanup(client.close)
        self.client_call_ok(client, {"op": "shutdown", "id": 9}, {"id": 9, "ok": True})
        self.assertIsNone(client.read())
        self.assertEqual(sidecar.wait(), 0)
        self.assertFalse(self.socket_path.exists())

    def client_call_ok(self, client, request, expected):
        header, payload = client.call(request)
        self.assertEqual(header, expected)
        self.assertEqual(payload, b"")

    def test_crash_fault_exits_70(self):
        sidecar = SidecarProcess(self.base)
        self.addCleanup(sidecar.stop)
        client = sidecar.client()
        self.addCleanup(client.close)
        model = FIXTURES / "faults" / "crash2"
        header, _ = client.call(predict_header(1, model, ["tenure", "spend"], 1), f32_bytes([1, 2]))
        self.assertTrue(header["ok"], header)
        client.send(predict_header(2, model, ["tenure", "spend"], 1), f32_bytes([1, 2]))
        self.assertIsNone(client.read())
        self.assertEqual(sidecar.wait(), 70)
        # A process that exits this way leaves its socket file; stop() removes it.

    def test_import_failure_exits_4(self):
        fake = self.base / "fake-packages" / "mlflow"
        fake.mkdir(parents=True)
        (fake / "__init__.py").write_text("raise ImportError('mlflow is broken on purpose')\n")
        env = dict(os.environ, PYTHONPATH=str(fake.parent))
        status, stdout, stderr = self.run_sidecar("--socket", str(self.socket_path), env=env)
        self.assertEqual(status, 4, stderr)
        self.assertEqual(stdout, b"")
        self.assertIn("mlflow is broken on purpose", stderr)
        self.assertFalse(self.socket_path.exists())


if __name__ == "__main__":
    unittest.main()
