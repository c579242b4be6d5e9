"""PyTorch's side of `npm run bench:train -- --peer torch` (bench/train.ts starts it with
/usr/bin/python3). Prints one JSON object per line.

  peer.py count --archs mlp,lenet --size 28 --channels 1 --classes 10
      {"arch": ..., "total": ..., "trainable": ...} per architecture (TF.js's way of counting)
  peer.py bench --arch lenet --size 28 --channels 1 --classes 4 --threads 2 --lr 0.002 ...
      {"arch": ..., "steps": {"channels-first": img/s, "channels-last": img/s}, "layout": best,
       "e2e": img/s, "e2eSeconds": s}

Steps only: batches of random pixels already in memory as float tensors, Adam, the loss and the
correct count read back every step (as Loupe's loop does); best of 3 timed runs after warm-up.
End to end: an epoch as Loupe's replica runs one: a shuffled order over uint8 HWC pixels held in
memory, each batch scaled to [0, 1] and augmented (random shifts with zero padding, left-right
flips, brightness, all vectorised over the batch), one step each; then the held-out set predicted
in batches of 256 (Loupe's EVAL_BATCH). Three epochs: the faster of the second and third counts
(the first warms up).
"""

import argparse
import json
import sys
import time

import numpy as np
import torch
from torch import nn

# The models live with the training bundle's script (src/main/services/bundle/python), which ships them.
sys.path.insert(0, __import__('os').path.join(__import__('os').path.dirname(__file__), '..', '..', 'src', 'main', 'services', 'bundle', 'python'))
from loupe_models import ARCHITECTURES, build, param_counts  # noqa: E402

EVAL_BATCH = 256


def emit(obj):
    print(json.dumps(obj), flush=True)


def optimizer_for(model, lr, weight_decay):
    # Loupe adds weight decay to the gradients of kernels only (rank >= 2), as Adam's L2 here does;
    # epsilon 1e-7 is TF.js's (PyTorch's default is 1e-8).
    decayed = [p for p in model.parameters() if p.dim() >= 2]
    plain = [p for p in model.parameters() if p.dim() < 2]
    groups = [{'params': decayed, 'weight_decay': weight_decay}, {'params': plain, 'weight_decay': 0.0}]
    return torch.optim.Adam(groups, lr=lr, eps=1e-7)


def to_layout(x_nhwc, layout):
    """NHWC float -> the model's NCHW view, in channels-first or channels-last memory."""
    x = x_nhwc.permute(0, 3, 1, 2)
    return x.contiguous(memory_format=torch.channels_last if layout == 'channels-last' else torch.contiguous_format)


def make_model(args, layout):
    torch.manual_seed(1)
    model = build(args.arch, args.size, args.size, args.channels, args.classes)
    if layout == 'channels-last':
        model = model.to(memory_format=torch.channels_last)
    model.train()
    return model


def step(model, opt, loss_fn, x, y):
    opt.zero_grad(set_to_none=True)
    logits = model(x)
    loss = loss_fn(logits, y)
    loss.backward()
    opt.step()
    return loss.item(), int((logits.argmax(1) == y).sum())


