#!/usr/bin/env python3
"""The PyTorch peer of `cargo bench -p scn-train --bench train_step`: one SCN training step
(forward, weighted cross-entropy + rank regularization, backward, Adam) on the same network,
input and batch, on a CUDA GPU (or the CPU), median of STEPS steps after warm-up.

    python3 benches/torch_train_step.py SIZE CHANNELS BATCH STEPS [dlib] [width=N]
        [stem=standard|no_pool|cifar]

Prints one line for strict fp32 (as burn's wgpu backend computes) and one for PyTorch's default
(TF32 convolutions on Ampere and later). The networks mirror train/src/model: ResNet-18 of the
given width and stem, or dlib's face-recognition ResNet (face_resnet.rs), both with SCN's heads.
"""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.down = None
        if stride != 1 or c_in != c_out:
            self.down = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    def __init__(self, channels, width, stem):
        super().__init__()
        if stem == "cifar":
            self.conv1 = nn.Conv2d(channels, width, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(channels, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.pool = nn.MaxPool2d(3, 2, 1) if stem == "standard" else nn.Identity()
        layers, c = [], width
        for i, w in enumerate([width, 2 * width, 4 * width, 8 * width]):
            layers += [BasicBlock(c, w, 1 if i == 0 else 2), BasicBlock(w, w, 1)]
            c = w
        self.layers = nn.Sequential(*layers)
        self.features = c

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        return F.adaptive_avg_pool2d(self.layers(x), 1).flatten(1)


class FaceBlock(nn.Module):
    """dlib's residual block; a down block's shortcut is a 2x2 average pool, zero-filled to the
    new channels, and the convolutions' output is zero-padded where the pool's is larger."""

    def __init__(self, c_in, c_out, down):
        super().__init__()
        self.down = down
        self.c_out = c_out
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 2 if down else 1, 0 if down else 1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)

    def forward(self, x):
        y = self.conv2(F.relu(self.conv1(x)))
        if self.down:
            s = F.avg_pool2d(x, 2, 2)
            s = F.pad(s, (0, 0, 0, 0, 0, self.c_out - s.shape[1]))
            y = F.pad(y, (0, s.shape[3] - y.shape[3], 0, s.shape[2] - y.shape[2]))
        else:
            s = x
        return F.relu(y + s)


class FaceResNet(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.stem = nn.Conv2d(channels, 32, 7, 2, 0)
        plan = [(32, 32, 3, False), (32, 64, 1, True), (64, 64, 3, False), (64, 128, 1, True),
                (128, 128, 2, False), (128, 256, 1, True), (256, 256, 2, False), (256, 256, 1, True)]
        blocks = []
        for c_in, c_out, n, down in plan:
            blocks += [FaceBlock(c_in if i == 0 else c_out, c_out, down) for i in range(n)]
        self.blocks = nn.Sequential(*blocks)
        self.features = 256

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2)
        return F.adaptive_avg_pool2d(self.blocks(x), 1).flatten(1)


class Scn(nn.Module):
    def __init__(self, backbone, classes=8):
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(backbone.features, classes)
        self.alpha = nn.Linear(backbone.features, 1)

    def forward(self, x):
        f = self.backbone(x)
        alpha = torch.sigmoid(self.alpha(f))
        return alpha * self.fc(f), alpha


def scn_loss(logits, alpha, labels, beta=0.7, margin=0.07):
    """Cross-entropy plus rank regularization, grouped as `ImportanceGroups::split` does: the
    top floor(beta * B) attention weights against the rest (no regularization if either group
    is empty)."""
    ce = F.cross_entropy(logits, labels)
    a = alpha.flatten().sort(descending=True).values
    high = int(beta * a.numel())
    if high == 0 or high >= a.numel():
        return ce
    rr = F.relu(margin - (a[:high].mean() - a[high:].mean()))
    return ce + rr


def step_seconds(model, device, size, channels, batch, steps):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-8, weight_decay=1e-4)
    x = torch.randn(batch, channels, size, size, device=device)
    labels = torch.arange(batch, device=device) % 8
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = []
    for _ in range(steps + 3):
        t = time.perf_counter()
        logits, alpha = model(x)
        loss = scn_loss(logits, alpha, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync()
        times.append(time.perf_counter() - t)
    first = times[0]
    rest = sorted(times[3:])
    return first, rest[len(rest) // 2]


def main():
    words = sys.argv[1:]
    nums = [int(w) for w in words if w.isdigit()]
    size, channels, batch, steps = (nums + [48, 1, 16, 5][len(nums):])[:4]
    opts = dict(w.split("=", 1) for w in words if "=" in w)
    dlib = "dlib" in words
    width, stem = int(opts.get("width", 64)), opts.get("stem", "standard")
    if stem not in ("standard", "no_pool", "cifar"):
        sys.exit(f"stem={stem}: the stems are standard, no_pool and cifar")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = "dlib's face ResNet" if dlib else f"ResNet-18 width {width} ({stem} stem)"
    where = torch.cuda.get_device_name(0) if device.type == "cuda" else "CPU"
    print(f"PyTorch {torch.__version__} SCN on {name} training step, {size}x{size}x{channels}, batch {batch}, "
          f"median of {steps} steps, {where}")
    torch.backends.cudnn.benchmark = True
    for label, tf32 in [("fp32", False), ("default (TF32 convolutions)", True)]:
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.manual_seed(1)
        backbone = FaceResNet(channels) if dlib else ResNet18(channels, width, stem)
        model = Scn(backbone).to(device)
        first, step = step_seconds(model, device, size, channels, batch, steps)
        print(f"pytorch {label}: first {first:.3f} s, then {step:.4f} s/step ({batch / step:.1f} img/s)")


if __name__ == "__main__":
    main()
