"""oomless.models: YOLOv12 at every scale (parameter counts as Ultralytics'
yolo12.yaml reports them, eval-mode forward, the Detect decode) and the tiny
classifier used by graph tests."""
import pytest

torch = pytest.importorskip("torch")
oomless = pytest.importorskip("oomless")
from oomless.models import tiny_classifier, yolov12  # noqa: E402

# Ultralytics yolo12.yaml's summaries (8.3.78+); the facts sheet gives x.
PARAMS = {"n": 2_602_288, "s": 9_284_096, "m": 20_199_168, "l": 26_450_784, "x": 59_210_784}


def _nparams(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("scale", list(PARAMS))
def test_yolov12_parameters_and_forward(scale):
    torch.manual_seed(0)
    m = yolov12(scale)
    assert _nparams(m) == PARAMS[scale]
    assert not m.training and not any(x.training for x in m.modules())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        y = m(x)
    # 4 box + 80 class rows; anchors 8x8 + 4x4 + 2x2 over the strides 8, 16, 32
    assert y.shape == (1, 84, 84)
    assert torch.isfinite(y).all()
    assert ((y[:, 4:] > 0) & (y[:, 4:] < 1)).all()  # class scores went through sigmoid


def test_yolov12_channels_at_x():
    m = yolov12("x")
    chans = [m.model[i].cv2.conv.out_channels for i in (2, 4, 6, 8, 11, 14, 17, 20)]
    assert chans == [384, 768, 768, 768, 768, 384, 768, 768]
    attn = m.model[6].m[0][0].attn
    assert (attn.heads, attn.head_dim, attn.area) == (12, 32, 4)
    assert m.model[6].m[0][0].mlp[0].conv.out_channels == 460  # int(384 * 1.2)
    assert m.model[8].m[0][0].attn.area == 1 and len(m.model[8].m) == 4
    assert m.model[6].gamma.shape == (768,) and m.model[11].gamma is None
    assert type(m.model[2].m[0]).__name__ == "C3k"  # c3k at m/l/x
    assert type(yolov12("n").model[2].m[0]).__name__ == "Bottleneck"
    silus = [a for a in m.modules() if isinstance(a, torch.nn.SiLU)]
    assert len(silus) == 141 and all(a.inplace for a in silus)


def test_yolov12_eval_uses_running_stats():
    torch.manual_seed(0)
    m = yolov12("n")
    for bn in m.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.running_mean.normal_(0, 0.2)
            bn.running_var.uniform_(0.5, 2.0)
    a, b = torch.randn(1, 3, 64, 64), torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        one = m(a)
        both = m(torch.cat([a, b]))  # batch statistics would mix a and b
    torch.testing.assert_close(both[:1], one, rtol=1e-5, atol=1e-4)


def test_yolov12_decode_matches_raw_levels():
    """decode=True is DFL + dist2bbox + strides + sigmoid over the raw levels."""
    torch.manual_seed(0)
    dec, raw = yolov12("n"), yolov12("n", decode=False)
    raw.load_state_dict(dec.state_dict())
    x = torch.randn(1, 3, 96, 64)
    with torch.no_grad():
        y, levels = dec(x), raw(x)
    assert isinstance(levels, list) and [tuple(lv.shape) for lv in levels] == [
        (1, 144, 12, 8), (1, 144, 6, 4), (1, 144, 3, 2)]
    boxes, scores, centres, strides = [], [], [], []
    for lv, s in zip(levels, (8, 16, 32)):
        h, w = lv.shape[2:]
        flat = lv.flatten(2)  # [1, 144, h*w], anchors row-major over (y, x)
        bins = flat[0, :64].reshape(4, 16, -1).softmax(1)
        boxes.append((bins * torch.arange(16.0).view(1, 16, 1)).sum(1))  # l, t, r, b
        scores.append(flat[0, 64:].sigmoid())
        gy, gx = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
        centres.append(torch.stack([gx.flatten(), gy.flatten()]))
        strides.append(torch.full((h * w,), float(s)))
    d, c, st = torch.cat(boxes, 1), torch.cat(centres, 1), torch.cat(strides)
    x1y1, x2y2 = c - d[:2], c + d[2:]
    want = torch.cat([(x1y1 + x2y2) / 2 * st, (x2y2 - x1y1) * st, torch.cat(scores, 1)])
    assert y.shape == (1, 84, 96 + 24 + 6)
    torch.testing.assert_close(y[0], want, rtol=1e-5, atol=1e-4)


def test_yolov12_unknown_scale():
    with pytest.raises(ValueError, match=r"\[yolov12\] unknown scale 'q'"):
        yolov12("q")


def test_tiny_classifier():
    torch.manual_seed(0)
    m = tiny_classifier(num_classes=5)
    assert not m.training
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        y = m(x)
        z = tiny_classifier(num_classes=5, pool="mean")
        z.load_state_dict(m.state_dict())
        torch.testing.assert_close(z(x), y)  # both pools are a global mean
    assert y.shape == (2, 5)
    assert _nparams(m) == 8 * 3 * 9 + 2 * 8 * 8 * 9 + 3 * 2 * 8 + 8 * 5 + 5
    with pytest.raises(ValueError, match="pool must be 'adaptive' or 'mean'"):
        tiny_classifier(pool="max")
