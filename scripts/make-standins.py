#!/usr/bin/python3
"""Stand-ins for the ONNX Model Zoo's image classifiers (resources/backbones.json): the same
architectures, exported the way the zoo's files were (opset 17, eval mode, a fixed batch of 1,
[1, 3, 224, 224] unless said), with random seeded weights. ViT-S/16 comes twice: torchvision's
(its attention writes batch x heads into Reshape shapes) and one written as timm's (batch and
token counts from the input's shape, as the zoo's timm export). The zoo's own files cannot be
downloaded on the machines that test Loupe; these have their structure, so feature discovery,
batching and speed can be tested and measured on them (not accuracy).

Each model is exported with a second graph output, "reference_features": the value PyTorch
itself feeds the final classifier (pooled features, or a transformer's class token), so a test
can check the features Loupe finds against what the model computes, independently of Loupe.
Loupe's test helper (test/services/backbones/standins.ts) removes that output to make the
stand-in and keeps its name in standins.json.

Usage: /usr/bin/python3 scripts/make-standins.py OUT_DIR [NAME ...]   (needs python3-torch and
python3-torchvision, Debian's 1.13 / 0.14). Writes OUT_DIR/NAME.onnx and OUT_DIR/standins.json.
"""

import json
import os
import sys

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models import efficientnet

OPSET = 17


class Head(nn.Module):
    """The model, returning (logits, what its final classifier reads)."""

    def __init__(self, model, features, classifier, nhwc=False, softmax=False):
        super().__init__()
        self.model = model
        self.features_of = features
        self.classifier = classifier
        self.nhwc = nhwc
        self.softmax = softmax

    def forward(self, x):
        if self.nhwc:
            x = x.permute(0, 3, 1, 2)
        f = self.features_of(self.model, x)
        y = self.classifier(f)
        if self.softmax:
            y = torch.softmax(y, dim=1)
        return y, f


def pooled(m, x):
    return torch.flatten(m.avgpool(m.features(x)), 1)


def mobilenet_v3_large():
    m = torchvision.models.mobilenet_v3_large()
    # timm's MobileNetV3 has conv_head + hardswish after pooling, then the classifier: the same as
    # torchvision's first Linear + Hardswish; the features are their output (1280).
    return Head(m, lambda m, x: m.classifier[:-1](pooled(m, x)), m.classifier[-1])


def efficientnet_b0():
    m = torchvision.models.efficientnet_b0()
    return Head(m, pooled, m.classifier)


class Conv2dSame(nn.Conv2d):
    """TensorFlow's "same" padding computed from the input's size, as timm's tf_ models do (their
    ONNX export pads with Shape, Ceil, Cast, Pad... nodes before each strided convolution)."""

    def forward(self, x):
        ih, iw = x.size()[-2:]
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        ph = torch.clamp((torch.ceil(torch.as_tensor(ih) / sh) - 1) * sh + kh - ih, min=0).int()
        pw = torch.clamp((torch.ceil(torch.as_tensor(iw) / sw) - 1) * sw + kw - iw, min=0).int()
        return super().forward(F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2]))


def lite(width, depth, tf_same=False):
    """EfficientNet-Lite: EfficientNet without squeeze-excitation, ReLU6 instead of SiLU (and,
    with tf_same, TensorFlow's "same" padding on strided convolutions, as timm's port has)."""
    settings, last = efficientnet._efficientnet_conf('efficientnet_b0', width_mult=width, depth_mult=depth)
    m = efficientnet.EfficientNet(settings, 0.2, last_channel=last)

    def strip(module):
        for name, child in module.named_children():
            if isinstance(child, torchvision.ops.SqueezeExcitation):
                setattr(module, name, nn.Identity())
            elif isinstance(child, nn.SiLU):
                setattr(module, name, nn.ReLU6())
            elif tf_same and isinstance(child, nn.Conv2d) and child.stride != (1, 1):
                child.__class__ = Conv2dSame
                child.padding = (0, 0)
            else:
                strip(child)

    strip(m)
    return m


def efficientnet_lite0():
    # As timm's tf_efficientnet_lite0 (the zoo's file): TensorFlow "same" padding, computed in the graph.
    m = lite(1.0, 1.0, tf_same=True)
    return Head(m, pooled, m.classifier)


def efficientnet_lite4_nhwc():
    # As the zoo's efficientnet-lite4-11.onnx (a TensorFlow export): NHWC input [1, 224, 224, 3],
    # softmax probabilities out.
    m = lite(1.4, 1.8)
    return Head(m, pooled, m.classifier, nhwc=True, softmax=True)


def convnext_tiny():
    m = torchvision.models.convnext_tiny()
    # classifier: LayerNorm2d, Flatten, Linear; features are the normalised pooled vector.
    return Head(m, lambda m, x: m.classifier[:-1](m.avgpool(m.features(x))), m.classifier[-1])


