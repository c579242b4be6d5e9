#!/usr/bin/env python3
"""Trains a Loupe run's model with PyTorch, on one machine or many (see README.md beside it).

    python train.py                                   # one process (a GPU if there is one)
    torchrun --nproc_per_node=N train.py              # N processes: DDP, NCCL on GPUs, Gloo on CPUs
    torchrun --nproc_per_node=N train.py --resume     # go on from outputs/checkpoint.pt

It reads manifest.json (the plan Loupe made: architecture, input size, epochs, batch, optimizer,
learning-rate schedule, augmentation, early stopping) and the WebDataset-layout tar shards in
data/ (<key>.png: the image exactly as Loupe feeds it to the model; <key>.cls: the class index),
and writes into outputs/: checkpoint.pt after every epoch, model.onnx (with Loupe's
preprocessing and labels in its metadata), predictions.json and .csv (every class probability
of each val and test image) and outputs.json (where, how and how long it trained, with the
sha256 of each output), which `loupe import-run` reads to bring the model home.

Needs only torch (torchvision and Pillow are used where present, to decode PNG). The
architectures are those of Loupe, layer for layer (loupe_models.py); the optimizer, schedule and
augmentation follow Loupe's loop (src/main/services/training in Loupe).
"""

import argparse
import csv
import hashlib
import inspect
import io
import json
import math
import os
import platform
import random
import socket
import sys
import tarfile
import time
import warnings

import torch
import torch.distributed as dist
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from loupe_models import FlipAverage, TransferModel, build, build_transfer, keras_init  # noqa: E402

EVAL_BATCH = 256
# With one input channel a [N, 1, H, W] batch is both layouts at once; DDP's note about it is noise.
warnings.filterwarnings('ignore', message='Grad strides do not match bucket view strides')
SHUFFLE_BUFFER = 2000


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--bundle', default=HERE, help='the bundle folder (manifest.json, data/); default: this script\'s folder')
    p.add_argument('--out', default=None, help='where outputs go; default: <bundle>/outputs')
    p.add_argument('--resume', action='store_true', help='go on from <out>/checkpoint.pt')
    p.add_argument('--epochs', type=int, default=None, help='override the plan\'s epochs')
    p.add_argument('--batch-size', type=int, default=None, help='override the plan\'s global batch (split across processes)')
    p.add_argument('--lr', type=float, default=None, help='override the plan\'s peak learning rate')
    p.add_argument('--workers', type=int, default=2, help='data-loading processes per training process')
    p.add_argument('--cpu', action='store_true', help='train on the CPU even where there is a GPU')
    p.add_argument('--no-amp', action='store_true', help='no mixed precision on GPUs')
    p.add_argument('--max-steps', type=int, default=None, help='at most this many steps per epoch (quick checks)')
    p.add_argument('--head-epochs', type=int, default=None, help='transfer runs that fine-tune: override the plan\'s head-only warm-up epochs')
    return p.parse_args()


# ---------------------------------------------------------------------------------------------
# Data: WebDataset-layout tar shards read with tarfile, split over processes and loader workers.

def tar_samples(path):
    """(key, {extension: bytes}) for each sample of a shard, in order (members grouped by key)."""
    key, sample = None, {}
    with tarfile.open(path, 'r') as tar:
        for member in tar:
            if not member.isfile():
                continue
            base = os.path.basename(member.name)
            k, _, ext = base.partition('.')
            if k != key and sample:
                yield key, sample
                sample = {}
            key = k
            sample[ext] = tar.extractfile(member).read()
    if sample:
        yield key, sample


def decode_image(data, channels):
    """HWC uint8 tensor of a PNG, lossless: the pixels Loupe decoded, bit for bit."""
    try:
        from PIL import Image
        import numpy as np
        image = Image.open(io.BytesIO(data))
        image = image.convert('L' if channels == 1 else 'RGB')
        array = np.asarray(image, dtype=np.uint8)
        if channels == 1:
            array = array[:, :, None]
        return torch.from_numpy(array.copy())
    except ImportError:
        from torchvision.io import ImageReadMode, decode_image as tv_decode
        mode = ImageReadMode.GRAY if channels == 1 else ImageReadMode.RGB
        return tv_decode(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode).permute(1, 2, 0).contiguous()


