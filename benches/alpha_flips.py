#!/usr/bin/env python3
"""Does SCN's attention weight single out the flipped labels of a noise experiment?

Runs `scn predict --json` with an exported SCN model over the FERPlus training images, takes each
image's attention weight (alpha) and answer, and compares the images whose label `scn data noise`
flipped with the rest of the training set (majority protocol, as `scn train` reads it):

- mean alpha of the flipped and of the clean images, and the AUROC of "alpha is lower" as a
  detector of a flip (0.5: alpha knows nothing of the flips; 1: every flip below every clean image);
- how many flips fall in the lowest-alpha 30% of the training set (SCN's low-importance group at
  the default beta = 0.7), against the 30% that chance would put there;
- for the flipped images, how often the model answers the flipped label (it learned the noise)
  and how often the original one;
- the mean alpha of the images grouped by what the model answers (flipped images answered with
  the flipped label, with the original, with a third class; clean ones answered right or
  wrong): whether alpha follows the labels' truth or the model's fit.

    target/python/bin/python benches/alpha_flips.py MODEL.onnx noise/ferplus-noise30.flips.csv \\
        noise/ferplus-noise30.csv ../shared/datasets/ferplus [--scn target/release/scn]

A model without alpha (a `--baseline` export) gets the last part only.
"""
import argparse
import csv
import json
import os
import subprocess
import sys

CLASSES = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]


def majority_label(votes):
    """FERPlus majority protocol as `scn train` reads it: single votes dropped, then the top
    class needs more than half of the rest; unknown and not-a-face exclude the image."""
    raw = [v if v > 1 else 0 for v in votes]
    total = sum(raw)
    arg = max(range(len(raw)), key=lambda i: (raw[i], -i))
    if total == 0 or raw[arg] <= 0.5 * total or arg >= len(CLASSES):
        return None
    return arg


def training_labels(path):
    """Image name -> majority label of a FERPlus label file (image, box, 10 vote counts)."""
    labels = {}
    with open(path, newline="") as f:
        for line, row in enumerate(csv.reader(f), start=1):
            if len(row) != 12:
                sys.exit(f"{path}:{line}: expected 12 fields, found {len(row)}")
            label = majority_label([int(v) for v in row[2:]])
            if label is not None:
                labels[row[0]] = label
    return labels


def auroc(negatives, positives):
    """P(a positive scores above a negative), ties counted half (Mann-Whitney U)."""
    scored = sorted([(s, 0) for s in negatives] + [(s, 1) for s in positives])
    rank_sum = 0.0
    i = 0
    while i < len(scored):
        j = i
        while j < len(scored) and scored[j][0] == scored[i][0]:
            j += 1
        mean_rank = (i + 1 + j) / 2.0
        rank_sum += mean_rank * sum(1 for k in range(i, j) if scored[k][1] == 1)
        i = j
    n_pos, n_neg = len(positives), len(negatives)
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("flips", help="the flip record of `scn data noise`")
    parser.add_argument("labels", help="the noisy label file the run trained on")
    parser.add_argument("data", help="the FERPlus folder (FER2013Train/ inside)")
    parser.add_argument("--scn", default="target/release/scn")
    args = parser.parse_args()

    labels = training_labels(args.labels)
    flips = {}
    with open(args.flips, newline="") as f:
        for row in csv.DictReader(f):
            flips[row["image"]] = (int(row["original_label"]), int(row["noisy_label"]))
    missing = [name for name in flips if name not in labels]
    if missing:
        sys.exit(f"{args.flips}: {len(missing)} flipped images are not training images of {args.labels}")

    folder = os.path.join(args.data, "FER2013Train")
    out = subprocess.run(
        [args.scn, "predict", "-q", "-m", args.model, "--json", folder],
        check=True, capture_output=True, text=True,
    ).stdout
    answers = {}
    for line in out.splitlines():
        record = json.loads(line)
        faces = record.get("faces") or []
        if len(faces) != 1:
            continue
        face = faces[0]
        answers[os.path.basename(record["image"])] = (CLASSES.index(face["expression"]), face["alpha"])
    absent = [name for name in labels if name not in answers]
    if absent:
        sys.exit(f"{len(absent)} training images got no answer from `scn predict` (first: {absent[0]})")

    clean = [name for name in labels if name not in flips]
    print(f"{args.model}: {len(labels)} training images, {len(flips)} flipped, {len(clean)} clean")

    if answers[clean[0]][1] is not None:
        alpha_clean = [answers[n][1] for n in clean]
        alpha_flip = [answers[n][1] for n in flips]
        print(f"mean alpha: clean {sum(alpha_clean) / len(alpha_clean):.4f}, flipped {sum(alpha_flip) / len(alpha_flip):.4f}")
        print(f"AUROC of low alpha as a flip detector: {auroc([-a for a in alpha_clean], [-a for a in alpha_flip]):.4f}")
        ranked = sorted(labels, key=lambda n: answers[n][1])
        low = ranked[: int(round(0.3 * len(ranked)))]
        in_low = sum(1 for n in low if n in flips)
        share = len(flips) / len(labels)
        print(
            f"lowest-alpha 30% ({len(low)} images): {in_low} flips = {100 * in_low / len(low):.1f}% of the group "
            f"(chance {100 * share:.1f}%), {100 * in_low / len(flips):.1f}% of all flips (chance 30.0%)"
        )
        # Does alpha follow the labels' truth or the model's fit? Mean alpha per group of what
        # the model answers: a weight that follows the fit is high for memorised flips.
        groups = [
            ("flipped, answered with the flipped label", [n for n, (o, f) in flips.items() if answers[n][0] == f]),
            ("flipped, answered with the original", [n for n, (o, f) in flips.items() if answers[n][0] == o]),
            ("flipped, answered with a third class",
             [n for n, (o, f) in flips.items() if answers[n][0] not in (o, f)]),
            ("clean, answered right", [n for n in clean if answers[n][0] == labels[n]]),
            ("clean, answered wrong", [n for n in clean if answers[n][0] != labels[n]]),
        ]
        print("mean alpha by answer:")
        for name, members in groups:
            if members:
                mean = sum(answers[n][1] for n in members) / len(members)
                print(f"  {name}: {mean:.4f} ({len(members)} images)")
    noisy = sum(1 for n, (o, f) in flips.items() if answers[n][0] == f)
    original = sum(1 for n, (o, f) in flips.items() if answers[n][0] == o)
    right = sum(1 for n in clean if answers[n][0] == labels[n])
    print(
        f"flipped images answered with the flipped label {noisy} ({100 * noisy / len(flips):.1f}%), "
        f"with the original {original} ({100 * original / len(flips):.1f}%); "
        f"clean images answered right {100 * right / len(clean):.1f}%"
    )


if __name__ == "__main__":
    main()
