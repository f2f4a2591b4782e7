#!/usr/bin/env python3
"""Two models on FER2013's own labels, paired on the same faces: better, or noise?

The FER2013 counterpart of benches/paired_test.py. Reads FER2013's original labels
(`fer2013_original_labels.csv`) for the PrivateTest images in the FERPlus test folder (the
3,573 faces `scn eval --format fer2013 --split test` reads; `PublicTest` for validation), runs
both models in onnxruntime, takes each model's answer among FER2013's seven emotions, counts
the faces only one of them gets right and gives McNemar's exact two-sided p-value.

A model is an scn export (its classes and input from its metadata: a FERPlus model answers
with the best of its seven FER2013 classes, contempt left out) or the `fer` package's
mini-Xception from ../shared/peers (no metadata: 64x64 grey NHWC, x / 127.5 - 1, FER2013's
order), as its README describes. Faces are resized bilinearly by Pillow, which can move a
handful of faces against `scn eval`'s own resize when upscaling 48 px to 150.

    target/python/bin/python benches/fer2013_paired_test.py A.onnx B.onnx ../shared/datasets/ferplus [PrivateTest|PublicTest]

Needs onnx, onnxruntime, numpy and pillow (`bash .ci/setup` puts them in target/python).
"""
import csv
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

from paired_test import mcnemar_exact, probabilities

# FER2013's label order, in scn's class names.
FER2013 = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]
SYNONYMS = {"angry": "anger", "happy": "happiness", "sad": "sadness"}
FOLDERS = {"PrivateTest": "FER2013Test", "PublicTest": "FER2013Valid", "Training": "FER2013Train"}


def fer2013_faces(root: Path, usage: str):
    """(folder, names, FER2013 labels) of the usage's labelled images, in file order."""
    folder = root / FOLDERS[usage]
    names, labels = [], []
    with open(root / "fer2013_original_labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            emotion = int(row["fer2013_emotion"])
            name = row["ferplus_image_name"].strip()
            if row["Usage"].strip() == usage and emotion >= 0 and (folder / name).is_file():
                names.append(name)
                labels.append(emotion)
    return folder, names, np.array(labels)


def peer_probabilities(model: Path, folder: Path, names) -> np.ndarray:
    """The `fer` mini-Xception's outputs in FER2013's order: 64x64 grey, NHWC, x / 127.5 - 1."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    shape = session.get_inputs()[0].shape
    if list(shape[1:]) != [64, 64, 1]:
        sys.exit(f"{model}: no scn metadata and input {shape}, not the fer peer's [N, 64, 64, 1]")
    name = session.get_inputs()[0].name
    out = []
    for n in names:
        x = np.asarray(Image.open(folder / n).convert("L").resize((64, 64), Image.BILINEAR), dtype=np.float32)
        out.append(session.run(None, {name: (x / 127.5 - 1.0)[None, :, :, None]})[0])
    return np.concatenate(out)


def fer2013_probabilities(model: Path, folder: Path, names, flip: bool = False) -> np.ndarray:
    """Each face's probabilities over FER2013's seven emotions (0 angry ... 6 neutral): an scn
    export's columns picked by class name (a FERPlus model's contempt left out), or the peer's.
    With `flip` (scn exports only), from the mean of the face's and its mirror image's logits."""
    meta = {p.key: p.value for p in onnx.load(str(model), load_external_data=False).metadata_props}
    if "scn.classes" not in meta:
        if flip:
            sys.exit(f"{model}: --flip is for scn exports, not the peer")
        return peer_probabilities(model, folder, names)
    return probabilities(model, folder, names, flip)[:, fer2013_columns(model, meta)]


def fer2013_columns(model: Path, meta: dict) -> list:
    """The columns of an scn export's outputs that hold FER2013's seven emotions, in FER2013's
    order, found by class name in its `scn.classes` metadata."""
    classes = [SYNONYMS.get(c, c) for c in json.loads(meta["scn.classes"])]
    missing = [c for c in FER2013 if c not in classes]
    if missing:
        sys.exit(f"{model}: no class {', '.join(missing)} among {classes}")
    return [classes.index(c) for c in FER2013]


def answers(model: Path, folder: Path, names) -> np.ndarray:
    """Each face's answer as a FER2013 label (0 angry ... 6 neutral)."""
    return fer2013_probabilities(model, folder, names).argmax(1)


def main(a: Path, b: Path, root: Path, usage: str = "PrivateTest") -> None:
    if usage not in FOLDERS:
        sys.exit(f"usage must be one of {', '.join(FOLDERS)}, got {usage}")
    folder, names, truth = fer2013_faces(root, usage)
    ra, rb = answers(a, folder, names) == truth, answers(b, folder, names) == truth
    only_a, only_b = int((ra & ~rb).sum()), int((~ra & rb).sum())
    print(f"FER2013 {usage}: {len(truth)} faces")
    for tag, model, right in (("A", a, ra), ("B", b, rb)):
        per_class = [right[truth == c].mean() for c in range(7) if (truth == c).any()]
        print(f"{tag} {model}: {100 * right.mean():.2f}% (mean class {100 * np.mean(per_class):.2f}%)")
    print(f"both right {int((ra & rb).sum())}, both wrong {int((~ra & ~rb).sum())}, only A {only_a}, only B {only_b}")
    p = mcnemar_exact(only_a, only_b)
    p_text = f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"
    print(f"A - B: {100 * (ra.mean() - rb.mean()):+.2f} points; McNemar exact p = {p_text}")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), *sys.argv[4:])
