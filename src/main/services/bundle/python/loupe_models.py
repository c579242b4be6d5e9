"""The five architectures of src/main/services/training/architectures.ts, written in PyTorch
layer for layer: the same layers, shapes, padding, activations, batch-norm placement and
dropout, so the same parameter counts (test/bench/torch-peer.test.ts checks them).

Where the two frameworks differ, the choice made here and why:
- The models end in logits: nn.CrossEntropyLoss applies the log-softmax that Loupe's graph
  computes from its softmax output (the same loss, one node fewer).
- Batch norm uses Keras's defaults (momentum 0.99, i.e. PyTorch's 0.01; epsilon 1e-3).
- A strided 3x3 'same' convolution pads 1 on every side (PyTorch's way); Keras pads 0 before
  and 1 after on even inputs. The output shape and the work are the same.
- Flatten reads channels-first here and channels-last in Loupe: the dense layer's weights are a
  permutation of each other, their count is the same.
"""

import torch
from torch import nn


def _bn(features):
    return nn.BatchNorm2d(features, eps=1e-3, momentum=0.01)


def _conv_out(size, kernel, stride=1, pad=0):
    return (size + 2 * pad - kernel) // stride + 1


def mlp(height, width, channels, classes):
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(height * width * channels, 128), nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(128, classes),
    )


def lenet(height, width, channels, classes):
    h, w = height // 2, width // 2  # conv 5x5 'same', pool 2
    h, w = _conv_out(h, 5) // 2, _conv_out(w, 5) // 2  # conv 5x5 'valid', pool 2
    return nn.Sequential(
        nn.Conv2d(channels, 6, 5, padding=2), nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.Conv2d(6, 16, 5), nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.Flatten(),
        nn.Linear(16 * h * w, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, classes),
    )


def _conv_bn_relu(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), _bn(cout), nn.ReLU()]


def cnn_small(height, width, channels, classes):
    h, w = height // 8, width // 8  # three 'same' convolutions, each followed by pool 2
    return nn.Sequential(
        *_conv_bn_relu(channels, 32), nn.MaxPool2d(2, 2),
        *_conv_bn_relu(32, 64), nn.MaxPool2d(2, 2),
        *_conv_bn_relu(64, 128), nn.MaxPool2d(2, 2),
        nn.Flatten(),
        nn.Linear(128 * h * w, 128), nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(128, classes),
    )


def keras_cifar(height, width, channels, classes):
    h, w = _conv_out(height, 3) // 2, _conv_out(width, 3) // 2
    h, w = _conv_out(h, 3) // 2, _conv_out(w, 3) // 2
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        nn.Conv2d(64, 64, 3), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(64 * h * w, 512), nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(512, classes),
    )


