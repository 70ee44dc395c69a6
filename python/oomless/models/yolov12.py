"""YOLOv12 (Ultralytics' yolo12.yaml, all scales n/s/m/l/x) in plain PyTorch.

Written from the facts sheet (/work/shared/models/yolov12x.md): the layer table,
the scale rule and each block's data flow. Module and parameter names follow
Ultralytics' (``model.6.m.0.0.attn.qkv.conv.weight``) so traced graphs and
state dicts line up; parameter count at scale x: 59,210,784.

``yolov12(scale, nc, decode)``: eval-mode model (BatchNorm uses running stats).
``decode=True``: the Detect head returns [B, 4 + nc, A] (boxes as xywh in
pixels, class scores after sigmoid), A = anchors over the 3 levels.
``decode=False``: it returns the 3 raw levels as a list of [B, 64 + nc, h, w].
"""
import math

import torch
from torch import nn

# scale: (depth, width, max_channels)
SCALES = {"n": (0.50, 0.25, 1024), "s": (0.50, 0.50, 1024), "m": (0.50, 1.00, 512),
          "l": (1.00, 1.00, 512), "x": (1.00, 1.50, 512)}
REG_MAX = 16  # DFL bins per box side


class Conv(nn.Module):
    """conv (no bias, 'same' padding for odd k) -> BatchNorm (eps 1e-3) -> SiLU in place."""

    def __init__(self, c1, c2, k=1, s=1, g=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, groups=g, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        # In place as Ultralytics sets it after building (traces show aten.silu_).
        self.act = nn.SiLU(inplace=True) if act else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


def dwconv(c1, c2, k=3, act=True):
    return Conv(c1, c2, k, g=math.gcd(c1, c2), act=act)


class Bottleneck(nn.Module):
    """cv2(cv1(x)) with a residual add when the channels match."""

    def __init__(self, c1, c2, e=0.5):
        super().__init__()
        hidden = int(c2 * e)
        self.cv1 = Conv(c1, hidden, 3)
        self.cv2 = Conv(hidden, c2, 3)
        self.add = c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3k(nn.Module):
    """Two 1x1 branches, one through n 3x3 bottlenecks, merged by a 1x1."""

    def __init__(self, c1, c2, n=2, e=0.5):
        super().__init__()
        hidden = int(c2 * e)
        self.cv1 = Conv(c1, hidden)
        self.cv2 = Conv(c1, hidden)
        self.cv3 = Conv(2 * hidden, c2)
        self.m = nn.Sequential(*[Bottleneck(hidden, hidden, e=1.0) for _ in range(n)])

    def forward(self, x):
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class C3k2(nn.Module):
    """C2f-style: split cv1's output in two halves, chain n blocks on the last
    piece, concatenate every piece, fuse with cv2."""

    def __init__(self, c1, c2, n=1, c3k=False, e=0.5):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c)
        self.cv2 = Conv((2 + n) * self.c, c2)
        self.m = nn.ModuleList(C3k(self.c, self.c, 2) if c3k else Bottleneck(self.c, self.c)
                               for _ in range(n))

    def forward(self, x):
        pieces = list(self.cv1(x).chunk(2, 1))
        for block in self.m:
            pieces.append(block(pieces[-1]))
        return self.cv2(torch.cat(pieces, 1))


