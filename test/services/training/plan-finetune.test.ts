// The fine-tuning step of a transfer plan (head only, the last blocks or the whole backbone, and
// why), decideAfterHead, and the choice among the backbones here: pure, on data statistics and
// costs made up for each case.

import { describe, expect, it } from 'vitest';
import type { BackendInfo, FineTuneConfig, TrainDataStats, TrainOverrides } from '../../../src/shared/types';
import type { FineTuneSupport } from '../../../src/main/services/backbones/blocks';
import type { CostModel, TrainedPart } from '../../../src/main/services/training/estimates';
import { chooseRoute, decideAfterHead, fineTuneBudget, HEAD_ENOUGH, makePlan, type BackboneLookup, type PlanBackbone } from '../../../src/main/services/training/plan';
import { planSummary } from '../../../src/shared/plan-summary';
import { dataStats } from './data-stats';

const onnx: BackendInfo = { name: 'onnxruntime', available: true, reason: 'test', device: 'cpu' };

/** MobileNet v1's blocks at 224 px: the last one, two and four after their cut, and the whole network. */
const mobilenetSupport: FineTuneSupport = {
  ok: true,
  cuts: [
    { blocks: 1, cutLayer: 'conv_pw_12_relu', floatsAtNative: 7 * 7 * 1024, macsAtNative: 51.8e6 },
    { blocks: 2, cutLayer: 'conv_pw_11_relu', floatsAtNative: 14 * 14 * 512, macsAtNative: 77.7e6 },
    { blocks: 4, cutLayer: 'conv_pw_9_relu', floatsAtNative: 14 * 14 * 512, macsAtNative: 182.3e6 },
  ],
  macsAtNative: 569e6,
};

function backbone(fineTune: FineTuneSupport = mobilenetSupport): PlanBackbone {
  return { name: 'mobilenet_v1', title: 'MobileNet v1', copy: 'official', fingerprint: 'f', inputSize: 224, resolutions: [96, 128, 160, 192, 224], features: 1024, license: 'Apache-2.0', fineTune };
}

/** Photos of `perClass` training images in each of 10 classes, `side` px. */
function photos(perClass: number, side = 32, over: Partial<TrainDataStats> = {}): TrainDataStats {
  return dataStats({ medianWidth: side, medianHeight: side, ...over }, { train: perClass, val: Math.round(perClass / 10), test: Math.round(perClass / 2) }, 'abcdefghij'.split(''));
}

/**
 * Costs: nothing extracted yet, backbone extraction at `extract` images/s at 224 px (scaling with
 * the pixel count), and the trained part measured at `train(part)` images/s (null: not measured).
 */
function cost(extract = 300, train: (part: TrainedPart) => number | null = () => null, pending = 0): CostModel & { asked: TrainedPart[] } {
  const asked: TrainedPart[] = [];
  return {
    asked,
    cores: 2,
    forwardMacs: () => 0,
    extraction: { pending: (_r, flip) => (flip ? 2 * pending : pending), extractRate: (r) => extract * (224 / r) ** 2 },
    fineTune: {
      trainRate(part) {
        asked.push(part);
        return train(part);
      },
    },
  };
}

function plan(stats: TrainDataStats, c: CostModel, overrides: TrainOverrides = {}, b = backbone()) {
  return makePlan(stats, onnx, c, overrides, { kind: 'transfer', backbone: b, why: 'Transfer.' });
}

/** Training images per second of each part, as a fast machine measures them. */
const fast = (part: TrainedPart) => (part.mode === 'all' ? 400 : 2000);
/** ... and a slow one. */
const slow = (part: TrainedPart) => (part.mode === 'all' ? 5 : part.blocks === 1 ? 40 : 12);
/** A machine where the last blocks train fast and the whole backbone far too slowly for the budget. */
const fastBlocks = (part: TrainedPart) => (part.mode === 'all' ? 1 : 2000);