def steps_only(args, layout):
    model = make_model(args, layout)
    opt = optimizer_for(model, args.lr, args.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(2)
    batches = max(1, args.images // args.batch)
    xs = [to_layout(torch.rand(args.batch, args.size, args.size, args.channels, generator=g), layout) for _ in range(min(batches, 8))]
    ys = [torch.randint(0, args.classes, (args.batch,), generator=g) for _ in range(len(xs))]
    for i in range(3):
        step(model, opt, loss_fn, xs[i % len(xs)], ys[i % len(ys)])
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        for i in range(batches):
            step(model, opt, loss_fn, xs[i % len(xs)], ys[i % len(ys)])
        best = max(best, batches * args.batch / (time.perf_counter() - started))
    return best


def augment(x, shift, flip, brightness, g):
    """x: a batch of NHWC floats in [0, 1]; Loupe's augmentBatch, vectorised."""
    n, h, w, _ = x.shape
    rows = torch.arange(h).expand(n, h)
    cols = torch.arange(w).expand(n, w)
    if flip:
        flipped = torch.rand(n, generator=g) < 0.5
        cols = torch.where(flipped[:, None], w - 1 - cols, cols)
    if shift > 0:
        dx = torch.randint(-shift, shift + 1, (n, 1), generator=g)
        dy = torch.randint(-shift, shift + 1, (n, 1), generator=g)
        padded = nn.functional.pad(x, (0, 0, shift, shift, shift, shift))
        x = padded[torch.arange(n)[:, None, None], (rows - dy + shift)[:, :, None], (cols - dx + shift)[:, None, :]]
    elif flip:
        x = x[torch.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    if brightness > 0:
        x = (x + (torch.rand(n, 1, 1, 1, generator=g) * 2 - 1) * brightness).clamp_(0, 1)
    return x


def end_to_end(args, layout):
    model = make_model(args, layout)
    opt = optimizer_for(model, args.lr, args.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(3)
    shape = (args.size, args.size, args.channels)
    train_x = torch.from_numpy(rng.integers(0, 256, (args.train, *shape), dtype=np.uint8))
    train_y = torch.from_numpy(rng.integers(0, args.classes, args.train)).long()
    val_x = torch.from_numpy(rng.integers(0, 256, (args.val, *shape), dtype=np.uint8))
    val_y = torch.from_numpy(rng.integers(0, args.classes, args.val)).long()
    g = torch.Generator().manual_seed(4)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(args.train, generator=g)
        for b in range(0, args.train, args.batch):
            idx = order[b:b + args.batch]
            x = augment(train_x[idx].float().mul_(1 / 255), args.shift, args.flip, args.brightness, g)
            step(model, opt, loss_fn, to_layout(x, layout), train_y[idx])
        model.eval()
        correct = 0
        loss_sum = 0.0
        with torch.no_grad():
            for b in range(0, args.val, EVAL_BATCH):
                x = to_layout(val_x[b:b + EVAL_BATCH].float().mul_(1 / 255), layout)
                logits = model(x)
                loss_sum += float(nn.functional.cross_entropy(logits, val_y[b:b + EVAL_BATCH], reduction='sum'))
                correct += int((logits.argmax(1) == val_y[b:b + EVAL_BATCH]).sum())
        times.append(time.perf_counter() - started)
    seconds = min(times[1:])
    return args.train / seconds, seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('mode', choices=['count', 'bench'])
    parser.add_argument('--archs', default=','.join(ARCHITECTURES))
    parser.add_argument('--arch')
    parser.add_argument('--size', type=int, required=True)
    parser.add_argument('--channels', type=int, required=True)
    parser.add_argument('--classes', type=int, required=True)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--lr', type=float, default=0.002)
    parser.add_argument('--weight-decay', type=float, default=0.0)
    parser.add_argument('--images', type=int, default=2048)
    parser.add_argument('--train', type=int, default=2048)
    parser.add_argument('--val', type=int, default=256)
    parser.add_argument('--shift', type=int, default=0)
    parser.add_argument('--flip', action='store_true')
    parser.add_argument('--brightness', type=float, default=0.0)
    args = parser.parse_args()

    if args.mode == 'count':
        for arch in args.archs.split(','):
            total, trainable = param_counts(build(arch, args.size, args.size, args.channels, args.classes))
            emit({'arch': arch, 'total': total, 'trainable': trainable})
        return

    torch.set_num_threads(args.threads)
    layouts = ['channels-first'] if args.arch == 'mlp' else ['channels-first', 'channels-last']
    steps = {layout: steps_only(args, layout) for layout in layouts}
    best = max(steps, key=steps.get)
    rate, seconds = end_to_end(args, best)
    emit({'arch': args.arch, 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'steps': steps, 'layout': best, 'e2e': rate, 'e2eSeconds': seconds})


if __name__ == '__main__':
    main()
