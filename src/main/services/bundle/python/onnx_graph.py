"""A transfer run's backbone in torch: a small interpreter of the ONNX graph Loupe runs it as.

Loupe writes the backbone's features graph into the bundle as backbone.json (each node's
operator, inputs, outputs and attributes, in order) and backbone.bin (its initializers, raw
little-endian, offsets in the JSON), so neither the onnx nor the protobuf package is needed
here. OnnxGraph holds the weights as parameters (convolution and dense kernels and biases,
batch-norm scale and shift) and buffers (batch-norm statistics, constants) and runs the nodes
in order with torch ops. Input: float pixels [N, H, W, 3] in 0..255 (the backbone's own
preprocessing is in the graph); output: the features [N, F] Loupe's head trains on.

Which weights train follows Loupe's fine-tuning: none ('head'), those of the nodes after the
cut value ('blocks'), or all ('all'). Batch norm of a trained node uses the batch's statistics
(and updates its moving ones, Keras's momentum 0.99) unless the plan freezes batch norm; every
other batch norm normalizes with its moving statistics, as at inference.
"""

import json
import math
import os

import torch
import torch.nn.functional as F
from torch import nn

# The operators run here; Loupe refuses a graph with another one when it writes the bundle
# (src/main/services/bundle/backbone-graph.ts holds the same list).
OPERATORS = (
    'Add', 'AveragePool', 'BatchNormalization', 'Clip', 'Concat', 'Constant', 'Conv', 'Div', 'Dropout', 'Flatten', 'Gemm',
    'GlobalAveragePool', 'GlobalMaxPool', 'HardSigmoid', 'HardSwish', 'Identity', 'LeakyRelu', 'MatMul', 'MaxPool', 'Mul', 'Pad',
    'ReduceMean', 'Relu', 'Reshape', 'Sigmoid', 'Softmax', 'Squeeze', 'Sub', 'Tanh', 'Transpose', 'Unsqueeze',
)
DTYPES = {'float32': torch.float32, 'int64': torch.int64, 'int32': torch.int32}
# Inputs that are learned weights, by operator: (position, ...).
WEIGHT_INPUTS = {'Conv': (1, 2), 'BatchNormalization': (1, 2), 'Gemm': (1, 2), 'MatMul': (1,)}


def load_graph(folder, name='backbone'):
    """(spec, {name: tensor}) of <folder>/<name>.json and .bin."""
    with open(os.path.join(folder, name + '.json')) as f:
        spec = json.load(f)
    with open(os.path.join(folder, name + '.bin'), 'rb') as f:
        data = f.read()
    tensors = {}
    for key, t in spec['tensors'].items():
        dtype = DTYPES[t['dtype']]
        if t['bytes'] == 0:
            tensors[key] = torch.zeros(t['shape'], dtype=dtype)
            continue
        raw = bytearray(data[t['offset']:t['offset'] + t['bytes']])
        tensors[key] = torch.frombuffer(raw, dtype=dtype).reshape(t['shape']).clone()
    return spec, tensors


def _pool_pads(pads, k):
    """ONNX pads [b1, b2, ..., e1, e2, ...] as F.pad's (last dim first, begin and end)."""
    out = []
    for i in reversed(range(k)):
        out += [pads[i], pads[i + k]]
    return out


