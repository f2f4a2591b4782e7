#!/usr/bin/env python3
"""Averages the weights of exported models of the same network (a "model soup").

Every float initializer that all the models have with the same name and shape is replaced by
its mean; the rest (the first model's own heads, shapes and paddings) is the first model's.
The result keeps the first model's graph and metadata, so `scn eval -m OUT` reads it.

    target/python/bin/python benches/weight_average.py FIRST.onnx OTHER.onnx [...] OUT.onnx

Averaging pays only for models that stay in one basin of the loss (fine-tuned from the same
weights with small steps); RESULTS.md ("Averaging weights") has what it gave here.
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def main(first: str, others: list, out: str) -> None:
    model = onnx.load(first)
    tables = [{i.name: numpy_helper.to_array(i) for i in onnx.load(o).graph.initializer} for o in others]
    averaged, kept = 0, []
    for init in model.graph.initializer:
        value = numpy_helper.to_array(init)
        peers = [t[init.name] for t in tables if init.name in t and t[init.name].shape == value.shape]
        if value.dtype.kind == "f" and len(peers) == len(tables):
            mean = np.mean([value, *peers], axis=0).astype(value.dtype)
            init.CopyFrom(numpy_helper.from_array(mean, init.name))
            averaged += 1
        else:
            kept.append(init.name)
    print(f"averaged {averaged} tensors over {1 + len(tables)} models; kept the first model's: {', '.join(kept)}")
    onnx.save(model, out)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:-1], sys.argv[-1])
