"""torchvision's classification models (Debian's python3-torchvision, torch
1.13's 0.14), random weights, eval mode: nothing is downloaded.

``classifier(name, num_classes=1000)`` builds one of ``CLASSIFIERS`` (resnet18,
resnet50, mobilenet_v2, vgg11_bn, efficientnet_b0, squeezenet1_0) or a small
variant for tests: ``resnet_mini`` (ResNet, one BasicBlock per stage, 64..512
channels), ``bottleneck_mini`` (ResNet, one Bottleneck per stage), and
``mobilenet_mini`` (MobileNetV2 x0.25 with two stages: depthwise convs, ReLU6,
two residual adds, dropout in the classifier).

``device="meta"`` skips the random initialisation (vgg11_bn's 133 M weights take
seconds to draw) and returns the model on the meta device, for tracing.
"""
import contextlib

CLASSIFIERS = ("resnet18", "resnet50", "mobilenet_v2", "vgg11_bn", "efficientnet_b0",
               "squeezenet1_0", "resnet_mini", "bottleneck_mini", "mobilenet_mini")


def _torchvision():
    try:
        import torchvision
    except ImportError as e:
        raise ImportError("[classifier] torchvision is missing: scripts/install-deps.sh installs "
                          f"Debian's python3-torchvision ({e})") from None
    return torchvision


@contextlib.contextmanager
def _no_init():
    """torch.nn.init's in-place fills do nothing (the weights stay torch.empty)."""
    from torch.nn import init

    names = [n for n in dir(init) if n.endswith("_") and not n.startswith("_")]
    saved = {n: getattr(init, n) for n in names}
    for n in names:
        setattr(init, n, lambda t, *a, **k: t)
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(init, n, f)


def classifier(name, num_classes=1000, device="cpu"):
    """A torchvision classifier in eval mode (seed torch first for fixed weights);
    device="meta": uninitialised, on the meta device (for tracing)."""
    if name not in CLASSIFIERS:
        raise ValueError(f"[classifier] unknown model {name!r}; one of {', '.join(CLASSIFIERS)}")
    if device not in ("cpu", "meta"):
        raise ValueError(f"[classifier] device must be 'cpu' or 'meta', got {device!r}")
    _torchvision()
    with _no_init() if device == "meta" else contextlib.nullcontext():
        m = _build(name, num_classes)
    return m.to(device).eval()


def _build(name, num_classes):
    import torchvision as tv
    from torchvision.models import mobilenetv2, resnet

    if name == "resnet_mini":
        m = resnet.ResNet(resnet.BasicBlock, [1, 1, 1, 1], num_classes=num_classes)
    elif name == "bottleneck_mini":
        m = resnet.ResNet(resnet.Bottleneck, [1, 1, 1, 1], num_classes=num_classes)
    elif name == "mobilenet_mini":
        # t, c, n, s: an expansion-1 block, then two expansion-6 blocks (the second residual).
        m = mobilenetv2.MobileNetV2(num_classes=num_classes, width_mult=0.25,
                                    inverted_residual_setting=[[1, 16, 1, 1], [6, 24, 2, 2]])
    else:
        m = getattr(tv.models, name)(weights=None, num_classes=num_classes)
    return m


def _builder(name):
    def build(num_classes=1000, device="cpu"):
        return classifier(name, num_classes, device)

    build.__name__ = name
    build.__doc__ = f"classifier({name!r}, num_classes, device)"
    return build


BUILDERS = {name: _builder(name) for name in CLASSIFIERS}