class AAttn(nn.Module):
    """Area attention: tokens split into `area` bands of rows, softmax attention
    inside each band, plus a 7x7 depthwise positional term on v."""

    def __init__(self, dim, heads, area=1):
        super().__init__()
        self.area, self.heads, self.head_dim = area, heads, dim // heads
        inner = self.head_dim * heads
        self.qkv = Conv(dim, 3 * inner, act=False)
        self.proj = Conv(inner, dim, act=False)
        self.pe = Conv(inner, dim, 7, g=dim, act=False)

    def forward(self, x):
        b, c, h, w = x.shape
        n = h * w
        qkv = self.qkv(x).flatten(2).transpose(1, 2)  # [B, N, 3C]
        if self.area > 1:
            qkv = qkv.reshape(b * self.area, n // self.area, 3 * c)
            b, n = qkv.shape[:2]
        hd = self.head_dim
        q, k, v = qkv.view(b, n, self.heads, 3 * hd).permute(0, 2, 3, 1).split([hd, hd, hd], dim=2)
        scores = (q.transpose(-2, -1) @ k) * hd ** -0.5  # [B', heads, N', N']
        out = v @ scores.softmax(dim=-1).transpose(-2, -1)  # [B', heads, hd, N']
        out, v = out.permute(0, 3, 1, 2), v.permute(0, 3, 1, 2)  # [B', N', heads, hd]
        if self.area > 1:
            out = out.reshape(b // self.area, n * self.area, c)
            v = v.reshape(b // self.area, n * self.area, c)
            b = b // self.area
        out = out.reshape(b, h, w, c).permute(0, 3, 1, 2).contiguous()
        v = v.reshape(b, h, w, c).permute(0, 3, 1, 2).contiguous()
        return self.proj(out + self.pe(v))


class ABlock(nn.Module):
    """Area attention and a 1x1 MLP, each with a residual add."""

    def __init__(self, dim, heads, mlp_ratio=1.2, area=1):
        super().__init__()
        self.attn = AAttn(dim, heads, area)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(Conv(dim, hidden), Conv(hidden, dim, act=False))

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.mlp(x)


class A2C2f(nn.Module):
    """cv1, then n blocks chained (pairs of ABlocks when a2, else C3k), all
    pieces concatenated into cv2; a learned per-channel residual scale when
    a2 and residual."""

    def __init__(self, c1, c2, n=1, a2=True, area=1, residual=False, mlp_ratio=2.0, e=0.5):
        super().__init__()
        hidden = int(c2 * e)
        assert hidden % 32 == 0, "A2C2f needs hidden channels in multiples of 32 (head dim)"
        self.cv1 = Conv(c1, hidden)
        self.cv2 = Conv((1 + n) * hidden, c2)
        self.gamma = nn.Parameter(0.01 * torch.ones(c2)) if a2 and residual else None
        self.m = nn.ModuleList(
            nn.Sequential(*[ABlock(hidden, hidden // 32, mlp_ratio, area) for _ in range(2)])
            if a2 else C3k(hidden, hidden, 2) for _ in range(n))

    def forward(self, x):
        pieces = [self.cv1(x)]
        for block in self.m:
            pieces.append(block(pieces[-1]))
        y = self.cv2(torch.cat(pieces, 1))
        return x + self.gamma.view(1, -1, 1, 1) * y if self.gamma is not None else y


class DFL(nn.Module):
    """Expected value of a softmax over REG_MAX bins, as a fixed 1x1 conv."""

    def __init__(self, bins=REG_MAX):
        super().__init__()
        self.bins = bins
        self.conv = nn.Conv2d(bins, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(bins, dtype=torch.float).view(1, bins, 1, 1)

    def forward(self, x):
        b, _, a = x.shape
        return self.conv(x.view(b, 4, self.bins, a).transpose(2, 1).softmax(1)).view(b, 4, a)


class Detect(nn.Module):
    """Per level: a box branch (64 = 4 x REG_MAX channels) and a class branch (nc)."""

    def __init__(self, nc, ch, strides=(8, 16, 32), decode=True):
        super().__init__()
        self.nc, self.decode = nc, decode
        c2 = max(16, ch[0] // 4, 4 * REG_MAX)
        c3 = max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(c, c2, 3), Conv(c2, c2, 3),
                                               nn.Conv2d(c2, 4 * REG_MAX, 1)) for c in ch)
        self.cv3 = nn.ModuleList(nn.Sequential(nn.Sequential(dwconv(c, c), Conv(c, c3)),
                                               nn.Sequential(dwconv(c3, c3), Conv(c3, c3)),
                                               nn.Conv2d(c3, nc, 1)) for c in ch)
        self.dfl = DFL(REG_MAX)
        self.strides = tuple(float(s) for s in strides)  # P3/8, P4/16, P5/32

    def forward(self, xs):
        levels = [torch.cat((box(x), cls(x)), 1) for x, box, cls in zip(xs, self.cv2, self.cv3)]
        if not self.decode:
            return levels
        b = levels[0].shape[0]
        flat = torch.cat([lv.view(b, 4 * REG_MAX + self.nc, -1) for lv in levels], 2)
        anchors, strides = self._anchors(levels)
        box, cls = flat.split((4 * REG_MAX, self.nc), 1)
        dbox = self._dist2bbox(self.dfl(box), anchors.unsqueeze(0)) * strides
        return torch.cat((dbox, cls.sigmoid()), 1)

    def _anchors(self, levels, offset=0.5):
        """Cell centres (in cells) [2, A] and each anchor's stride [1, A]."""
        points, strides = [], []
        for lv, s in zip(levels, self.strides):
            h, w = lv.shape[2:]
            kw = dict(device=lv.device, dtype=lv.dtype)
            sx = torch.arange(w, **kw) + offset
            sy = torch.arange(h, **kw) + offset
            gy, gx = torch.meshgrid(sy, sx, indexing="ij")
            points.append(torch.stack((gx, gy), -1).view(-1, 2))
            strides.append(torch.full((h * w, 1), s, **kw))
        return torch.cat(points).transpose(0, 1), torch.cat(strides).transpose(0, 1)

    @staticmethod
    def _dist2bbox(dist, anchors):
        """Left-top / right-bottom distances -> centre x, y and width, height."""
        lt, rb = dist.chunk(2, 1)
        x1y1, x2y2 = anchors - lt, anchors + rb
        return torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1)


def _channels(c, width, max_channels):
    return int(math.ceil(min(c, max_channels) * width / 8) * 8)


class YOLOv12(nn.Module):
    """The yolo12.yaml layer table; `model` is an nn.Sequential-like list whose
    layers 9-21 read earlier outputs as in Ultralytics (``model.<i>`` names)."""

    # (from, repeats, kind, args); channel args before scaling.
    LAYERS = [
        (-1, 1, "Conv", (64, 3, 2)), (-1, 1, "Conv", (128, 3, 2)),
        (-1, 2, "C3k2", (256, False, 0.25)), (-1, 1, "Conv", (256, 3, 2)),
        (-1, 2, "C3k2", (512, False, 0.25)), (-1, 1, "Conv", (512, 3, 2)),
        (-1, 4, "A2C2f", (512, True, 4)), (-1, 1, "Conv", (1024, 3, 2)),
        (-1, 4, "A2C2f", (1024, True, 1)), (-1, 1, "Upsample", ()),
        ([-1, 6], 1, "Concat", ()), (-1, 2, "A2C2f", (512, False, -1)),
        (-1, 1, "Upsample", ()), ([-1, 4], 1, "Concat", ()),
        (-1, 2, "A2C2f", (256, False, -1)), (-1, 1, "Conv", (256, 3, 2)),
        ([-1, 11], 1, "Concat", ()), (-1, 2, "A2C2f", (512, False, -1)),
        (-1, 1, "Conv", (512, 3, 2)), ([-1, 8], 1, "Concat", ()),
        (-1, 2, "C3k2", (1024, True)), ([14, 17, 20], 1, "Detect", ()),
    ]

    def __init__(self, scale="x", nc=80, decode=True):
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"[yolov12] unknown scale {scale!r} (expected one of {', '.join(SCALES)})")
        depth, width, max_ch = SCALES[scale]
        big = scale in ("m", "l", "x")  # C3k2 uses C3k blocks
        deep = scale in ("l", "x")  # A2C2f: residual with gamma, mlp_ratio 1.2
        ch, layers, self.sources = [3], [], []
        for f, n, kind, args in self.LAYERS:
            n = max(round(n * depth), 1)
            c1 = ch[-1]
            if kind == "Conv":
                c2 = _channels(args[0], width, max_ch)
                m = Conv(c1, c2, args[1], args[2])
            elif kind == "C3k2":
                c2 = _channels(args[0], width, max_ch)
                e = args[2] if len(args) > 2 else 0.5
                m = C3k2(c1, c2, n, c3k=big or args[1], e=e)
            elif kind == "A2C2f":
                c2 = _channels(args[0], width, max_ch)
                a2, area = args[1], args[2]
                extra = dict(residual=True, mlp_ratio=1.2) if deep else {}
                m = A2C2f(c1, c2, n, a2, area, **extra)
            elif kind == "Upsample":
                c2, m = c1, nn.Upsample(scale_factor=2, mode="nearest")
            elif kind == "Concat":
                c2, m = sum(ch[i + 1] if i >= 0 else ch[-1] for i in f), Concat()
            else:
                m = Detect(nc, [ch[i + 1] for i in f], decode=decode)
                c2 = None
            layers.append(m)
            self.sources.append(f)
            ch.append(c2)
        self.model = nn.Sequential(*layers)
        self.scale, self.nc = scale, nc
        self.eval()

    def forward(self, x):
        outs = []
        for f, m in zip(self.sources, self.model):
            if f != -1:
                x = [outs[i] if i != -1 else x for i in f]
            x = m(x)
            outs.append(x)
        return x


class Concat(nn.Module):
    def forward(self, xs):
        return torch.cat(xs, 1)


def yolov12(scale="x", nc=80, decode=True):
    """YOLOv12 at `scale` (n, s, m, l, x) in eval mode, random weights."""
    return YOLOv12(scale, nc, decode)
