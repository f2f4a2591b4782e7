#!/usr/bin/env python3
"""How good would an ensemble of these models be? The teacher to give `scn train --distill`.

Classifies a FERPlus split (majority protocol, as `scn eval` and benches/paired_test.py) with
each model in onnxruntime and prints each model's accuracy and mean class accuracy, then those
of the mean of their probabilities (what `--distill A --distill B ...` trains towards at
temperature 1), for every subset of two or more models. Pick the teacher on the Valid split;
test is for the record.

    target/python/bin/python benches/ensemble_test.py [--flip] ../shared/datasets/ferplus SPLIT A.onnx B.onnx [...]

SPLIT is FER2013Valid or FER2013Test (FERPlus's labels), or PublicTest or PrivateTest for
FER2013's own labels over the same faces (as benches/fer2013_paired_test.py: each model's
probabilities of FER2013's seven emotions; the `fer` peer from ../shared/peers may be a member).

With --flip each model's probabilities are those of the mean of the face's and its mirror
image's logits (as `scn eval --flip`), so the rows say what mirroring adds to each model and
each ensemble.
"""
import itertools
import sys
from pathlib import Path

import numpy as np

from fer2013_paired_test import FOLDERS, fer2013_faces, fer2013_probabilities
from paired_test import majority_labels, probabilities


def scores(p: np.ndarray, truth: np.ndarray) -> str:
    right = p.argmax(1) == truth
    per_class = [right[truth == c].mean() for c in np.unique(truth)]
    return f"{100 * right.mean():.2f}% (mean class {100 * np.mean(per_class):.2f}%)"


def main(root: Path, split: str, models, flip: bool = False) -> None:
    if split in FOLDERS:
        folder, names, truth = fer2013_faces(root, split)
        print(f"FER2013 {split}: {len(truth)} faces (FER2013's labels)")
        classify = fer2013_probabilities
    else:
        folder = root / split
        kept = majority_labels(folder / "label.csv")
        names = [n for n, _ in kept]
        truth = np.array([c for _, c in kept])
        print(f"{split}: {len(truth)} faces (majority protocol)")
        classify = probabilities
    probs = {}
    for m in models:
        probs[m] = classify(m, folder, names, flip)
        print(f"{m}: {scores(probs[m], truth)}")
    for r in range(2, len(models) + 1):
        for subset in itertools.combinations(models, r):
            mean = sum(probs[m] for m in subset) / r
            print(f"{' + '.join(str(m) for m in subset)}: {scores(mean, truth)}")


if __name__ == "__main__":
    args = sys.argv[1:]
    flip = "--flip" in args
    args = [a for a in args if a != "--flip"]
    if len(args) < 4:
        sys.exit(__doc__)
    main(Path(args[0]), args[1], [Path(a) for a in args[2:]], flip)
