// The PyTorch models of `npm run bench:train -- --peer torch` (src/main/services/bundle/python/loupe_models.py) are the
// architectures Loupe trains, layer for layer: the same parameter counts, total and trainable
// (batch norm's moving statistics count as non-trainable weights in both), for greyscale digits
// and colour CIFAR-sized inputs. Runs where Debian's python3-torch is installed.

import { beforeAll, describe, expect, it } from 'vitest';
import { ARCHITECTURES } from '../../src/main/services/training/architectures';
import { activateBackend } from '../../src/main/services/tfjs/backends';
import { runPeer, torchMissing } from '../../bench/torch/peer';

const ARCHS = ['mlp', 'lenet', 'cnn-small', 'keras-cifar', 'resnet-small'] as const;
const missing = torchMissing();
if (missing) console.log(`torch-peer: skipped: ${missing}`);

describe.skipIf(missing !== null)(`the PyTorch peer's models${missing ? ` (skipped: ${missing})` : ''}`, () => {
  beforeAll(async () => {
    await activateBackend('cpu');
  });

  it.each([
    { size: 28, channels: 1, classes: 10 },
    { size: 32, channels: 3, classes: 10 },
    { size: 64, channels: 3, classes: 5 },
  ])('have the parameter counts of Loupe’s architectures at $size x $size x $channels, $classes classes', ({ size, channels, classes }) => {
    const torch = runPeer<{ arch: string; total: number; trainable: number }>(['count', '--archs', ARCHS.join(','), '--size', size, '--channels', channels, '--classes', classes], 60_000);
    const loupe = ARCHS.map((arch) => {
      const model = ARCHITECTURES[arch].build({ height: size, width: size, channels, classes });
      const counts = { arch, total: model.countParams(), trainable: model.trainableWeights.reduce((a, w) => a + (w.shape as number[]).reduce((x, y) => x * y, 1), 0) };
      model.dispose();
      return counts;
    });
    expect(torch).toEqual(loupe);
    // Batch norm's statistics are where total and trainable part: the nets with batch norm show it.
    expect(loupe.find((c) => c.arch === 'resnet-small')!.total).toBeGreaterThan(loupe.find((c) => c.arch === 'resnet-small')!.trainable);
  });
});
