"""Checks an ONNX file written by `scn export` with the reference tools and runs it in onnxruntime.

usage: python3 onnx_check.py MODEL.onnx INPUT.f32 N C H W
Prints one JSON object: input/output names, metadata keys, logits and alpha for the input.
Exit status 3 when onnx or onnxruntime is not installed (the caller decides whether to skip).
"""
import json
import sys

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
except ImportError as e:  # pragma: no cover
    print(f"missing python module: {e}", file=sys.stderr)
    sys.exit(3)


def main():
    path, raw = sys.argv[1], sys.argv[2]
    shape = [int(v) for v in sys.argv[3:7]]
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    x = np.fromfile(raw, dtype="<f4").reshape(shape)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    outputs = session.run(None, {session.get_inputs()[0].name: x})
    result = {
        "inputs": [i.name for i in session.get_inputs()],
        "input_shape": [d if isinstance(d, int) else str(d) for d in session.get_inputs()[0].shape],
        "outputs": names,
        "metadata": sorted(session.get_modelmeta().custom_metadata_map.keys()),
        "producer": session.get_modelmeta().producer_name,
    }
    for name, value in zip(names, outputs):
        result[name] = value.reshape(-1).tolist()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
