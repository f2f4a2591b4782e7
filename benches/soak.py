"""Soak test of the live loop: `scn run` on a looped clip, headless, for many frames, with the
process's memory (RSS) and speed sampled as it goes. The figures go to RELIABILITY.md.

    python3 benches/soak.py target/release/scn VIDEO [--frames 100000] [--every 2000]
        [--csv soak.csv] [-- more scn run flags]

Prints one line per sample (frames, seconds, frames/s over the window, RSS MB, highest track id,
faces in the window) and a summary: RSS after warm-up, its growth, the spread of frames/s.
Exits with status 1 if scn fails or RSS grows by more than --max-growth-mb after warm-up.
Linux only (reads /proc). Standard library only.
"""
import argparse
import json
import statistics
import subprocess
import sys
import time


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scn")
    ap.add_argument("video")
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--every", type=int, default=2000, help="frames per sample")
    ap.add_argument("--warmup", type=int, default=2, help="samples before the RSS baseline")
    ap.add_argument("--max-growth-mb", type=float, default=8.0)
    ap.add_argument("--csv")
    ap.add_argument("extra", nargs="*", help="more `scn run` flags (after --)")
    args = ap.parse_args()

    cmd = [args.scn, "run", "--video", args.video, "--loop", "--max-frames", str(args.frames),
           "--no-window", "--json", *args.extra]
    print("$", " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1 << 16)
    start = last_t = time.monotonic()
    frames = faces_in_window = max_id = 0
    samples = []
    print(f"{'frames':>8} {'seconds':>8} {'fps':>7} {'rss_mb':>7} {'max_id':>7} {'faces':>6}")
    for line in proc.stdout:
        record = json.loads(line)
        frames += 1
        for face in record["faces"]:
            faces_in_window += 1
            max_id = max(max_id, face["id"])
        if frames % args.every == 0:
            now = time.monotonic()
            sample = (frames, now - start, args.every / (now - last_t), rss_mb(proc.pid), max_id, faces_in_window)
            samples.append(sample)
            print(f"{sample[0]:>8} {sample[1]:>8.1f} {sample[2]:>7.1f} {sample[3]:>7.1f} {sample[4]:>7} {sample[5]:>6}",
                  flush=True)
            last_t, faces_in_window = now, 0
    stderr = proc.stderr.read()
    code = proc.wait()
    if args.csv:
        with open(args.csv, "w") as f:
            f.write("frames,seconds,fps,rss_mb,max_track_id,faces\n")
            for s in samples:
                f.write(",".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in s) + "\n")
    if code != 0 or frames != args.frames:
        print(f"scn exited with {code} after {frames} frames:\n{stderr[-2000:]}", file=sys.stderr)
        return 1
    steady = samples[args.warmup:] or samples
    base = steady[0][3]
    growth = max(s[3] for s in steady) - base
    fps = [s[2] for s in steady]
    print(f"\n{frames} frames in {samples[-1][1]:.0f} s; RSS {base:.1f} MB after warm-up, "
          f"highest {base + growth:.1f} MB (+{growth:.1f}), last {steady[-1][3]:.1f} MB; "
          f"frames/s min {min(fps):.1f}, median {statistics.median(fps):.1f}, max {max(fps):.1f}; "
          f"track ids up to {max_id}")
    if growth > args.max_growth_mb:
        print(f"RSS grew by {growth:.1f} MB (more than {args.max_growth_mb} MB)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