class ShardStream(torch.utils.data.IterableDataset):
    """The samples of some shards, this process's and loader worker's share of them.

    Shards are split over processes x workers when there are enough of them, else samples are
    (every reader skips the others' samples). For training the stream repeats, reshuffled, for as
    long as it is read: each process runs the same number of steps per epoch, which DDP needs.
    """

    def __init__(self, shards, channels, rank, world, repeat, seed, balance=None):
        self.shards, self.channels, self.rank, self.world = list(shards), channels, rank, world
        self.repeat, self.seed, self.epoch = repeat, seed, 0
        # Loupe's balanced sampling (config.balance): class k's images come balance[k] times a pass.
        self.balance = balance

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        workers, wid = (info.num_workers, info.id) if info else (1, 0)
        parts, part = self.world * workers, self.rank * workers + wid
        by_shard = len(self.shards) >= parts
        rng = random.Random(self.seed * 1_000_003 + self.epoch * 7919 + part)
        buffer = []
        passes = 0
        if by_shard and not self.shards[part::parts]:
            by_shard = False
        while True:
            shards = list(self.shards)
            if self.repeat:
                rng.shuffle(shards)
            if by_shard:
                shards = shards[part::parts]
            index, taken = 0, 0
            for shard in shards:
                for key, sample in tar_samples(shard):
                    mine = by_shard or parts == 1 or index % parts == part
                    index += 1
                    if not mine:
                        continue
                    taken += 1
                    item = (decode_image(sample.get('png') or sample['jpg'], self.channels), int(sample['cls']), key)
                    if not self.repeat:
                        yield item
                        continue
                    for _ in range(self.balance[item[1]] if self.balance else 1):
                        buffer.append(item)
                        if len(buffer) >= SHUFFLE_BUFFER:
                            yield buffer.pop(rng.randrange(len(buffer)))
            passes += 1
            if not self.repeat:
                return
            if taken == 0:
                # Fewer samples than readers: this one reads them all rather than none (a reader
                # that never yields would stall the loader).
                by_shard, parts = False, 1
            rng.shuffle(buffer)
            while len(buffer) > SHUFFLE_BUFFER // 2:
                yield buffer.pop()


def collate(items):
    return torch.stack([x for x, _, _ in items]), torch.tensor([y for _, y, _ in items]), [k for _, _, k in items]


def loader(stream, batch, workers):
    return torch.utils.data.DataLoader(stream, batch_size=batch, num_workers=workers, collate_fn=collate, persistent_workers=False)


# ---------------------------------------------------------------------------------------------
# The plan: augmentation and learning rate as Loupe's loop applies them.

def augment(x, aug):
    """Random shifts (zero padding), left-right flips and brightness, on a uint8 NHWC batch, as
    Loupe's augmentBatch does; returns float NHWC in [0, 1]."""
    n, h, w, _ = x.shape
    dev = x.device
    ys = torch.arange(h, device=dev).expand(n, h)
    xs = torch.arange(w, device=dev).expand(n, w)
    if aug.get('flip'):
        flip = torch.rand(n, 1, device=dev) < 0.5
        xs = torch.where(flip, w - 1 - xs, xs)
    shift = int(aug.get('shift', 0))
    if shift > 0:
        ys = ys - torch.randint(-shift, shift + 1, (n, 1), device=dev)
        xs = xs - torch.randint(-shift, shift + 1, (n, 1), device=dev)
    valid = ((ys >= 0) & (ys < h))[:, :, None] & ((xs >= 0) & (xs < w))[:, None, :]
    batch = torch.arange(n, device=dev)[:, None, None]
    out = x[batch, ys.clamp(0, h - 1)[:, :, None], xs.clamp(0, w - 1)[:, None, :]].float() * (1 / 255)
    bright = float(aug.get('brightness', 0))
    if bright > 0:
        out = (out + (torch.rand(n, 1, 1, 1, device=dev) * 2 - 1) * bright).clamp(0, 1)
    return out * valid[:, :, :, None]


