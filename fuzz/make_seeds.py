"""Writes fuzz/seeds/<target>/: small valid inputs (and a few near misses) for every fuzz target,
made from the repository's own test shapes and public-domain photos (assets/faces), never from
a dataset's images. Run once with the Python of .ci/setup plus Pillow; the seeds are committed.

    target/python/bin/python3 fuzz/make_seeds.py TINY_MODEL.onnx TINY_RUN/checkpoints/epoch-0001/state.json

TINY_MODEL.onnx and the state: `scn train` and `scn export` of a tiny model (RELIABILITY.md says
how these were made).
"""
import io
import json
import os
import struct
import sys

import onnx
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")


def put(target, name, data):
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def encoded(img, fmt, **kw):
    out = io.BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


# Label files: every reader's normal rows and the shapes its tests reject.
put("rafdb_labels", "basic", "train_00001.jpg 5\ntest_0001.jpg 1\n")
put("rafdb_labels", "issues", "train_00001.jpg 9\ntrain_00002.jpg 3\nbroken\ntest_0001.jpg x\n\n")
votes = 'fer0000000.png,"(0, 0, 48, 48)",4,0,0,1,3,2,0,0,0,0\nfer0000001.png,"(0, 0, 48, 48)",0,10,0,0,0,0,0,0,0,0\n'
put("ferplus_labels", "basic", votes)
put("ferplus_labels", "issues", votes + 'fer0000002.png,"(0, 0, 48, 48)",1,2,x,0,0,0,0,0,0,0\nh.png,1,2\nfer0000000.png,"(0, 0, 48, 48)",0,0,0,0,0,0,0,0,5,5\n')
pixels = " ".join(str((i * 7) % 256) for i in range(48 * 48))
put("fer2013_csv", "basic", f"emotion,pixels,Usage\n3,{pixels},Training\n0,{pixels},PublicTest\n6,{pixels},PrivateTest\n")
put("fer2013_csv", "issues", f"emotion,pixels,Usage\n7,{pixels},Training\n2,1 2 3,Training\nx,{pixels},Training\n2,{pixels},Holdout\n")
put("fer2013_original_labels", "basic", "row,Usage,ferplus_image_name,fer2013_emotion,status\n0,Training,fer0000000.png,0,ok\n1,PublicTest,fer0000001.png,3,ok\n2,PrivateTest,fer0000000.png,6,ok\n")
put("fer2013_original_labels", "issues", "row,Usage,ferplus_image_name,fer2013_emotion,status\n0,Training,fer0000000.png,-1,ok\n1,Training,fer0000009.png,3,ok\n2,Other,fer0000001.png,2,ok\n3,Training,fer0000000.png\n")
put("folder_names", "splits", "train/happy/a.png\ntrain/sad/b.png\ntest/happy/c.png\ntest/sad/d.png\nval/sad/e.png\n")
put("folder_names", "flat", "happiness/a.png\nanger/b.png\nanger/notes.txt|hello\n.hidden/c.png\nneutral/d.jpg|not a jpeg\n")

# A model and its metadata.
model_path = sys.argv[1]
with open(model_path, "rb") as f:
    put("onnx_model", "tiny", f.read())
model = onnx.load(model_path)
props = "".join(f"{p.key}\t{p.value}\n" for p in model.metadata_props)
put("model_metadata", "tiny", props)
put("model_metadata", "classes-only", "scn.format_version\t1\nscn.classes\t[\"a\",\"b\"]\n")

# A checkpoint's run state, and the same with a newer format version.
with open(sys.argv[2], "rb") as f:
    state = f.read()
put("checkpoint_state", "tiny", state)
put("checkpoint_state", "future-format", state.replace(b'"format_version": 1', b'"format_version": 2'))

# Face templates.
put("face_template", "fer2013", json.dumps({"size": 48, "landmarks": [[14.9, 18.4], [32.8, 18.2], [23.7, 28.4], [16.6, 37.0], [31.2, 36.7]], "source": "FER2013"}))
put("face_template", "outside", json.dumps({"size": 10, "landmarks": [[1, 1], [9, 1], [5, 5], [2, 8], [60, 8]], "source": ""}))

# Camera frames and image files from a public-domain photo.
photo = Image.open(os.path.join(ROOT, "..", "..", "assets", "faces", "obama.jpg")).convert("RGB").resize((16, 12))
w, h = photo.size
rgb = photo.tobytes()
head = lambda kind: bytes([kind]) + struct.pack("<HH", w, h)
put("camera_frame", "mjpeg", head(0) + encoded(photo, "JPEG", quality=70))
yuyv = bytearray()
for i in range(0, len(rgb), 6):
    r, g, b = rgb[i], rgb[i + 1], rgb[i + 2]
    y = lambda r, g, b: max(16, min(235, int(16 + 0.257 * r + 0.504 * g + 0.098 * b)))
    yuyv += bytes([y(r, g, b), 128, y(rgb[i + 3], rgb[i + 4], rgb[i + 5]), 128])
put("camera_frame", "yuyv", head(1) + bytes(yuyv))
put("camera_frame", "nv12", head(2) + bytes(photo.convert("L").tobytes()) + bytes([128]) * (w * h // 2))
put("camera_frame", "gray", head(3) + photo.convert("L").tobytes())
put("camera_frame", "rgb", head(4) + rgb)
put("camera_frame", "bgr-short", head(5) + rgb[:40])
put("image_file", "png", b"\x00" + encoded(photo, "PNG"))
put("image_file", "jpeg", b"\x01" + encoded(photo, "JPEG", quality=70))
put("image_file", "bmp", b"\x02" + encoded(photo, "BMP"))
put("image_file", "grey-png", b"\x00" + encoded(photo.convert("L"), "PNG"))
put("image_file", "progressive-jpeg", b"\x01" + encoded(photo, "JPEG", progressive=True))