class OnnxGraph(nn.Module):
    def __init__(self, spec, tensors, trainable='none', frozen_batch_norm=True):
        """trainable: 'none' (head only), 'cut' (the nodes fed by spec['cutValue']) or 'all'."""
        super().__init__()
        unknown = sorted({n['op'] for n in spec['nodes']} - set(OPERATORS))
        if unknown:
            raise ValueError('The backbone graph uses operators this interpreter does not run: ' + ', '.join(unknown))
        self.input, self.output = spec['input'], spec['output']
        self.nodes = spec['nodes']
        self.features = spec['features']
        # Nodes after the cut (or all): theirs are the weights that may train.
        after = set()
        if trainable == 'all':
            after = set(range(len(self.nodes)))
        elif trainable == 'cut':
            reached = {spec['cutValue']}
            for i, n in enumerate(self.nodes):
                if any(x in reached for x in n['inputs']):
                    after.add(i)
                    reached.update(n['outputs'])
        self.after = after
        # Each value is let go after the last node that reads it (a batch's activations are
        # not all held to the end: under no_grad that is most of the memory).
        last = {}
        for i, n in enumerate(self.nodes):
            for x in n['inputs']:
                last[x] = i
        self.release = [[x for x in dict.fromkeys(n['inputs']) if last.get(x) == i and x != self.output and x not in tensors] for i, n in enumerate(self.nodes)]
        self.frozen_batch_norm = frozen_batch_norm
        weights = {}
        for i, n in enumerate(self.nodes):
            for pos in WEIGHT_INPUTS.get(n['op'], ()):
                if pos < len(n['inputs']) and n['inputs'][pos] in tensors and tensors[n['inputs'][pos]].is_floating_point():
                    weights.setdefault(n['inputs'][pos], set()).add(i)
        self.slot = {}
        self.trainable_names = []
        for k, (name, t) in enumerate(tensors.items()):
            attr = f't{k}'
            self.slot[name] = attr
            if name in weights:
                learns = bool(weights[name] & after)
                self.register_parameter(attr, nn.Parameter(t, requires_grad=learns))
                if learns:
                    self.trainable_names.append(attr)
            else:
                self.register_buffer(attr, t)
        # Constant arguments (clip bounds, shapes, pads, axes) read once, as Python values.
        self.const = {}
        for i, n in enumerate(self.nodes):
            op, ins, a = n['op'], n['inputs'], n['attrs']
            value = lambda j: tensors[ins[j]].tolist() if j < len(ins) and ins[j] and ins[j] in tensors else None  # noqa: E731
            if op == 'Clip':
                lo, hi = value(1), value(2)
                self.const[i] = (a.get('min', -math.inf) if lo is None else float(lo), a.get('max', math.inf) if hi is None else float(hi))
            elif op == 'Reshape':
                self.const[i] = [int(v) for v in value(1)]
            elif op == 'Pad':
                pads = value(1) if value(1) is not None else a['pads']
                cv = value(2)
                self.const[i] = ([int(v) for v in pads], float(cv) if cv is not None else float(a.get('value', 0.0)))
            elif op in ('Squeeze', 'Unsqueeze', 'ReduceMean'):
                axes = value(1) if value(1) is not None else a.get('axes')
                self.const[i] = [int(v) for v in axes] if axes is not None else None

    def trainable_parameters(self):
        return [getattr(self, a) for a in self.trainable_names]

    def forward(self, pixels):
        env = {self.input: pixels}

        def get(name):
            return env[name] if name in env else getattr(self, self.slot[name])

        for i, n in enumerate(self.nodes):
            args = [get(x) if x else None for x in n['inputs']]
            out = self._run(i, n, args)
            del args
            for x in self.release[i]:
                env.pop(x, None)
            env[n['outputs'][0]] = out
        return env[self.output]

    def _run(self, i, n, x):
        op, a = n['op'], n['attrs']
        if op == 'Conv':
            w, b = x[1], x[2] if len(x) > 2 else None
            k = w.dim() - 2
            if a.get('auto_pad', 'NOTSET') not in ('NOTSET', 'VALID'):
                raise ValueError(f'Conv {n["name"]}: auto_pad {a["auto_pad"]} is not supported')
            pads = a.get('pads', [0] * 2 * k)
            strides, dil, group = a.get('strides', [1] * k), a.get('dilations', [1] * k), a.get('group', 1)
            conv = F.conv2d if k == 2 else F.conv1d
            if pads[:k] == pads[k:]:
                return conv(x[0], w, b, strides, pads[:k], dil, group)
            return conv(F.pad(x[0], _pool_pads(pads, k)), w, b, strides, 0, dil, group)
        if op == 'BatchNormalization':
            batch_stats = self.training and i in self.after and not self.frozen_batch_norm
            momentum = 1 - a.get('momentum', 0.99)  # Keras's 0.99 where the graph does not say
            return F.batch_norm(x[0], x[3], x[4], x[1], x[2], batch_stats, momentum, a.get('epsilon', 1e-5))
        if op == 'Relu':
            return torch.relu(x[0])
        if op == 'LeakyRelu':
            return F.leaky_relu(x[0], a.get('alpha', 0.01))
        if op == 'Clip':
            lo, hi = self.const[i]
            return torch.clamp(x[0], None if lo == -math.inf else lo, None if hi == math.inf else hi)
        if op == 'Sigmoid':
            return torch.sigmoid(x[0])
        if op == 'Tanh':
            return torch.tanh(x[0])
        if op == 'HardSigmoid':
            return torch.clamp(x[0] * a.get('alpha', 0.2) + a.get('beta', 0.5), 0, 1)
        if op == 'HardSwish':
            return F.hardswish(x[0])
        if op == 'Add':
            return x[0] + x[1]
        if op == 'Sub':
            return x[0] - x[1]
        if op == 'Mul':
            return x[0] * x[1]
        if op == 'Div':
            return x[0] / x[1]
        if op == 'GlobalAveragePool':
            return x[0].mean(dim=tuple(range(2, x[0].dim())), keepdim=True)
        if op == 'GlobalMaxPool':
            return x[0].amax(dim=tuple(range(2, x[0].dim())), keepdim=True)
        if op in ('AveragePool', 'MaxPool'):
            kernel = a['kernel_shape']
            k = len(kernel)
            pads = a.get('pads', [0] * 2 * k)
            strides = a.get('strides', [1] * k)
            ceil = bool(a.get('ceil_mode', 0))
            if op == 'MaxPool':
                if pads[:k] == pads[k:] and all(p <= q // 2 for p, q in zip(pads[:k], kernel)):
                    return F.max_pool2d(x[0], kernel, strides, pads[:k], a.get('dilations', [1] * k), ceil)
                return F.max_pool2d(F.pad(x[0], _pool_pads(pads, k), value=-math.inf), kernel, strides, 0, a.get('dilations', [1] * k), ceil)
            if not any(pads):
                return F.avg_pool2d(x[0], kernel, strides, 0, ceil)
            padded = F.pad(x[0], _pool_pads(pads, k))
            total = F.avg_pool2d(padded, kernel, strides, 0, ceil)
            if a.get('count_include_pad', 0):
                return total
            ones = F.pad(torch.ones_like(x[0][:1, :1]), _pool_pads(pads, k))
            return total / F.avg_pool2d(ones, kernel, strides, 0, ceil)
        if op == 'Flatten':
            axis = a.get('axis', 1)
            if axis == 0:
                return x[0].reshape(1, -1)
            y = x[0].flatten(axis) if axis < x[0].dim() else x[0].unsqueeze(-1)
            return y.flatten(0, axis - 1) if axis > 1 else y
        if op == 'Reshape':
            shape = [x[0].shape[j] if s == 0 else s for j, s in enumerate(self.const[i])]
            return x[0].reshape(shape)
        if op == 'Transpose':
            perm = a.get('perm', list(reversed(range(x[0].dim()))))
            return x[0].permute(*perm)
        if op == 'Concat':
            return torch.cat([t for t in x if t is not None], dim=a['axis'])
        if op == 'Gemm':
            A = x[0].t() if a.get('transA', 0) else x[0]
            B = x[1].t() if a.get('transB', 0) else x[1]
            y = a.get('alpha', 1.0) * (A @ B)
            return y + a.get('beta', 1.0) * x[2] if len(x) > 2 and x[2] is not None else y
        if op == 'MatMul':
            return torch.matmul(x[0], x[1])
        if op == 'Pad':
            pads, value = self.const[i]
            mode = a.get('mode', 'constant')
            mode = {'edge': 'replicate'}.get(mode, mode)
            k = len(pads) // 2
            return F.pad(x[0], _pool_pads(pads, k), mode=mode, value=value) if mode == 'constant' else F.pad(x[0], _pool_pads(pads, k)[:2 * (k - 2)], mode=mode)
        if op == 'Softmax':
            return torch.softmax(x[0], dim=a.get('axis', -1))
        if op in ('Identity', 'Dropout'):
            return x[0]
        if op == 'ReduceMean':
            axes = self.const[i]
            keep = bool(a.get('keepdims', 1))
            return x[0].mean(dim=tuple(axes), keepdim=keep) if axes is not None else x[0].mean().reshape([1] * x[0].dim() if keep else [])
        if op == 'Squeeze':
            axes = self.const[i]
            if axes is None:
                return x[0].squeeze()
            y = x[0]
            for ax in sorted((ax % y.dim() for ax in axes), reverse=True):
                y = y.squeeze(ax)
            return y
        if op == 'Unsqueeze':
            y = x[0]
            rank = y.dim() + len(self.const[i])
            for ax in sorted(ax % rank for ax in self.const[i]):
                y = y.unsqueeze(ax)
            return y
        raise ValueError(f'{op} is not supported')