class ResidualBlock(nn.Module):
    def __init__(self, cin, filters, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, filters, 3, stride=stride, padding=1, bias=False)
        self.bn1 = _bn(filters)
        self.conv2 = nn.Conv2d(filters, filters, 3, padding=1, bias=False)
        self.bn2 = _bn(filters)
        self.shortcut = None
        if stride != 1 or cin != filters:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, filters, 1, stride=stride, bias=False), _bn(filters))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class ResnetSmall(nn.Module):
    def __init__(self, height, width, channels, classes):
        super().__init__()
        stem_stride = 2 if min(height, width) > 48 else 1
        self.stem = nn.Sequential(nn.Conv2d(channels, 32, 3, stride=stem_stride, padding=1, bias=False), _bn(32), nn.ReLU())
        self.blocks = nn.Sequential(ResidualBlock(32, 32, 1), ResidualBlock(32, 64, 2), ResidualBlock(64, 128, 2))
        self.head = nn.Linear(128, classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.head(x.mean(dim=(2, 3)))


ARCHITECTURES = {
    'mlp': mlp,
    'lenet': lenet,
    'cnn-small': cnn_small,
    'keras-cifar': keras_cifar,
    'resnet-small': ResnetSmall,
}


def build(arch, height, width, channels, classes):
    return ARCHITECTURES[arch](height, width, channels, classes)


class FlipAverage(nn.Module):
    """A from-scratch model whose predictions average the image and its mirror image, as Loupe's
    saved model does where the plan says `flipAverage`: logits in training; in evaluation the log
    of the mean of the two probabilities (so a softmax of it is that mean). Input NCHW."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        if self.training:
            return self.model(x)
        p = (torch.softmax(self.model(x), dim=1) + torch.softmax(self.model(x.flip(3)), dim=1)) / 2
        return torch.log(p)


def param_counts(model):
    """(total, trainable) as TF.js counts them: batch norm's moving mean and variance are weights
    there (not trainable) and buffers here."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    params = sum(p.numel() for p in model.parameters())
    stats = sum(m.running_mean.numel() + m.running_var.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    return params + stats, trainable


def _he_normal(weight):
    # Keras's he_normal: a normal truncated at two standard deviations, stddev sqrt(2 / fan_in).
    fan_in = weight[0].numel()
    std = (2.0 / fan_in) ** 0.5 / 0.87962566103423978  # TF's truncation correction
    nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)


def keras_init(model, arch):
    """The initial weights as Loupe draws them (its TF.js layers): Glorot uniform kernels and zero
    biases by default, He normal for the bias-free convolutions of cnn-small and resnet-small and
    cnn-small's hidden dense layer; batch norm starts at scale 1, shift 0 in both."""
    linears = []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if isinstance(m, nn.Conv2d) and m.bias is None:
                _he_normal(m.weight)
            else:
                nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
            if isinstance(m, nn.Linear):
                linears.append(m)
    if arch == 'cnn-small' and linears:
        _he_normal(linears[0].weight)
    return model


class TransferModel(nn.Module):
    """A transfer run's model: the backbone (onnx_graph.OnnxGraph, pixels 0..255 NHWC in, features
    out) and Loupe's dense head (architectures.ts denseHead: dense 1024 ReLU, dropout 0.2, dense
    to the classes; He normal, then Glorot uniform kernels as in Loupe). It takes what the
    from-scratch models take (NCHW in [0, 1]) and gives logits; with flip averaging, evaluation
    gives the log of the mean of the image's and its mirror image's probabilities (so a softmax
    of it is that mean, as Loupe's model averages them).

    `train_backbone` (False until the plan's head-only warm-up epochs are over, always False for
    'head'): whether the backbone runs with gradients and in training mode.
    """

    def __init__(self, backbone, classes, flip_average=False):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Sequential(nn.Linear(backbone.features, 1024), nn.ReLU(), nn.Dropout(0.2), nn.Linear(1024, classes))
        _he_normal(self.head[0].weight)
        nn.init.zeros_(self.head[0].bias)
        nn.init.xavier_uniform_(self.head[3].weight)
        nn.init.zeros_(self.head[3].bias)
        self.flip_average = flip_average
        self.train_backbone = False

    def train(self, mode=True):
        super().train(mode)
        self.backbone.train(mode and self.train_backbone)
        return self

    def set_train_backbone(self, on):
        """The backbone trains (its trainable part: requires_grad) or stays frozen."""
        self.train_backbone = on
        for p in self.backbone.trainable_parameters():
            p.requires_grad_(on)
        self.train(self.training)

    def _logits(self, pixels):
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.train_backbone and self.training):
            features = self.backbone(pixels)
        return self.head(features)

    def forward(self, x):
        pixels = x.permute(0, 2, 3, 1) * 255.0
        if self.flip_average and not self.training:
            p = (torch.softmax(self._logits(pixels), dim=1) + torch.softmax(self._logits(pixels.flip(2)), dim=1)) / 2
            return torch.log(p)
        return self._logits(pixels)


def build_transfer(bundle, config, classes):
    """The transfer model of a bundle's plan: its backbone graph with the weights the plan trains."""
    from onnx_graph import OnnxGraph, load_graph
    ft = config['backbone'].get('fineTune') or {'mode': 'head', 'frozenBatchNorm': True}
    trainable = {'head': 'none', 'blocks': 'cut', 'all': 'all'}[ft['mode']]
    spec, tensors = load_graph(bundle)
    graph = OnnxGraph(spec, tensors, trainable, ft.get('frozenBatchNorm', True))
    model = TransferModel(graph, classes, bool(config['backbone'].get('flipAverage')))
    model.set_train_backbone(False)
    return model
