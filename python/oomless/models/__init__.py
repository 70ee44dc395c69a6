"""Models built in the project (plain PyTorch, random weights, eval mode).

``yolov12(scale="x", nc=80, decode=True)``: Ultralytics' YOLOv12 (yolo12.yaml),
scales n/s/m/l/x. ``tiny_classifier(...)``: a small conv/BN/ReLU/maxpool/
avgpool/linear classifier for graph tests. ``MODELS`` maps the names that
``python3 -m oomless.export`` takes to these builders.
"""
from .tiny import TinyClassifier, tiny_classifier
from .yolov12 import SCALES, YOLOv12, yolov12

MODELS = {"yolov12": yolov12, "tiny": tiny_classifier}

__all__ = ["MODELS", "SCALES", "TinyClassifier", "YOLOv12", "tiny_classifier", "yolov12"]
