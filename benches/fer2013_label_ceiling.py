#!/usr/bin/env python3
"""How well can a model trained on FERPlus labels score on FER2013's own labels?

An oracle that answers each FER2013 test image (PrivateTest, the split `scn eval --format
fer2013 --split test` reads) with the FERPlus annotators' majority among the seven FER2013
emotions scores this much against FER2013's original labels: the ceiling of any model that
learned the FERPlus labels perfectly. Standard library only.

    python3 benches/fer2013_label_ceiling.py ../shared/datasets/ferplus
"""
import collections
import csv
import sys
from pathlib import Path

# FERPlus vote columns in FER2013's order: angry, disgust, fear, happy, sad, surprise, neutral.
FER2013_ORDER = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]
NAMES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def main(root: Path, split: str = "PrivateTest") -> None:
    votes = {}
    with open(root / "fer2013new.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["Image name"]:
                votes[row["Image name"]] = [int(row[c]) for c in FER2013_ORDER]
    n = agree = ties = no_emotion = 0
    per_class = collections.Counter()
    per_class_agree = collections.Counter()
    with open(root / "fer2013_original_labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            name = row["ferplus_image_name"]
            if row["Usage"] != split or name not in votes:
                continue
            truth = int(row["fer2013_emotion"])
            v = votes[name]
            n += 1
            per_class[truth] += 1
            top = max(v)
            if top == 0:
                no_emotion += 1
                continue
            winners = [i for i, c in enumerate(v) if c == top]
            if len(winners) > 1:
                ties += 1
            # A tie counts as the share of the tied classes that is right (an unbiased guess).
            hit = winners.count(truth) / len(winners)
            agree += hit
            per_class_agree[truth] += hit
    print(f"{split}: {n} images with FERPlus votes; {ties} tied majorities, {no_emotion} with no emotion vote")
    print(f"FERPlus-majority oracle against FER2013's labels: {100 * agree / n:.2f}%")
    mean = sum(per_class_agree[c] / per_class[c] for c in per_class) / len(per_class)
    print(f"mean class: {100 * mean:.2f}%")
    for c in range(7):
        print(f"  {NAMES[c]:9} {per_class[c]:5} images, {100 * per_class_agree[c] / max(1, per_class[c]):.1f}%")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), *sys.argv[2:])
