#!/usr/bin/env python3
"""Are two FERPlus models different, or is it noise? A paired comparison on the same test faces.

Classifies FERPlus test (the majority protocol of `scn eval`: outlier votes of one dropped, a
class with more than half of the remaining votes, unknown / not-a-face left out) with both
models in onnxruntime, counts the faces that only one of them gets right, and gives McNemar's
exact two-sided p-value. Much tighter than comparing two accuracies with their separate
standard errors, since both models see the same faces. Both models must be scn exports (each
face is prepared as their metadata says: size, grey or RGB, mean and std; resized bilinearly
by Pillow, which matches scn exactly at 48 px and within a few faces when upscaling: the 112 px
dlib-backbone model scores 83.74% here, 83.68% in `scn eval`).

    target/python/bin/python benches/paired_test.py A.onnx B.onnx ../shared/datasets/ferplus [split]
"""
import csv
import json
import sys
from math import comb
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image


def majority_labels(label_csv: Path):
    """(file name, class) of each image the majority protocol keeps, in file order."""
    kept = []
    with open(label_csv, newline="") as f:
        for row in csv.reader(f):
            votes = np.array([int(v) for v in row[2:12]])
            votes[votes <= 1] = 0
            top = int(votes.argmax())
            if votes[top] > 0.5 * votes.sum() and top < 8:
                kept.append((row[0], top))
    return kept


def probabilities(model: Path, folder: Path, names, flip: bool = False) -> np.ndarray:
    """Softmax of the model's logits for each named image of `folder`, one row per image; with
    `flip`, of the mean of the face's and its mirror image's logits (as `scn eval --flip`)."""
    meta = {p.key: p.value for p in onnx.load(str(model), load_external_data=False).metadata_props}
    if "scn.input" not in meta:
        sys.exit(f"{model}: no scn.input metadata (not an scn export)")
    inp = json.loads(meta["scn.input"])
    size, mode = inp["size"], {1: "L", 3: "RGB"}[inp["channels"]]
    mean = np.array(inp["mean"], dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.array(inp["std"], dtype=np.float32).reshape(1, -1, 1, 1)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    out = []
    for i in range(0, len(names), 256):
        batch = np.stack(
            [
                np.asarray(Image.open(folder / n).convert(mode).resize((size, size), Image.BILINEAR), dtype=np.float32)
                for n in names[i : i + 256]
            ]
        )
        batch = batch[:, None] if batch.ndim == 3 else batch.transpose(0, 3, 1, 2)
        x = ((batch / 255.0 - mean) / std).astype(np.float32)
        z = session.run(["logits"], {"image": x})[0]
        if flip:
            z = 0.5 * (z + session.run(["logits"], {"image": np.ascontiguousarray(x[..., ::-1])})[0])
        out.append(z)
    z = np.concatenate(out)
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def predictions(model: Path, folder: Path, names) -> np.ndarray:
    return probabilities(model, folder, names).argmax(1)


def mcnemar_exact(b: int, c: int) -> float:
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(comb(n, k) for k in range(0, min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def main(a: Path, b: Path, root: Path, split: str = "FER2013Test") -> None:
    folder = root / split
    kept = majority_labels(folder / "label.csv")
    names = [n for n, _ in kept]
    truth = np.array([c for _, c in kept])
    pa, pb = predictions(a, folder, names), predictions(b, folder, names)
    ra, rb = pa == truth, pb == truth
    only_a, only_b = int((ra & ~rb).sum()), int((~ra & rb).sum())
    print(f"{split}: {len(truth)} faces (majority protocol)")
    print(f"A {a}: {100 * ra.mean():.2f}%")
    print(f"B {b}: {100 * rb.mean():.2f}%")
    print(f"both right {int((ra & rb).sum())}, both wrong {int((~ra & ~rb).sum())}, only A {only_a}, only B {only_b}")
    print(f"A - B: {100 * (ra.mean() - rb.mean()):+.2f} points; McNemar exact p = {mcnemar_exact(only_a, only_b):.3f}")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), *sys.argv[4:])
