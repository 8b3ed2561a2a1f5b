"""Tests of the sidecar's frame reader and its reused payload buffer.

The reader runs over a real socket pair. Run from the repository root:

    .venv/bin/python -m unittest discover -s sidecar/tests -v
"""

import json
import socket
import sys
import unittest
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "sidecar"))

import mlflow_sidecar  # noqa: E402


def frame(request_id, values):
    """Encode a frame whose payload is `values` as little-endian FP32."""
    header = json.dumps({"op": "predict", "id": request_id}).encode()
    payload = np.asarray(values, dtype="<f4").tobytes()
    preamble = mlflow_sidecar.PREAMBLE.pack(
        mlflow_sidecar.MAGIC, mlflow_sidecar.PROTOCOL_VERSION, 0, len(header), len(payload)
    )
    return preamble + header + payload


class FrameReaderTests(unittest.TestCase):
    def setUp(self):
        self.client, server = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(self.client.close)
        self.addCleanup(server.close)
        self.reader = mlflow_sidecar.FrameReader(server)

    def read_values(self):
        header, payload = self.reader.read()
        return json.loads(header)["id"], payload

    def test_buffer_reused_when_released(self):
        self.client.sendall(frame(1, [1.0, 2.0, 3.0, 4.0]) + frame(2, [5.0, 6.0]))

        request_id, payload = self.read_values()
        self.assertEqual(request_id, 1)
        self.assertEqual(np.frombuffer(payload, dtype="<f4").tolist(), [1.0, 2.0, 3.0, 4.0])
        first_buffer = self.reader.buffer
        del payload

        request_id, payload = self.read_values()
        self.assertEqual(request_id, 2)
        self.assertEqual(np.frombuffer(payload, dtype="<f4").tolist(), [5.0, 6.0])
        self.assertIs(self.reader.buffer, first_buffer)

    def test_kept_view_not_overwritten(self):
        self.client.sendall(frame(1, [1.0, 2.0]) + frame(2, [7.0, 8.0]))

        _, payload = self.read_values()
        kept = np.frombuffer(payload, dtype="<f4")
        first_buffer = self.reader.buffer
        del payload

        _, payload = self.read_values()
        self.assertIsNot(self.reader.buffer, first_buffer)
        self.assertEqual(kept.tolist(), [1.0, 2.0])
        self.assertEqual(np.frombuffer(payload, dtype="<f4").tolist(), [7.0, 8.0])

    def test_larger_payload_gets_new_buffer(self):
        self.client.sendall(frame(1, [1.0]) + frame(2, list(range(100))))

        _, payload = self.read_values()
        del payload
        _, payload = self.read_values()
        self.assertEqual(np.frombuffer(payload, dtype="<f4").tolist(), [float(i) for i in range(100)])
        self.assertGreaterEqual(len(self.reader.buffer), 400)

    def test_empty_payload_and_clean_close(self):
        header = json.dumps({"op": "ping", "id": 3}).encode()
        preamble = mlflow_sidecar.PREAMBLE.pack(
            mlflow_sidecar.MAGIC, mlflow_sidecar.PROTOCOL_VERSION, 0, len(header), 0
        )
        self.client.sendall(preamble + header)
        self.client.shutdown(socket.SHUT_WR)

        header_bytes, payload = self.reader.read()
        self.assertEqual(json.loads(header_bytes)["id"], 3)
        self.assertEqual(len(payload), 0)
        with self.assertRaises(mlflow_sidecar.ConnectionClosed):
            self.reader.read()

    def test_truncated_payload_is_bad_frame(self):
        self.client.sendall(frame(1, [1.0, 2.0])[:-3])
        self.client.shutdown(socket.SHUT_WR)

        with self.assertRaises(mlflow_sidecar.FrameError) as caught:
            self.reader.read()
        self.assertEqual(caught.exception.code, "BAD_FRAME")


if __name__ == "__main__":
    unittest.main()
