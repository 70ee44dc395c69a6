"""Models built in the project (plain PyTorch, random weights, eval mode).

``yolov12(scale="x", nc=80, decode=True)``: Ultralytics' YOLOv12 (yolo12.yaml),
scales n/s/m/l/x. ``tiny_classifier(...)``: a small conv/BN/ReLU/maxpool/
avgpool/linear classifier for graph tests. ``classifier(name)``: torchvision's
resnet18/50, mobilenet_v2, vgg11_bn, efficientnet_b0, squeezenet1_0 and small
variants (``CLASSIFIERS``). ``MODELS`` maps the names that
``python3 -m oomless.export`` takes to these builders.
"""
from .classify import BUILDERS, CLASSIFIERS, classifier
from .tiny import TinyClassifier, tiny_classifier
from .yolov12 import SCALES, YOLOv12, yolov12

MODELS = {"yolov12": yolov12, "tiny": tiny_classifier, **BUILDERS}

__all__ = ["CLASSIFIERS", "MODELS", "SCALES", "TinyClassifier", "YOLOv12", "classifier",
           "tiny_classifier", "yolov12"]
