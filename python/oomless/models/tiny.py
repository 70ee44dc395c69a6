"""A small torchvision-style classifier for graph tests: every op family of a
CNN classifier head in a few kilobytes of weights.

stem: conv3x3 s2 -> BN -> ReLU -> maxpool 3x3 s2; a residual block
(conv-BN-ReLU, conv-BN, add, ReLU); global average pool (``pool="adaptive"``:
adaptive_avg_pool2d(1), traced as aten.mean.dim; ``pool="mean"``: x.mean((2, 3)));
flatten; linear (traced as aten.t + aten.addmm).
"""
import torch
from torch import nn


class TinyClassifier(nn.Module):
    def __init__(self, num_classes=10, width=8, in_channels=3, pool="adaptive"):
        super().__init__()
        if pool not in ("adaptive", "mean"):
            raise ValueError(f"[tiny_classifier] pool must be 'adaptive' or 'mean', got {pool!r}")
        self.pool = pool
        self.conv1 = nn.Conv2d(in_channels, width, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        y = self.bn3(self.conv3(self.relu(self.bn2(self.conv2(x)))))
        x = self.relu(x + y)
        x = self.avgpool(x) if self.pool == "adaptive" else x.mean((2, 3))
        return self.fc(torch.flatten(x, 1))


def tiny_classifier(num_classes=10, width=8, in_channels=3, pool="adaptive"):
    """A TinyClassifier in eval mode (random weights; seed torch first for fixed ones)."""
    return TinyClassifier(num_classes, width, in_channels, pool).eval()
