"""Measure what mlflow.pyfunc.load_model costs with and without suppress_warnings.

Each sample runs in a new interpreter, so it is a first load after
`import mlflow.pyfunc`, as in a new sidecar. The models are the churn fixture
(no requirements.txt) and a scikit-learn LinearRegression saved by
mlflow.sklearn.save_model (with the requirements.txt MLflow writes).

Usage: python sidecar/measure_load.py [--runs N]
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SAMPLE = """
import json, sys, time
started = time.perf_counter()
import mlflow.pyfunc
imported = time.perf_counter()
mlflow.pyfunc.load_model(sys.argv[1], suppress_warnings=sys.argv[2] == "true")
loaded = time.perf_counter()
mlflow.pyfunc.load_model(sys.argv[1], suppress_warnings=sys.argv[2] == "true")
again = time.perf_counter()
print(json.dumps({"import": imported - started, "first": loaded - imported, "second": again - loaded}))
"""


def save_sklearn_model(directory):
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema
    from sklearn.linear_model import LinearRegression

    train = pd.DataFrame({"a": [0.0, 1.0, 2.0], "b": [1.0, 0.0, 3.0]})
    regression = LinearRegression().fit(train, [1.0, 2.0, 3.0])
    signature = ModelSignature(
        inputs=Schema([ColSpec("double", "a"), ColSpec("double", "b")]),
        outputs=Schema([ColSpec("double", "y")]),
    )
    path = Path(directory) / "linear"
    mlflow.sklearn.save_model(regression, str(path), signature=signature, serialization_format="cloudpickle")
    return path


def sample(model_path, suppress):
    output = subprocess.run(
        [sys.executable, "-c", SAMPLE, str(model_path), "true" if suppress else "false"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="samples per model and setting (default 5)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        models = {"churn fixture": REPO / "fixtures" / "mlflow" / "churn", "sklearn": save_sklearn_model(directory)}
        print("| model | suppress_warnings | import mlflow.pyfunc (s) | first load_model (s) | second load_model (s) |")
        print("| --- | --- | --- | --- | --- |")
        for name, path in models.items():
            for suppress in (False, True):
                samples = [sample(path, suppress) for _ in range(args.runs)]
                medians = [statistics.median(s[key] for s in samples) for key in ("import", "first", "second")]
                print(f"| {name} | {suppress} | {medians[0]:.3f} | {medians[1]:.4f} | {medians[2]:.4f} |")


if __name__ == "__main__":
    main()
