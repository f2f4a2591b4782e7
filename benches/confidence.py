#!/usr/bin/env python3
"""How sure are FERPlus models of their answers, and how well does that match how often they are right?

For each model, on FERPlus test (the majority protocol of `scn eval` and benches/paired_test.py,
faces prepared as the model's metadata says): accuracy, the mean probability of the answer
(on the faces answered right and wrong), the mean negative log-likelihood of the true class,
and the expected calibration error (15 equal-width confidence bins: the gap between confidence
and accuracy, weighted by the bin's share of the faces). An SCN export's logits are already
`alpha * fc(x)`, so its probabilities are the ones the weighted loss trained.

    target/python/bin/python benches/confidence.py A.onnx [B.onnx ...] --data ../shared/datasets/ferplus [--split FER2013Test]
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired_test import majority_labels, probabilities  # noqa: E402


def expected_calibration_error(confidence: np.ndarray, right: np.ndarray, bins: int = 15) -> float:
    """Sum over equal-width confidence bins of |accuracy - mean confidence|, weighted by the bin's size."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.digitize(confidence, edges[1:-1])  # 0 .. bins - 1 for confidences in [0, 1]
    error = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            error += inside.mean() * abs(right[inside].mean() - confidence[inside].mean())
    return float(error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--data", type=Path, required=True, help="the FERPlus root (FER2013Test/label.csv and images)")
    parser.add_argument("--split", default="FER2013Test")
    args = parser.parse_args()
    folder = args.data / args.split
    kept = majority_labels(folder / "label.csv")
    names = [n for n, _ in kept]
    truth = np.array([c for _, c in kept])
    print(f"{args.split}: {len(kept)} faces (majority protocol)")
    print("model  accuracy  confidence (right / wrong)  NLL  ECE")
    for model in args.models:
        p = probabilities(model, folder, names)
        answer = p.argmax(1)
        right = answer == truth
        confidence = p.max(1)
        nll = -np.log(np.clip(p[np.arange(len(truth)), truth], 1e-12, None)).mean()
        ece = expected_calibration_error(confidence, right)
        print(
            f"{model}  {100 * right.mean():.2f}%  {confidence.mean():.3f} "
            f"({confidence[right].mean():.3f} / {confidence[~right].mean():.3f})  {nll:.3f}  {100 * ece:.2f}%"
        )


if __name__ == "__main__":
    main()
