"""Tests of the sidecar's shortcut past MLflow's schema enforcement.

The sidecar calls a column-based model's own predict with a frame it built
in signature order and signature dtypes. These tests check that the model
sees the same frame as through PyFuncModel.predict, and that models for
which enforcement could change the input take the full path. Run from the
repository root:

    .venv/bin/python -m unittest discover -s sidecar/tests -v
"""

import sys
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "sidecar"))

import mlflow_sidecar  # noqa: E402

problem = mlflow_sidecar.import_runtime()
if problem is not None:
    raise RuntimeError(problem)

import mlflow.pyfunc  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow.models import ModelSignature  # noqa: E402
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema  # noqa: E402


class RecordingModel(mlflow.pyfunc.PythonModel):
    """Returns its input's first column and stores each frame it receives."""

    seen = []

    def predict(self, context, model_input, params=None):
        RecordingModel.seen.append(model_input.copy())
        return model_input.iloc[:, 0].to_numpy(dtype=np.float64)


def save_recording_model(directory, params=False):
    inputs = Schema([ColSpec("long", "count"), ColSpec("double", "amount"), ColSpec("float", "ratio")])
    outputs = Schema([ColSpec("double", "out")])
    param_schema = ParamSchema([ParamSpec("scale", "double", 1.0)]) if params else None
    signature = ModelSignature(inputs=inputs, outputs=outputs, params=param_schema)
    mlflow.pyfunc.save_model(directory, python_model=RecordingModel(), signature=signature)


def load(path):
    return mlflow_sidecar.load_model(str(path), request_id=1)


class DirectPredictTests(unittest.TestCase):
    def test_fixture_takes_direct_path_with_same_result(self):
        model = load(REPO / "fixtures" / "mlflow" / "wide8")
        self.assertIsNotNone(model.direct_predict)
        names = [f"f{i}" for i in range(8, 0, -1)]
        values = np.arange(24, dtype=np.float32).reshape(3, 8) / np.float32(7.0)
        frame = mlflow_sidecar.build_model_input(model, names, values)
        self.assertEqual(list(frame.columns), [f"f{i}" for i in range(1, 9)])
        direct = model.predict(frame)
        full = model.model.predict(frame)
        np.testing.assert_array_equal(direct.to_numpy(), full.to_numpy())
        # Column f8 came first in the request, so it is the last one now.
        np.testing.assert_array_equal(frame["f8"].to_numpy(), values[:, 0])

    def test_model_sees_the_enforced_frame(self):
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "recording"
            save_recording_model(str(path))
            model = load(path)
            self.assertIsNotNone(model.direct_predict)

            names = ["ratio", "amount", "count"]
            values = np.array([[0.5, 2.25, 3.0], [1.5, -1.0, 7.0]], dtype=np.float32)
            frame = mlflow_sidecar.build_model_input(model, names, values)
            RecordingModel.seen.clear()
            model.predict(frame)
            model.model.predict(frame)
            direct_frame, enforced_frame = RecordingModel.seen
            pd.testing.assert_frame_equal(direct_frame, enforced_frame)
            self.assertEqual(list(direct_frame.dtypes.astype(str)), ["int64", "float64", "float32"])

    def test_params_schema_takes_full_path(self):
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "with_params"
            save_recording_model(str(path), params=True)
            model = load(path)
            self.assertIsNone(model.direct_predict)

    def test_tensor_model_takes_full_path(self):
        model = load(REPO / "fixtures" / "mlflow" / "tensor_churn")
        self.assertIsNone(model.direct_predict)


if __name__ == "__main__":
    unittest.main()