def learning_rate_at(config, epoch, progress):
    """Loupe's learningRateAt: constant, step decay, or cosine with a linear warm-up (one-cycle)."""
    s, lr = config['schedule'], config['learningRate']
    if s['kind'] == 'step':
        return lr * s['gamma'] ** math.floor(epoch / s['stepSize'])
    if s['kind'] == 'cosine':
        warmup = min(0.5, max(0.0, s.get('warmup') or 0.0))
        if progress < warmup:
            return lr * progress / warmup
        p = (progress - warmup) / (1 - warmup) if warmup > 0 else progress
        return lr * (1 + math.cos(math.pi * min(1.0, p))) / 2
    return lr


def make_optimizer(model, config, lr):
    # Loupe adds weight decay to the gradients of kernels only (rank >= 2), as these L2 groups do;
    # Adam's epsilon 1e-7 is TF.js's (PyTorch's default is 1e-8). Each group's rate is the
    # schedule's times its lr_scale: 1, and the plan's lower rate for a transfer run's backbone.
    def split(params, scale):
        return [{'params': [p for p in params if p.dim() >= 2], 'weight_decay': config['weightDecay'], 'lr_scale': scale},
                {'params': [p for p in params if p.dim() < 2], 'weight_decay': 0.0, 'lr_scale': scale}]
    if isinstance(model, TransferModel):
        groups = split(list(model.head.parameters()), 1.0)
        ft = config['backbone'].get('fineTune') or {}
        groups += split(model.backbone.trainable_parameters(), ft.get('backboneLrScale', 1.0))
    else:
        groups = split(list(model.parameters()), 1.0)
    groups = [g for g in groups if g['params']]
    if config['optimizer'] == 'sgd':
        return torch.optim.SGD(groups, lr=lr, momentum=config['momentum'])
    return torch.optim.Adam(groups, lr=lr, eps=1e-7)


def to_model_input(x_nhwc, cuda):
    # Channels-last memory on GPUs (tensor cores like it); plain NCHW on CPUs.
    x = x_nhwc.permute(0, 3, 1, 2)
    return x.contiguous(memory_format=torch.channels_last if cuda else torch.contiguous_format)


# ---------------------------------------------------------------------------------------------
# The model out: ONNX with Loupe's preprocessing inside and its metadata.

