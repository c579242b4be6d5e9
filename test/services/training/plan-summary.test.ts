import { describe, expect, it } from 'vitest';
import type { BackendInfo, TrainDataStats } from '../../../src/shared/types';
import { planSummary } from '../../../src/shared/plan-summary';
import { makePlan } from '../../../src/main/services/training/plan';
import { dataStats } from './data-stats';

const onnx: BackendInfo = { name: 'onnxruntime', available: true, reason: 'native CPU kernels through onnxruntime-node (libvulkan.so.1 missing)', device: 'cpu' };

const stats = (over: Partial<TrainDataStats> = {}) => dataStats(over, { train: 96, val: 12, test: 12 }, ['cat', 'dog']);

const internals = /onnxruntime|libvulkan|@tensorflow|tfjs|pw12|conv_pw|dense-head|resnet-small|cnn-small|cosine|adam/i;

describe('the plan in plain words', () => {
  it('says what transfer learning will do in one sentence, with the key choices and no internals', () => {
    const backbone = { name: 'mobilenet_v1', title: 'MobileNet v1 1.0 (ImageNet)', copy: 'pw12', fingerprint: 'f', inputSize: 224, resolutions: [128, 224], features: 1024, license: 'Apache-2.0', fineTune: { ok: false as const, why: 'test' } };
    const extraction = { pending: (_r: number, flip: boolean) => (flip ? 480 : 240), extractRate: () => 120 };
    const plan = makePlan(stats(), onnx, { cores: 2, forwardMacs: () => 0, extraction }, {}, { kind: 'transfer', backbone, why: 'Transfer.' });
    const { headline, choices } = planSummary(plan);
    expect(headline).toMatch(/^Loupe will train a small classifier on what a pretrained image model \(MobileNet v1 1\.0\) sees in each photo — about \d+ s on this machine\.$/);
    expect(choices).toEqual([
      'Photos are enlarged to 128×128 px for MobileNet v1 1.0 (yours are about 32×32).',
      'The pretrained model stays as it is; only the classifier learns.',
      'Each photo is also used mirrored left to right, so the classifier sees more variety.',
      '40 passes over the 192 training images; the last pass is kept (24 validation images are too few to pick a better one).',
      'Scores are measured on 24 validation images and 24 test images it never trains on.',
    ]);
    expect([headline, ...choices].join(' ')).not.toMatch(internals);
    // The internals stay in the plan's own explanation, for its Details.
    expect(plan.explanation.join(' ')).toMatch(/onnxruntime/);
  });

  it('says what training from scratch will do, and when it stops early', () => {
    const plan = makePlan(stats({ greyscale: true, medianWidth: 28, medianHeight: 28 }), onnx, { cores: 2, forwardMacs: () => 1e6 }, { schedule: { kind: 'step' } });
    const { headline, choices } = planSummary(plan);
    expect(headline).toMatch(/^Loupe will train a neural network \(Small CNN\) from scratch on your images — about \d+ (s|min) on this machine\.$/);
    expect(choices[0]).toBe('Images are resized to 28×28 px, in greyscale.');
    expect(choices.join(' ')).toMatch(/the pass with the best validation score is kept; it stops early after \d+ passes without improving\./);
    expect([headline, ...choices].join(' ')).not.toMatch(internals);
  });
});