def vit_s16():
    m = torchvision.models.VisionTransformer(image_size=224, patch_size=16, num_layers=12, num_heads=6, hidden_dim=384, mlp_dim=1536)

    def class_token(m, x):
        x = m._process_input(x)
        token = m.class_token.expand(x.shape[0], -1, -1)
        return m.encoder(torch.cat([token, x], dim=1))[:, 0]

    return Head(m, class_token, m.heads)


class TimmAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class TimmBlock(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = TimmAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TimmViT(nn.Module):
    """timm's VisionTransformer as the zoo's vit_small_patch16_224 has it: batch and token counts
    taken from the input's shape (Shape nodes in the export), attention written out."""

    def __init__(self, dim=384, depth=12, heads=6, mlp=1536, patch=16, size=224, classes=1000):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, (size // patch) ** 2 + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[TimmBlock(dim, heads, mlp) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)


def vit_s16_timm():
    m = TimmViT()

    def class_token(m, x):
        x = m.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([m.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + m.pos_embed
        return m.norm(m.blocks(x))[:, 0]

    return Head(m, class_token, m.head)


def resnet50():
    m = torchvision.models.resnet50()

    def features(m, x):
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        return torch.flatten(m.avgpool(m.layer4(m.layer3(m.layer2(m.layer1(x))))), 1)

    return Head(m, features, m.fc)


def mobilenet_v2_dynamic():
    # As the zoo's mobilenetv2-12.onnx: the batch axis is dynamic ("batch_size").
    m = torchvision.models.mobilenet_v2()
    return Head(m, lambda m, x: torch.flatten(nn.functional.adaptive_avg_pool2d(m.features(x), 1), 1), m.classifier)


# name: (build, zoo id it stands in for, NHWC input, dynamic batch)
STANDINS = {
    'mobilenetv3_large': (mobilenet_v3_large, 'mobilenetv3_large_100', False, False),
    'efficientnet_b0': (efficientnet_b0, 'efficientnet_b0', False, False),
    'efficientnet_lite0': (efficientnet_lite0, 'tf_efficientnet_lite0', False, False),
    'convnext_tiny': (convnext_tiny, 'convnext_tiny_in22ft1k', False, False),
    'vit_s16': (vit_s16, 'vit_small_patch16_224', False, False),
    'vit_s16_timm': (vit_s16_timm, 'vit_small_patch16_224', False, False),
    'resnet50': (resnet50, 'resnet50', False, False),
    'mobilenet_v2': (mobilenet_v2_dynamic, 'mobilenet_v2-1.0-fp32-12', False, True),
    'efficientnet_lite4_nhwc': (efficientnet_lite4_nhwc, 'efficientnet-lite4-11', True, False),
}


def seeded_(model, seed):
    """Random weights, and batch-norm statistics that are not the identity, so they show."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.copy_((torch.rand(mod.running_mean.shape, generator=g) - 0.5) * 0.2)
                mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=g) * 0.5 + 0.75)
                mod.weight.copy_(torch.rand(mod.weight.shape, generator=g) * 0.5 + 0.75)
                mod.bias.copy_((torch.rand(mod.bias.shape, generator=g) - 0.5) * 0.2)


def export(name, out_dir):
    build, zoo, nhwc, dynamic = STANDINS[name]
    torch.manual_seed(1)
    model = build().eval()
    seeded_(model, 2)
    shape = [1, 224, 224, 3] if nhwc else [1, 3, 224, 224]
    x = torch.rand(shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        logits, features = model(x)
    file = os.path.join(out_dir, f'{name}.onnx')
    tmp = f'{file}.tmp-{os.getpid()}'
    input_name = 'images' if nhwc else 'x'
    # Not under no_grad: there, PyTorch's attention takes a fused fast path that has no ONNX export.
    torch.onnx.export(
        model,
        x,
        tmp,
        opset_version=OPSET,
        input_names=[input_name],
        output_names=['logits', 'reference_features'],
        dynamic_axes={input_name: {0: 'batch_size'}, 'logits': {0: 'batch_size'}, 'reference_features': {0: 'batch_size'}} if dynamic else None,
        do_constant_folding=True,
    )
    os.replace(tmp, file)
    return {
        'name': name,
        'zoo': zoo,
        'file': f'{name}.onnx',
        'input': input_name,
        'layout': 'nhwc' if nhwc else 'nchw',
        'resolution': 224,
        'dynamicBatch': dynamic,
        'features': int(features.shape[1]),
        'classes': int(logits.shape[1]),
        'referenceOutput': 'reference_features',
    }


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out_dir = sys.argv[1]
    names = sys.argv[2:] or list(STANDINS)
    unknown = [n for n in names if n not in STANDINS]
    if unknown:
        sys.exit(f'unknown stand-ins: {unknown}; known: {list(STANDINS)}')
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    made = [export(n, out_dir) for n in names]
    with open(os.path.join(out_dir, 'standins.json'), 'w') as f:
        json.dump({'torch': torch.__version__, 'torchvision': torchvision.__version__, 'opset': OPSET, 'standins': made}, f, indent=1)


if __name__ == '__main__':
    main()