describe('how much of the backbone one click trains', () => {
  it('keeps tiny data on the head alone, and says why', () => {
    const p = plan(photos(40, 300), cost(300, fast));
    expect(p.config.backbone?.fineTune).toMatchObject({ mode: 'head', blocks: 0, cutLayer: null });
    expect(p.fineTuneWhy).toBe(
      'Head only: 400 training images are too few to adapt the backbone\'s weights without learning the images by heart (fine-tuning starts at 1,000); its pretrained features and a new head generalise better.',
    );
    expect(p.explanation[2]).toBe(p.fineTuneWhy);
    // The head-only plan is today's: features extracted once, the head trained on them.
    expect(p.config).toMatchObject({ arch: 'dense-head', epochs: 40, augmentation: { flip: true, shift: 0 } });
  });

  it('trains the whole backbone of a few thousand photos (CIFAR-10\'s 2,000) where it fits the budget, and says what it gained where measured', () => {
    const p = plan(photos(200), cost(300, fast));
    expect(p.config.backbone).toMatchObject({ resolution: 128, fineTune: { mode: 'all', blocks: 0, cutLayer: null, backboneLrScale: 0.1, headEpochs: 5, frozenBatchNorm: true } });
    expect(p.fineTuneWhy).toMatch(/^Whole backbone: 2,000 training images are enough to adapt all of MobileNet v1's layers, and it fits the 20 min budget; .* the last blocks gained none\.$/);
  });

  it('fine-tunes the last 2 blocks of a few thousand photos when the whole backbone does not fit, with discriminative rates, a head warm-up, frozen batch norm and cached variants', () => {
    const c = cost(300, fastBlocks);
    const p = plan(photos(200), c);
    expect(p.config.backbone).toMatchObject({
      resolution: 128,
      fineTune: { mode: 'blocks', blocks: 2, cutLayer: 'conv_pw_11_relu', backboneLrScale: 0.1, headEpochs: 5, variants: 8, frozenBatchNorm: true },
    });
    expect(p.config).toMatchObject({ epochs: 20, batchSize: 64, augmentation: { flip: true, shift: 16 } });
    expect(p.fineTuneWhy).toMatch(
      /^Last blocks: fine-tunes the last 2 blocks of MobileNet v1 unless the head alone reaches 97% on validation after its 5 warm-up epochs \(then the pretrained features already fit\); 2,000 training images are enough to adapt the last 2 blocks; the whole backbone would take about \d+ min here, over the 20 min budget\.$/,
    );
    const text = p.explanation.join('\n');
    expect(text).toMatch(/then the last 2 blocks train with it at 0\.1x its learning rate \(fastai's discriminative rates/);
    expect(text).toMatch(/20 epochs in all, about \d+ (s|min) here \(a training step of the trained part measured on this machine\)/);
    expect(text).toMatch(/Batch norm keeps its pretrained statistics: 2,000 images are too few to estimate them again/);
    expect(text).toMatch(/The input of the last 2 blocks \(conv_pw_11_relu\) is computed once per image and cached \(about 2\.\d GB\): 8 variants of each training image \(the image, its mirror image and shifted crops\)/);
    // The pooled features are not what a blocks run caches.
    expect(text).not.toMatch(/^Features:/m);
    // Timed at the measured rate of the part it trains.
    expect(c.asked).toContainEqual({ mode: 'blocks', blocks: 2, resolution: 128, batchSize: 64 });
    expect(p.estimatedSeconds).toBe(Math.round(p.estimate!.prepareSeconds + p.estimate!.trainSeconds));
    // In plain words too.
    expect(planSummary(p).headline).toMatch(/^Loupe will train a small classifier on what a pretrained image model \(MobileNet v1\) sees in each photo, and adapt the last 2 blocks of that model to your photos — about \d+ (s|min) on this machine\.$/);
    expect(planSummary(p).choices).toContain(
      'The last 2 blocks of the pretrained model are adapted to your photos too, after the classifier\'s first 5 passes on its own.',
    );
  });

  it('trains the whole backbone of large data when the budget allows, else the last blocks, and says why', () => {
    const large = photos(5000, 300);
    expect(fineTuneBudget(large.train)).toBe(3600);
    const ample = plan(large, cost(3000, fast, 55_000));
    expect(ample.config.backbone?.fineTune).toMatchObject({ mode: 'all', cutLayer: null, blocks: 0, backboneLrScale: 0.1, frozenBatchNorm: true });
    expect(ample.config.batchSize).toBe(32);
    expect(ample.fineTuneWhy).toMatch(/^Whole backbone: 50,000 training images are enough to adapt all of MobileNet v1's layers, and it fits the 60 min budget for 50,000 images; it trains unless the head alone reaches 97%/);
    expect(ample.explanation.join('\n')).toMatch(/^Features: 55,000 images and 55,000 mirror images go through MobileNet v1 once/m);
    expect(planSummary(ample).headline).toMatch(/, and adapt all of that model to your photos — about \d+ min on this machine\.$/);
    expect(planSummary(ample).choices).toContain('The whole pretrained model is adapted to your photos too, after the classifier\'s first 5 passes on its own.');

    // The same at 224 px on a slower machine: the whole backbone does not fit the budget, and
    // each image's input to the last blocks is too large to cache 50,000 times.
    const slowAll = (part: TrainedPart) => (part.mode === 'all' ? 20 : 2000);
    const uncached = plan(large, cost(3000, slowAll, 55_000));
    expect(uncached.config.backbone?.fineTune?.mode).toBe('head');
    expect(uncached.fineTuneWhy).toMatch(
      /^Head only: the whole backbone would take about \d+ min here, over the 60 min budget for 50,000 images; caching the input of the last 4 blocks would take about 44\.2 GB, over 4\.3 GB; caching the input of the last 2 blocks would take about 44\.2 GB, over 4\.3 GB; caching the input of the last block would take about 22\.1 GB, over 4\.3 GB; the head alone takes about \d+ min\.$/,
    );
    // The cache holds the validation and test images' mirror images too, as predictions average
    // them: CIFAR-10's 50,000 (and 15,000) at 128 px need 3.3 GB for the last block's input of the
    // training images once and 2.0 GB for the others twice, over the limit.
    const cifar = dataStats({}, { train: 5000, val: 500, test: 1000 }, 'abcdefghij'.split(''));
    expect(plan(cifar, cost(3000, slowAll, 65_000)).fineTuneWhy).toMatch(/; caching the input of the last block would take about 5\.2 GB, over 4\.3 GB; the head alone takes about \d+ min\.$/);
    // 40,000 photos with 4,000 held out: the last block's input fits once per image.
    const large40 = dataStats({}, { train: 4000, val: 200, test: 200 }, 'abcdefghij'.split(''));
    const tight = plan(large40, cost(3000, slowAll, 44_000));
    expect(tight.config.backbone).toMatchObject({ resolution: 128, fineTune: { mode: 'blocks', blocks: 1, variants: 1, frozenBatchNorm: false } });
    expect(tight.config.batchSize).toBe(128);
    expect(tight.fineTuneWhy).toMatch(/^Last blocks: fine-tunes the last block of MobileNet v1 unless .*; the whole backbone would take about \d+ min here, over the 48 min budget for 40,000 images; caching the input of the last 4 blocks would take about 6\.3 GB, over 4\.3 GB;/);
    expect(tight.explanation.join('\n')).toMatch(/is computed once per image and cached \(about 3\.1 GB\): 1 variant of each training image;/);
    expect(tight.explanation.join('\n')).toMatch(/Batch norm in the trained layers re-estimates its statistics on batches of 128\./);
  });

  it('trains the whole backbone at a lower input where it fits the budget only there, rather than the last blocks at the higher one, and says why', () => {
    // CIFAR-10's 20,000-photo subset on 2 cores: the whole of MobileNet v1 trains about 40-54
    // images/s at 128 px (too slow for the budget) and 80 at 96; the last blocks 200.
    const subset = dataStats({}, { train: 1800, val: 200, test: 500 }, 'abcdefghij'.split(''));
    const rate = (part: TrainedPart) => (part.mode === 'all' ? (part.resolution <= 96 ? 80 : 40) : 200);
    const p = plan(subset, cost(300, rate, 25_000));
    expect(p.config.backbone).toMatchObject({ resolution: 96, fineTune: { mode: 'all', frozenBatchNorm: true } });
    expect(p.explanation[1]).toMatch(
      /^Backbone input 96x96, below the 128 px these images call for: there the whole backbone does not fit the time budget and the last 4 blocks would train; at 96 px it fits, and adapting every layer gains more than the pixels lose \(on CIFAR-10's 20,000-photo subset .*86\.4%.*\)\.$/,
    );
    expect(p.fineTuneWhy).toMatch(/^Whole backbone: 18,000 training images are enough to adapt all of MobileNet v1's layers, and it fits the 22 min budget for 18,000 images;/);
    expect(p.estimatedSeconds).toBeLessThanOrEqual(fineTuneBudget(subset.train));
    // At 128 px alone (set in Advanced settings) the last blocks train; and where the whole
    // backbone fits nowhere, the plan at 128 px stands.
    expect(plan(subset, cost(300, rate, 25_000), { width: 128, height: 128 }).config.backbone).toMatchObject({ resolution: 128, fineTune: { mode: 'blocks', blocks: 4 } });
    const slowWhole = plan(subset, cost(300, (part) => (part.mode === 'all' ? 20 : 200), 25_000));
    expect(slowWhole.config.backbone).toMatchObject({ resolution: 128, fineTune: { mode: 'blocks', blocks: 4 } });
    // Forcing the last blocks keeps the resolution too.
    expect(plan(subset, cost(300, rate, 25_000), { fineTune: 'blocks' }).config.backbone).toMatchObject({ resolution: 128, fineTune: { mode: 'blocks' } });
  });

  it('cuts back to fewer blocks, then the head alone, as the measured speed drops; fewer epochs first', () => {
    // 5,000 photos at 224 px, 1,000 held out: the last 4 blocks' input fits the cache once per image.
    const data = dataStats({ medianWidth: 300, medianHeight: 300 }, { train: 500, val: 50, test: 50 }, 'abcdefghij'.split(''));
    const quick = plan(data, cost(300, fastBlocks));
    expect(quick.config.backbone?.fineTune).toMatchObject({ mode: 'blocks', blocks: 4 });
    expect(quick.config.epochs).toBe(15);
    // Four blocks (or two) at 12 images/s would not fit 20 minutes; one at 40 does, with fewer epochs.
    const slower = plan(data, cost(300, slow));
    expect(slower.config.backbone?.fineTune).toMatchObject({ mode: 'blocks', blocks: 1, cutLayer: 'conv_pw_12_relu' });
    expect(slower.config.epochs).toBeLessThan(15);
    expect(slower.config.epochs).toBeGreaterThanOrEqual(8);
    expect(slower.fineTuneWhy).toMatch(
      /; 5,000 training images are enough to adapt the last 4 blocks; the whole backbone would take about \d+ min here, over the 20 min budget; the last 4 blocks would take about \d+ min here, over the 20 min budget; the last 2 blocks would take about \d+ min here, over the 20 min budget\.$/,
    );
    expect(slower.estimatedSeconds).toBeLessThanOrEqual(fineTuneBudget(data.train));
    const slowest = plan(data, cost(300, () => 2));
    expect(slowest.config.backbone?.fineTune).toMatchObject({ mode: 'head' });
    expect(slowest.fineTuneWhy).toMatch(/; the last block would take about \d+ min here, over the 20 min budget; the head alone takes about \d+ (s|min)\.$/);
  });

  it('times an unmeasured part from its multiply-adds, and says so; a measured rate sets the time shown before Train', () => {
    const p = plan(photos(200), cost(300));
    expect(['all', 'blocks']).toContain(p.config.backbone?.fineTune?.mode);
    expect(p.explanation.join('\n')).toMatch(/about \d+ (s|min) here \(from its multiply-adds; measured once a step of it has run here\)/);
    // The whole backbone far too slow here: the last blocks, at two measured rates.
    const quick = plan(photos(200), cost(300, (part) => (part.mode === 'all' ? 1 : 1000)));
    const slower = plan(photos(200), cost(300, (part) => (part.mode === 'all' ? 1 : 100)));
    expect(quick.config.backbone?.fineTune?.mode).toBe('blocks');
    expect(slower.config).toMatchObject({ epochs: quick.config.epochs, backbone: { fineTune: quick.config.backbone!.fineTune } });
    // 15 epochs of 2,000 images and 200 validation images (a third of a step each) at 100 against 1,000 images/s.
    const tuned = 15 * (2000 + 200 / 3);
    expect(slower.estimate!.trainSeconds - quick.estimate!.trainSeconds).toBeCloseTo(tuned / 100 - tuned / 1000 + (1200 * 2) / 3 * (1 / 100 - 1 / 1000), 3);
    expect(slower.estimatedSeconds).toBe(Math.round(slower.estimate!.prepareSeconds + slower.estimate!.trainSeconds));
  });

  it('keeps greyscale digits off the backbone entirely, and fine-tunes larger greyscale photos without flips', () => {
    const lookup: BackboneLookup<PlanBackbone> = { named: () => ({ problem: 'none' }), registry: () => [{ title: 'MobileNet v1', license: 'x', backbone: backbone(), problem: null }] };
    // Fashion-MNIST: 60,000 greyscale 28 px images go from scratch, as before.
    const fashion = dataStats({ greyscale: true, medianWidth: 28, medianHeight: 28 }, { train: 6000, val: 0, test: 1000 }, 'abcdefghij'.split(''));
    expect(chooseRoute(fashion, {}, lookup)).toMatchObject({ kind: 'scratch', why: expect.stringMatching(/^From scratch: small greyscale images/) });
    const scans = plan(photos(100, 256, { greyscale: true }), cost(300, fastBlocks));
    expect(scans.config.backbone?.fineTune).toMatchObject({ mode: 'blocks', blocks: 2 });
    expect(scans.config.augmentation.flip).toBe(false);
    expect(scans.explanation.join('\n')).toMatch(/cached \(about 3\.\d GB\): 8 variants of each training image \(shifted crops\)/);
  });

  it('keeps a backbone that cannot be fine-tuned on the head alone, saying why; forcing it blocks the run', () => {
    const onnxOnly = backbone({ ok: false, why: 'Loupe has no gradient for its HardSigmoid and Resize operators.' });
    const p = plan(photos(500, 300), cost(300, fast), {}, onnxOnly);
    expect(p.config.backbone?.fineTune?.mode).toBe('head');
    expect(p.fineTuneWhy).toBe('Head only: MobileNet v1 cannot be fine-tuned here (Loupe has no gradient for its HardSigmoid and Resize operators), so its features stay as they are.');
    expect(p.blocker).toBeNull();
    const forced = plan(photos(500, 300), cost(300, fast), { fineTune: 'all' }, onnxOnly);
    expect(forced.blocker).toBe('Whole backbone was chosen in Advanced settings, but MobileNet v1 cannot be fine-tuned: Loupe has no gradient for its HardSigmoid and Resize operators. Choose Head only or Automatic.');
    expect(forced.estimatedSeconds).toBe(0);
  });

  it('follows Advanced settings: head only, last blocks or the whole backbone, whatever the data and budget', () => {
    const data = photos(500, 300);
    const head = plan(data, cost(300, fast), { fineTune: 'head' });
    expect(head.config.backbone?.fineTune?.mode).toBe('head');
    expect(head.fineTuneWhy).toBe('Head only: chosen in Advanced settings; the backbone stays as it is.');
    const all = plan(data, cost(300, slow), { fineTune: 'all' });
    expect(all.config.backbone?.fineTune).toMatchObject({ mode: 'all', headEpochs: 5 });
    expect(all.fineTuneWhy).toMatch(/^Whole backbone: chosen in Advanced settings; the whole backbone of MobileNet v1 trains with the head after its 5 warm-up epochs, whatever the head alone reaches\.$/);
    // Over the budget, and it says how long it will take.
    expect(all.estimatedSeconds).toBeGreaterThan(fineTuneBudget(data.train));
    // Forced on 400 images: the last block only, the fewest weights to adapt.
    const blocks = plan(photos(40, 300), cost(300, fast), { fineTune: 'blocks', epochs: 12 });
    expect(blocks.config.backbone?.fineTune).toMatchObject({ mode: 'blocks', blocks: 1, cutLayer: 'conv_pw_12_relu' });
    expect(blocks.config.epochs).toBe(12);
  });
});

describe('after the head\'s warm-up', () => {
  const blocks: FineTuneConfig = { mode: 'blocks', cutLayer: 'conv_pw_11_relu', blocks: 2, backboneLrScale: 0.1, headEpochs: 5, variants: 8, frozenBatchNorm: true };

  it('drops the fine-tuning when the head alone already does well on validation, and keeps it otherwise', () => {
    const enough = decideAfterHead(blocks, 0.981);
    expect(enough.fineTune).toEqual({ ...blocks, mode: 'head', cutLayer: null, blocks: 0, backboneLrScale: 0 });
    expect(enough.why).toBe('The head alone reached 98.1% on validation after 5 epochs (97% or more): the pretrained features already fit these images, so the backbone stays as it is and the remaining epochs train the head only.');
    expect(decideAfterHead(blocks, HEAD_ENOUGH).fineTune.mode).toBe('head');
    const far = decideAfterHead(blocks, 0.62);
    expect(far.fineTune).toBe(blocks);
    expect(far.why).toBe('The head alone reached 62% on validation after 5 epochs (below 97%): these images differ from what the backbone was pretrained on, so the last 2 blocks train too.');
    expect(decideAfterHead({ ...blocks, mode: 'all', cutLayer: null, blocks: 0 }, 0.5).why).toMatch(/so the whole backbone trains too\.$/);
  });

  it('holds the plan without a validation accuracy, and leaves a head-only plan alone', () => {
    expect(decideAfterHead(blocks, null)).toEqual({ fineTune: blocks, why: 'No validation accuracy to judge the head by: the last 2 blocks train as planned.' });
    const head: FineTuneConfig = { ...blocks, mode: 'head', cutLayer: null, blocks: 0 };
    expect(decideAfterHead(head, 0.99).fineTune).toBe(head);
  });
});

describe('which backbone', () => {
  interface Entry {
    title: string;
    license: string;
    imagenetTop1?: number | null;
    backbone: PlanBackbone | null;
    problem: string | null;
  }
  const named = (title: string, features: number): PlanBackbone => ({ ...backbone(), name: title, title, features });
  const v1: Entry = { title: 'MobileNet v1', license: 'Apache-2.0', imagenetTop1: 70.6, backbone: named('MobileNet v1', 1024), problem: null };
  const v3: Entry = { title: 'MobileNetV3-Large', license: 'Apache-2.0', imagenetTop1: 75.2, backbone: named('MobileNetV3-Large', 1280), problem: null };
  const convnext: Entry = { title: 'ConvNeXt-Tiny', license: 'Apache-2.0', imagenetTop1: 82.9, backbone: named('ConvNeXt-Tiny', 768), problem: null };
  const vit: Entry = { title: 'ViT-S/16', license: 'Apache-2.0', imagenetTop1: 81.4, backbone: null, problem: 'ViT-S/16 is not on this machine' };
  /** Extraction seconds here per backbone title. */
  const lookup = (entries: Entry[], seconds: Record<string, number>): BackboneLookup<PlanBackbone> => ({
    named: () => ({ problem: 'none' }),
    registry: () => entries,
    extractSeconds: (b) => ({ seconds: seconds[b.title], resolution: 224, rate: 2000 / seconds[b.title] }),
  });
  const data = photos(200, 300);

  it('picks the most accurate backbone here whose extraction fits the budget, and says why over the others', () => {
    const route = chooseRoute(data, {}, lookup([v1, vit, convnext, v3], { 'MobileNet v1': 20, 'MobileNetV3-Large': 40, 'ConvNeXt-Tiny': 400 }));
    expect(route).toMatchObject({ kind: 'transfer', backbone: { title: 'ConvNeXt-Tiny' } });
    expect(route.why).toMatch(
      / ConvNeXt-Tiny is the most accurate of the 3 backbones here \(82\.9% ImageNet top-1\) whose feature extraction fits 20 minutes \(about 7 min to extract here \(5 images\/s at 224 px\)\); MobileNetV3-Large \(75\.2% ImageNet top-1\), MobileNet v1 \(70\.6% ImageNet top-1\) are less accurate\.$/,
    );
  });

  it('passes over a more accurate backbone too slow to extract here, naming its time', () => {
    const route = chooseRoute(data, {}, lookup([v1, convnext, v3], { 'MobileNet v1': 20, 'MobileNetV3-Large': 40, 'ConvNeXt-Tiny': 3000 }));
    expect(route).toMatchObject({ kind: 'transfer', backbone: { title: 'MobileNetV3-Large' } });
    expect(route.why).toMatch(/MobileNetV3-Large is the most accurate of the 3 backbones here \(75\.2% ImageNet top-1\) whose feature extraction fits 20 minutes \(about 40 s to extract here .*\); ConvNeXt-Tiny \(82\.9% ImageNet top-1\) would take about 50 min to extract here \(1 images\/s at 224 px\); MobileNet v1 \(70\.6% ImageNet top-1\) is less accurate\.$/);
    // None fits: the fastest.
    const none = chooseRoute(data, {}, lookup([v1, convnext], { 'MobileNet v1': 2000, 'ConvNeXt-Tiny': 9000 }));
    expect(none).toMatchObject({ kind: 'transfer', backbone: { title: 'MobileNet v1' } });
    expect(none.why).toMatch(/No backbone here extracts these images within 20 minutes; MobileNet v1 is the fastest \(about 33 min to extract here .*\); ConvNeXt-Tiny \(82\.9% ImageNet top-1\) is slower\.$/);
  });

  it('ranks a backbone without a published top-1 last, and says nothing of others when it is the only one', () => {
    const own: Entry = { title: 'Mine', license: 'x', imagenetTop1: null, backbone: named('Mine', 512), problem: null };
    expect(chooseRoute(data, {}, lookup([own, v1], { Mine: 10, 'MobileNet v1': 20 }))).toMatchObject({ backbone: { title: 'MobileNet v1' } });
    const alone = chooseRoute(data, {}, lookup([v1], { 'MobileNet v1': 20 }));
    expect(alone.why).toMatch(/far more accurate than training from scratch on 2,000 images\.$/);
  });
});
