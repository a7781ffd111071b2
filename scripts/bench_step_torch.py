#!/usr/bin/env python3
"""PyTorch CPU reference for `deno task bench:step`: the same network (torchvision-layout
ResNet or VGG13-BN, non-affine BatchNorm, no biases, features normalised to radius tau, a K-class linear
classifier without bias), the same batch shape, a training step with AGD (the paper's
optimiser: orthogonal init, gain 10), one warm-up step excluded, median over --steps.

Written here from the paper's description (not torchvision's code), so it needs only Debian's
python3-torch:  apt-get install python3-torch;  /usr/bin/python3 scripts/bench_step_torch.py

Prints one JSON line like the Deno bench: {"backend": "pytorch-cpu", "model", "method",
"batchSize", "medianStepSeconds", "threads"}.
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout, affine=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, affine=False)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout, affine=False))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, width, stride):
        super().__init__()
        cout = width * 4
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width, affine=False)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width, affine=False)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout, affine=False)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout, affine=False))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


LAYOUTS = {"resnet18": (BasicBlock, [2, 2, 2, 2]), "resnet34": (BasicBlock, [3, 4, 6, 3]),
           "resnet50": (Bottleneck, [3, 4, 6, 3])}


class ResNet(nn.Module):
    """head: "standard" (a learned bias-free linear classifier), "fixed" (the frozen simplex
    ETF classifier with its non-trainable bias, as the paper's fixed model stores them) or
    "implicit" (no classifier in the state_dict: the paper's implicit head keeps W and b
    outside it)."""

    def __init__(self, name, width, num_classes, head="standard"):
        super().__init__()
        block, counts = LAYOUTS[name]
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width, affine=False)
        layers, cin = [], width
        for i, n in enumerate(counts):
            w = width * 2 ** i
            blocks = []
            for j in range(n):
                blocks.append(block(cin, w, 2 if (j == 0 and i > 0) else 1))
                cin = w * block.expansion
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        if head != "implicit":
            self.classifier = nn.Linear(cin, num_classes, bias=head == "fixed")
            if head == "fixed":
                self.classifier.requires_grad_(False)

    def raw_features(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def features(self, x, tau):
        h = self.raw_features(x)
        return tau * h / h.norm(dim=1, keepdim=True)

    def forward(self, x, tau):
        return self.classifier(self.features(x, tau))


VGG13_CFG = [1, 1, "M", 2, 2, "M", 4, 4, "M", 8, 8, "M", 8, 8, "M"]


class VGG13(nn.Module):
    """torchvision's vgg13_bn feature extractor (configuration "B": conv 3x3 padding 1 +
    BatchNorm + ReLU, "M" = 2x2 max-pool), channels in units of `width` (64 in torchvision),
    written here from that published layout; then global average pooling to 8*width features
    and the same heads as ResNet. bias=True: conv biases and affine BatchNorm (exactly
    torchvision's vgg13_bn().features); bias=False: neither (the paper's --no-bias)."""

    def __init__(self, width, num_classes, head="standard", bias=False):
        super().__init__()
        layers, cin = [], 3
        for v in VGG13_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v * width, 3, padding=1, bias=bias),
                           nn.BatchNorm2d(v * width, affine=bias), nn.ReLU(inplace=True)]
                cin = v * width
        self.features_ = nn.Sequential(*layers)
        if head != "implicit":
            self.classifier = nn.Linear(cin, num_classes, bias=head == "fixed")
            if head == "fixed":
                self.classifier.requires_grad_(False)

    def raw_features(self, x):
        return torch.flatten(F.adaptive_avg_pool2d(self.features_(x), 1), 1)

    def features(self, x, tau):
        h = self.raw_features(x)
        return tau * h / h.norm(dim=1, keepdim=True)

    def forward(self, x, tau):
        return self.classifier(self.features(x, tau))

    def state_dict(self, *args, **kwargs):
        return {k.replace("features_.", "features."): v
                for k, v in super().state_dict(*args, **kwargs).items()}

    def load_state_dict(self, state, strict=True):
        return super().load_state_dict(
            {k.replace("features.", "features_.", 1) if k.startswith("features.") else k: v
             for k, v in state.items()}, strict=strict)


def build(name, width, num_classes, head="standard", bias=False):
    """The network a model name denotes (the ResNets are always bias-free)."""
    if name == "vgg13":
        return VGG13(width, num_classes, head, bias)
    return ResNet(name, width, num_classes, head)


def singular_value(p):
    sv = math.sqrt(p.shape[0] / p.shape[1])
    if p.dim() == 4:
        sv /= math.sqrt(p.shape[2] * p.shape[3])
    return sv


class AGD:
    def __init__(self, params, gain=10.0):
        self.params, self.gain = list(params), gain
        with torch.no_grad():
            for p in self.params:
                if p.dim() == 2:
                    nn.init.orthogonal_(p)
                else:
                    for kx in range(p.shape[2]):
                        for ky in range(p.shape[3]):
                            nn.init.orthogonal_(p[:, :, kx, ky])
                p *= singular_value(p)

    @torch.no_grad()
    def step(self):
        L = len(self.params)
        G = sum(singular_value(p) * p.grad.norm(dim=(0, 1)).sum() for p in self.params) / L
        eta = math.log(0.5 * (1 + math.sqrt(1 + 4 * float(G))))
        for p in self.params:
            factor = singular_value(p) / p.grad.norm(dim=(0, 1), keepdim=True)
            p -= self.gain * eta / L * torch.nan_to_num(factor) * p.grad
        return eta


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet18", choices=sorted(LAYOUTS) + ["vgg13"])
    ap.add_argument("--batch_size", type=int, default=256)
    ap.add_argument("--num_classes", type=int, default=10)
    ap.add_argument("--resnet_width", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--image_size", type=int, default=32, help="input side (STL10: 96)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = build(args.model, args.resnet_width, args.num_classes)
    opt = AGD(net.parameters())
    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size)
    y = torch.arange(args.batch_size) % args.num_classes
    times = []
    for step in range(args.steps + 1):
        t0 = time.perf_counter()
        net.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x, 5.0), y)
        loss.backward()
        opt.step()
        float(loss)
        if step > 0:
            times.append(time.perf_counter() - t0)
    print(json.dumps({"backend": "pytorch-cpu", "model": args.model, "method": "standard",
                      "batchSize": args.batch_size, "medianStepSeconds": statistics.median(times),
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
