"""The "traditional CNN" baseline of the KIPS paper: 2 convolutions, 2 poolings, 3 linear layers."""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    arch = "small_cnn"
    explainable_layers = ("conv1", "conv2")
    default_layer = "conv2"

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        # Each conv is a (conv, ReLU) pair so a hook on it sees the activated feature map.
        self.conv1 = nn.Sequential(nn.Conv2d(3, 32, 5, padding=2), nn.ReLU(inplace=True))
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Sequential(nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(inplace=True))
        # Adaptive second pooling: any input size >= 32 ends at 8 x 8 (32 -> 16 -> 8).
        self.pool2 = nn.AdaptiveMaxPool2d(8)
        self.fc1 = nn.Linear(64 * 8 * 8, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, num_classes)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool2(self.conv2(self.pool1(self.conv1(x))))
        x = self.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc3(self.relu(self.fc2(x)))


def small_cnn(num_classes: int = 10) -> SmallCNN:
    return SmallCNN(num_classes)