class Exported(torch.nn.Module):
    """Loupe's interface: float pixels [N, H, W, C] in 0..255, probabilities [N, K] out."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixels):
        x = (pixels * (1.0 / 255.0)).permute(0, 3, 1, 2)
        return torch.softmax(self.model(x), dim=1)


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number, data):
    return _varint((number << 3) | 2) + _varint(len(data)) + data


def with_metadata(onnx_bytes, metadata):
    """Appends ModelProto.metadata_props (field 14) entries: protobuf lets repeated fields come
    anywhere in a message, so no onnx package is needed."""
    extra = b''.join(_field(14, _field(1, k.encode()) + _field(2, v.encode())) for k, v in metadata.items())
    return onnx_bytes + extra


def export_onnx(model, manifest, path):
    c = manifest['config']
    wrapped = Exported(model).eval()
    dummy = torch.zeros(1, c['height'], c['width'], c['channels'])
    buf = io.BytesIO()
    # The TorchScript exporter: torch 1.13 has only it; newer torch defaults to the dynamo one,
    # which needs onnxscript installed.
    extra = {'dynamo': False} if 'dynamo' in inspect.signature(torch.onnx.export).parameters else {}
    torch.onnx.export(wrapped, dummy, buf, input_names=['pixels'], output_names=['probabilities'],
                      dynamic_axes={'pixels': {0: 'n'}, 'probabilities': {0: 'n'}}, opset_version=13, **extra)
    labels = [k['name'] for k in manifest['classes']]
    meta = {
        'loupe.labels': json.dumps(labels),
        'loupe.preprocess': json.dumps(manifest['preprocess']),
        'loupe.run': json.dumps({'project': manifest['project']['name'], 'runId': manifest['run']['id'], 'arch': c['arch'],
                                 'backbone': (c.get('backbone') or {}).get('name'), 'trainedBy': 'pytorch'}),
    }
    with open(path + '.partial', 'wb') as f:
        f.write(with_metadata(buf.getvalue(), meta))
    os.replace(path + '.partial', path)


# ---------------------------------------------------------------------------------------------

def sha256_of(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def save_atomic(obj, path):
    torch.save(obj, path + '.partial')
    os.replace(path + '.partial', path)


def all_sum(values, device, world):
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if world > 1:
        dist.all_reduce(t)
    return t.tolist()


def evaluate(model, shards, channels, rank, world, device, cuda, workers):
    """Loss, accuracy and count over a split, each process on its share."""
    model.eval()
    loss_sum, correct, count = 0.0, 0.0, 0.0
    with torch.no_grad():
        for x, y, _ in loader(ShardStream(shards, channels, rank, world, False, 0), EVAL_BATCH, workers):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            logits = model(to_model_input(x.float() * (1 / 255), cuda)).float()
            loss_sum += F.cross_entropy(logits, y, reduction='sum').item()
            correct += (logits.argmax(1) == y).sum().item()
            count += len(y)
    loss_sum, correct, count = all_sum([loss_sum, correct, count], device, world)
    model.train()
    return (loss_sum / count, correct / count) if count > 0 else (None, None)


def predict(model, shards, channels, device, cuda):
    """Every class probability of each image of a split, in fp32 (no autocast, no TF32), in order."""
    keys, labels, probs = [], [], []
    model.eval()
    with torch.no_grad():
        for x, y, k in loader(ShardStream(shards, channels, 0, 1, False, 0), EVAL_BATCH, 0):
            p = torch.softmax(model(to_model_input(x.to(device).float() * (1 / 255), cuda)).float(), dim=1)
            keys += k
            labels += y.tolist()
            probs += p.cpu().tolist()
    return {'keys': keys, 'labels': labels, 'probs': probs}


def main():
    args = parse_args()
    bundle = os.path.abspath(args.bundle)
    out = os.path.abspath(args.out or os.path.join(bundle, 'outputs'))
    with open(os.path.join(bundle, 'manifest.json')) as f:
        manifest = json.load(f)
    config = dict(manifest['config'])
    if args.epochs:
        config['epochs'] = args.epochs
    if args.batch_size:
        config['batchSize'] = args.batch_size
    if args.lr:
        config['learningRate'] = args.lr
    if args.head_epochs is not None and (config.get('backbone') or {}).get('fineTune'):
        config['backbone'] = {**config['backbone'], 'fineTune': {**config['backbone']['fineTune'], 'headEpochs': args.head_epochs}}

    world = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    cuda = torch.cuda.is_available() and not args.cpu
    if cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device('cuda', local_rank)
    else:
        device = torch.device('cpu')
    backend = 'nccl' if cuda else 'gloo'
    if world > 1:
        dist.init_process_group(backend)
    started = time.time()
    if rank == 0:
        os.makedirs(out, exist_ok=True)

    shards = {s: [os.path.join(bundle, p) for p in manifest['splits'][s]['shards']] for s in ('train', 'val', 'test')}
    counts = {s: manifest['splits'][s]['images'] for s in ('train', 'val', 'test')}
    channels, classes = config['channels'], len(manifest['classes'])
    local_batch = max(1, math.ceil(config['batchSize'] / world))
    balance = config.get('balance')
    distinct_train = counts['train']
    if balance:
        # The epoch's length counts the repeated images, as in Loupe.
        counts['train'] = sum(balance[x['label']] for x in manifest['samples'] if x['split'] == 'train')
    steps = max(1, math.ceil(counts['train'] / (local_batch * world)))
    if args.max_steps:
        steps = min(steps, args.max_steps)

    torch.manual_seed(config['seed'])
    transfer = config.get('backbone')
    if transfer:
        # The backbone's graph (backbone.json, .bin) run by onnx_graph.py, and Loupe's head on it.
        model = build_transfer(bundle, config, classes).to(device)
    else:
        model = keras_init(build(config['arch'], config['height'], config['width'], channels, classes), config['arch'])
        model = (FlipAverage(model) if config.get('flipAverage') else model).to(device)
    fine_tune = (transfer or {}).get('fineTune') or {}
    # 'blocks' and 'all' train the backbone after the head's warm-up epochs; 'head' never does.
    backbone_from = fine_tune.get('headEpochs', 0) if transfer and fine_tune.get('mode', 'head') != 'head' else None
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, config, config['learningRate'])
    amp_dtype = None
    if cuda and not args.no_amp:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.cuda.amp.GradScaler(enabled=amp_dtype == torch.float16)

    state = {'epoch': 0, 'history': [], 'best_score': -1.0, 'best_epoch': None, 'seconds': 0.0, 'wall': 0.0, 'stopped_early': False}
    checkpoint = os.path.join(out, 'checkpoint.pt')
    if args.resume and os.path.exists(checkpoint):
        saved = torch.load(checkpoint, map_location='cpu')
        model.load_state_dict(saved['model'])
        optimizer.load_state_dict(saved['optimizer'])
        scaler.load_state_dict(saved['scaler'])
        state = saved['state']
        started -= state['wall']  # the wall time of the sessions before this one counts too
        if rank == 0:
            print(f'Resuming after epoch {state["epoch"]} of {config["epochs"]}', flush=True)
    def wrap():
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if cuda else None) if world > 1 else model

    if backbone_from is not None and state['epoch'] >= backbone_from:
        model.set_train_backbone(True)
    net = wrap()

    if rank == 0:
        where = f'{world} x {torch.cuda.get_device_name(local_rank)}' if cuda else f'{world} CPU process(es)'
        what = config['arch'] + (f' on {transfer["title"]} ({transfer["resolution"]} px, fine-tuning: {fine_tune.get("mode", "head")})' if transfer else '')
        repeats = f' ({counts["train"]} a pass with balanced sampling\'s repeats)' if balance else ''
        print(f'{what} on {distinct_train} training images{repeats}, {config["epochs"]} epochs of {steps} steps '
              f'(batch {local_batch * world} = {world} x {local_batch}), {where}, {backend}'
              f'{", mixed precision " + str(amp_dtype).replace("torch.", "") if amp_dtype else ""}', flush=True)

    train_stream = ShardStream(shards['train'], channels, rank, world, True, config['seed'], balance)
    aug = config['augmentation']
    patience, patience_from = config.get('patience'), config.get('patienceFrom', 1)
    has_val = counts['val'] > 0
    while state['epoch'] < config['epochs'] and not state['stopped_early']:
        epoch = state['epoch']
        if backbone_from is not None and epoch >= backbone_from and not model.train_backbone:
            # The head has warmed up: the backbone's planned part trains too (DDP is made again to see its weights).
            model.set_train_backbone(True)
            del net  # the old DDP's reducer goes before the new one hooks the same weights
            net = wrap()
            if rank == 0:
                print(f'epoch {epoch + 1}: the backbone trains too ({fine_tune["mode"]}, at {fine_tune.get("backboneLrScale", 1)} x the rate)', flush=True)
        t0 = time.time()
        train_stream.set_epoch(epoch)
        batches = iter(loader(train_stream, local_batch, args.workers))
        net.train()
        totals = torch.zeros(3, dtype=torch.float64, device=device)
        lr = config['learningRate']
        for step in range(steps):
            lr = learning_rate_at(config, epoch, (epoch * steps + step) / (steps * config['epochs']))
            for g in optimizer.param_groups:
                g['lr'] = lr * g.get('lr_scale', 1.0)
            x, y, _ = next(batches)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            inputs = to_model_input(augment(x, aug), cuda)
            with torch.autocast(device_type='cuda' if cuda else 'cpu', dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
                logits = net(inputs)
                loss = F.cross_entropy(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            totals += torch.stack([loss.detach().double() * len(y), (logits.argmax(1) == y).sum().double(), torch.tensor(float(len(y)), dtype=torch.float64, device=device)])
        del batches
        if world > 1:
            dist.all_reduce(totals)
        train_loss, train_acc = (totals[0] / totals[2]).item(), (totals[1] / totals[2]).item()
        val_loss, val_acc = evaluate(net.module if world > 1 else net, shards['val'], channels, rank, world, device, cuda, min(args.workers, 1)) if has_val else (None, None)
        seconds = time.time() - t0
        state['seconds'] += seconds
        images = totals[2].item()
        state['history'].append({'epoch': epoch, 'trainLoss': train_loss, 'trainAccuracy': train_acc, 'valLoss': val_loss, 'valAccuracy': val_acc,
                                 'learningRate': lr, 'seconds': seconds, 'imagesPerSecond': images / seconds})
        score = val_acc if val_acc is not None else train_acc
        improved = score > state['best_score']
        if improved:
            state['best_score'], state['best_epoch'] = score, epoch + 1
        state['epoch'] = epoch + 1
        if patience and state['epoch'] >= (patience_from or 1) and state['epoch'] - state['best_epoch'] >= patience:
            state['stopped_early'] = True
        if rank == 0:
            print(f'epoch {epoch + 1}/{config["epochs"]}: loss {train_loss:.4f}, accuracy {train_acc:.4f}'
                  + (f', val loss {val_loss:.4f}, val accuracy {val_acc:.4f}' if has_val else '')
                  + f', lr {lr:.2e}, {seconds:.1f} s, {images / seconds:.0f} images/s', flush=True)
            if improved and config.get('restoreBest'):
                save_atomic(model.state_dict(), os.path.join(out, 'best.pt'))
            state['wall'] = time.time() - started
            save_atomic({'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'scaler': scaler.state_dict(), 'state': state}, checkpoint)
        if world > 1:
            dist.barrier()

    if rank == 0:
        best_file = os.path.join(out, 'best.pt')
        kept = state['best_epoch'] if config.get('restoreBest') and state['best_epoch'] and os.path.exists(best_file) else state['epoch']
        if kept != state['epoch']:
            model.load_state_dict(torch.load(best_file, map_location='cpu'))
        if cuda:
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        predictions = {s: predict(model, shards[s], channels, device, cuda) for s in ('val', 'test')}
        labels = [k['name'] for k in manifest['classes']]
        with open(os.path.join(out, 'predictions.json'), 'w') as f:
            json.dump({'classes': labels, **predictions}, f)
        with open(os.path.join(out, 'predictions.csv'), 'w', newline='') as f:
            w = csv.writer(f)
            w.writerow(['key', 'split', 'label', 'predicted', *labels])
            for s, p in predictions.items():
                for key, label, probs in zip(p['keys'], p['labels'], p['probs']):
                    w.writerow([key, s, labels[label], labels[max(range(classes), key=probs.__getitem__)], *probs])
        export_onnx(model.float().cpu(), manifest, os.path.join(out, 'model.onnx'))

        def accuracy(p):
            n = len(p['labels'])
            return sum(1 for y, q in zip(p['labels'], p['probs']) if max(range(classes), key=q.__getitem__) == y) / n if n else None

        outputs = {
            'format': 'loupe-training-outputs',
            'version': 1,
            'bundle': {'manifestSha256': sha256_of(os.path.join(bundle, 'manifest.json')), 'projectId': manifest['project']['id'], 'runId': manifest['run']['id']},
            'trainedOn': {
                'host': socket.gethostname(),
                'platform': platform.platform(),
                'python': platform.python_version(),
                'torch': torch.__version__,
                'cuda': torch.version.cuda if cuda else None,
                'device': 'cuda' if cuda else 'cpu',
                'gpu': torch.cuda.get_device_name(local_rank) if cuda else None,
                'gpusPerNode': int(os.environ.get('LOCAL_WORLD_SIZE', world)) if cuda else 0,
                'processes': world,
                'nodes': max(1, world // int(os.environ.get('LOCAL_WORLD_SIZE', world))),
                'distributed': backend if world > 1 else None,
                'mixedPrecision': str(amp_dtype).replace('torch.', '') if amp_dtype else None,
                'cpuThreads': torch.get_num_threads(),
            },
            'config': config,
            'epochs': state['epoch'],
            'stoppedEarly': state['stopped_early'],
            'bestEpoch': state['best_epoch'],
            'keptEpoch': kept,
            'history': state['history'],
            'trainSeconds': state['seconds'],
            'wallSeconds': time.time() - started,
            'valAccuracy': accuracy(predictions['val']),
            'testAccuracy': accuracy(predictions['test']),
            'finishedAt': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
            'files': {name: sha256_of(os.path.join(out, name)) for name in ('model.onnx', 'predictions.json', 'predictions.csv')},
        }
        with open(os.path.join(out, 'outputs.json.partial'), 'w') as f:
            json.dump(outputs, f, indent=1)
        os.replace(os.path.join(out, 'outputs.json.partial'), os.path.join(out, 'outputs.json'))
        print(f'Done: kept epoch {kept}; val accuracy {outputs["valAccuracy"]}, test accuracy {outputs["testAccuracy"]}; '
              f'{outputs["wallSeconds"]:.0f} s. Bring it home: loupe import-run <project> {bundle}', flush=True)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == '__main__':
    main()
