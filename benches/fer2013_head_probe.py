#!/usr/bin/env python3
"""How far could a FERPlus model get on FER2013's own labels with a second, FER2013 head?

A model trained on FERPlus's labels answers FER2013's test with FERPlus's idea of each face,
and FER2013's labels disagree with FERPlus's annotators on a third of the faces
(benches/fer2013_label_ceiling.py: 63.59% for a perfect FERPlus model). This probe keeps the
model as it is and fits only a linear softmax classifier from its pooled features (the input of
its `fc`) to FER2013's labels on FER2013's training images, with the L2 weight chosen on
PublicTest (FER2013's validation split), and reports PrivateTest (the split `scn eval --format
fer2013 --split test` reads). It also prints the model's own answer (the argmax of its seven
FER2013 classes) and the same probe on its 8 logits instead of its features. Full-batch Adam,
600 steps, deterministic. About 4 minutes of features for the 150 px default on two cores,
then a few minutes of fitting.

    target/python/bin/python benches/fer2013_head_probe.py models/scn-ferplus.onnx ../shared/datasets/ferplus

Needs onnx, onnxruntime, numpy and pillow (`bash .ci/setup` puts them in target/python).
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

from fer2013_paired_test import fer2013_columns, fer2013_faces

SPLITS = ["Training", "PublicTest", "PrivateTest"]


def features(model: Path, root: Path):
    """Per split: pooled features, logits and FER2013 labels of every image with a FER2013 label,
    and the logit columns of FER2013's seven emotions (by class name)."""
    graph = onnx.load(str(model))
    pools = [n.output[0] for n in graph.graph.node if n.op_type == "GlobalAveragePool"]
    flat = [n.output[0] for n in graph.graph.node if n.op_type in ("Reshape", "Flatten") and n.input[0] in pools]
    if not flat:
        sys.exit(f"{model}: no pooled feature vector found (not an scn export?)")
    graph.graph.output.append(onnx.helper.make_tensor_value_info(flat[0], onnx.TensorProto.FLOAT, None))
    meta = {p.key: p.value for p in graph.metadata_props}
    if "scn.classes" not in meta or "scn.input" not in meta:
        sys.exit(f"{model}: no scn metadata (not an scn export?)")
    columns = fer2013_columns(model, meta)
    inp = json.loads(meta["scn.input"])
    size, mode = inp["size"], {1: "L", 3: "RGB"}[inp["channels"]]
    mean = np.array(inp["mean"], dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.array(inp["std"], dtype=np.float32).reshape(1, -1, 1, 1)
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    out = {}
    for usage in SPLITS:
        folder, names, labels = fer2013_faces(root, usage)
        feats, logits = [], []
        for i in range(0, len(names), 256):
            batch = np.stack(
                [
                    np.asarray(Image.open(folder / n).convert(mode).resize((size, size), Image.BILINEAR), dtype=np.float32)
                    for n in names[i : i + 256]
                ]
            )
            batch = batch[:, None] if batch.ndim == 3 else batch.transpose(0, 3, 1, 2)
            z, f = session.run(["logits", flat[0]], {"image": ((batch / 255.0 - mean) / std).astype(np.float32)})
            logits.append(z)
            feats.append(f.reshape(len(f), -1))
        out[usage] = (np.concatenate(feats), np.concatenate(logits), labels)
        print(f"{usage}: {len(names)} images", flush=True)
    return out, columns


def fit(x, y, l2, steps=600, lr=0.05):
    """A linear softmax classifier (standardised inputs), full-batch Adam; returns a predictor."""
    mu, sd = x.mean(0), x.std(0) + 1e-6
    x = (x - mu) / sd
    k = 7
    params = [np.zeros((x.shape[1], k)), np.zeros(k)]
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    onehot = np.eye(k)[y]
    for t in range(1, steps + 1):
        z = x @ params[0] + params[1]
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) / len(x)
        grads = [x.T @ g + l2 * params[0], g.sum(0)]
        for i, grad in enumerate(grads):
            m1[i] = 0.9 * m1[i] + 0.1 * grad
            m2[i] = 0.999 * m2[i] + 0.001 * grad * grad
            params[i] -= lr * (m1[i] / (1 - 0.9**t)) / (np.sqrt(m2[i] / (1 - 0.999**t)) + 1e-8)
    return lambda v: (((v - mu) / sd) @ params[0] + params[1]).argmax(1)


def score(pred, y):
    mean_class = np.mean([(pred[y == c] == c).mean() for c in range(7)])
    return f"{100 * (pred == y).mean():.2f}% (mean class {100 * mean_class:.2f}%)"


def main(model: Path, root: Path) -> None:
    data, columns = features(model, root)
    for usage in ("PublicTest", "PrivateTest"):
        _, z, y = data[usage]
        own = z[:, columns].argmax(1)
        print(f"the model's own answer, {usage}: {score(own, y)}")
    for name, column in (("logits", 1), ("features", 0)):
        train = data["Training"]
        best = None
        for l2 in (1e-4, 1e-3, 1e-2):
            predict = fit(train[column], train[2], l2)
            valid = data["PublicTest"]
            acc = (predict(valid[column]) == valid[2]).mean()
            print(f"linear head on the {name}, L2 {l2}: PublicTest {score(predict(valid[column]), valid[2])}")
            if best is None or acc > best[0]:
                best = (acc, l2, predict)
        test = data["PrivateTest"]
        print(f"linear head on the {name}, L2 {best[1]} (chosen on PublicTest): PrivateTest {score(best[2](test[column]), test[2])}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
