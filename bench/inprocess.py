#!/usr/bin/env python3
"""In-process baseline of `harness bench`: MLflow predict in one Python process.

Loads the model with mlflow.pyfunc.load_model and, for each batch size,
times calls of: view the FP32 input bytes as an array, build a DataFrame,
model.predict(frame), convert the result to FP32. That is what a caller that
embeds MLflow does, on one core. The inputs follow the same formula as the
Rust bench (harness/src/bench/inputs.rs), so every path predicts the same values.

Prints JSON lines on standard output: first {"import_seconds", "load_seconds"},
then one {"rows", "seconds": [...], "output_sum"} per size.

Usage: python bench/inprocess.py --model DIR --sizes 1,64 --max-samples N --seconds S
"""

import argparse
import json
import sys
import time


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description="Time in-process MLflow predict.")
    parser.add_argument("--model", required=True, help="MLflow model directory")
    parser.add_argument("--sizes", required=True, help="comma-separated batch sizes in rows")
    parser.add_argument("--max-samples", type=int, default=200, help="calls per size at most")
    parser.add_argument("--min-samples", type=int, default=3, help="calls per size at least")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per size after min-samples")
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(size) for size in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes {args.sizes!r} is not a comma-separated list of integers")
    if any(size < 1 for size in args.sizes):
        parser.error("every size in --sizes must be at least 1")
    return args


def input_bytes(np, rows, width):
    """Return the benchmark inputs as little-endian FP32 bytes, row-major."""
    index = np.arange(rows * width, dtype=np.int64)
    values = ((index * 37) % 1000).astype(np.float32) / np.float32(250.0) - np.float32(2.0)
    return values.astype("<f4").tobytes()


def main(argv=None):
    args = parse_arguments(argv)
    started = time.perf_counter()
    import numpy as np
    import pandas as pd
    import mlflow.pyfunc

    imported = time.perf_counter()
    model = mlflow.pyfunc.load_model(args.model, suppress_warnings=True)
    loaded = time.perf_counter()
    names = model.metadata.get_input_schema().input_names()
    print(json.dumps({"import_seconds": imported - started, "load_seconds": loaded - imported}), flush=True)

    for rows in args.sizes:
        payload = input_bytes(np, rows, len(names))

        def call():
            values = np.frombuffer(payload, dtype="<f4").reshape(rows, len(names))
            frame = pd.DataFrame(values, columns=names)
            result = model.predict(frame)
            if isinstance(result, pd.DataFrame):
                return result.to_numpy(dtype=np.float32)
            return np.asarray(result, dtype=np.float32)

        output = call()
        samples = []
        begin = time.perf_counter()
        while len(samples) < args.max_samples and (
            len(samples) < args.min_samples or time.perf_counter() - begin < args.seconds
        ):
            start = time.perf_counter()
            call()
            samples.append(time.perf_counter() - start)
        record = {"rows": rows, "seconds": samples, "output_sum": float(np.sum(output, dtype=np.float64))}
        print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
