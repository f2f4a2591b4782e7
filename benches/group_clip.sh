#!/usr/bin/env bash
# Makes a 640x360, 75-frame clip of five faces side by side, moving, from the public-domain
# photos of assets/faces (the benchmark's "five faces" case; BENCHMARKS.md). Needs ffmpeg.
# usage: benches/group_clip.sh OUT.mp4
set -euo pipefail
out=$1
cd "$(dirname "$0")/.."
f=assets/faces
# Each face: a 4:5 region around its MTCNN box (crop w:h:x:y), scaled to 112x140, then drifting
# sideways and up and down by a few pixels, out of phase with its neighbours.
ffmpeg -loglevel error -y \
  -f lavfi -i "color=c=0x556070:s=640x360:d=3:r=25" \
  -loop 1 -t 3 -i $f/astronaut.jpg -loop 1 -t 3 -i $f/biden.jpg -loop 1 -t 3 -i $f/grace_hopper_512x512.jpg \
  -loop 1 -t 3 -i $f/obama.jpg -loop 1 -t 3 -i $f/obama2.jpg \
  -filter_complex "\
[1]crop=145:182:151:26,scale=112:140[a];[2]crop=500:625:318:51,scale=112:140[b];\
[3]crop=272:340:129:33,scale=112:140[c];[4]crop=435:544:274:0,scale=112:140[d];\
[5]crop=545:682:59:83,scale=112:140[e];\
[0][a]overlay=x='10+6*sin(2*PI*t/3)':y='110+8*cos(2*PI*t/3)':shortest=1[o1];\
[o1][b]overlay=x='136+6*sin(2*PI*t/3+1)':y='80+8*cos(2*PI*t/3+1)':shortest=1[o2];\
[o2][c]overlay=x='262+6*sin(2*PI*t/3+2)':y='130+8*cos(2*PI*t/3+2)':shortest=1[o3];\
[o3][d]overlay=x='388+6*sin(2*PI*t/3+3)':y='90+8*cos(2*PI*t/3+3)':shortest=1[o4];\
[o4][e]overlay=x='514+6*sin(2*PI*t/3+4)':y='120+8*cos(2*PI*t/3+4)':shortest=1,format=yuv420p[v]" \
  -map "[v]" -r 25 -frames:v 75 -c:v libx264 -crf 18 "$out"
