"""The onnxruntime side of `cargo bench --bench inference`: times one model at one batch size and
thread count, with the same input the Rust side uses, and prints milliseconds per batch as JSON.

usage: python3 ort_peer.py MODEL.onnx BATCH THREADS SECONDS
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort


def main():
    path, batch, threads, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    info = session.get_inputs()[0]
    shape = [batch] + [d if isinstance(d, int) else 1 for d in info.shape[1:]]
    # The same deterministic input as the Rust side: value i is (i % 255) / 127.5 - 1.
    x = ((np.arange(np.prod(shape)) % 255) / 127.5 - 1.0).astype(np.float32).reshape(shape)
    feed = {info.name: x}
    for _ in range(3):
        session.run(None, feed)
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or runs < 5:
        session.run(None, feed)
        runs += 1
    ms = (time.perf_counter() - start) * 1000.0 / runs
    print(json.dumps({"ms_per_batch": ms, "runs": runs, "version": ort.__version__}))


if __name__ == "__main__":
    main()
