// The planner's first decision (from scratch or on a pretrained backbone, and why) and what each
// route makes of it: pure, on a stand-in for the backbones on this machine that records what the
// decision asked of it.

import { describe, expect, it } from 'vitest';
import type { BackendInfo, TrainDataStats } from '../../../src/shared/types';
import { chooseRoute, makePlan, type BackboneLookup, type PlanBackbone } from '../../../src/main/services/training/plan';
import { dataStats } from './data-stats';

const wasm: BackendInfo = { name: 'wasm', available: true, reason: 'test', device: 'cpu' };

const stats = (over: Partial<TrainDataStats> = {}) =>
  dataStats({ medianWidth: 320, medianHeight: 240, ...over }, { train: 400, val: 50, test: 50 }, ['cat', 'dog']);

const photos = stats();
const digits = stats({ greyscale: true, medianWidth: 28, medianHeight: 28 });

function backbone(title: string, over: Partial<PlanBackbone> = {}): PlanBackbone {
  return {
    name: title.toLowerCase(),
    title,
    copy: 'official',
    fingerprint: 'f',
    inputSize: 224,
    resolutions: [128, 224],
    features: 1024,
    license: 'Apache-2.0',
    fineTune: { ok: false, why: 'no gradient for its Resize.' },
    ...over,
  };
}

interface Entry {
  title: string;
  dataset?: string;
  license: string;
  backbone: PlanBackbone | null;
  problem: string | null;
}

/** Backbones here: `named` by name, the registry's entries in order; `asked` records each lookup. */
function lookup(named: Record<string, PlanBackbone>, registry: Entry[]): BackboneLookup<PlanBackbone> & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    named(name) {
      asked.push(`named ${name}`);
      return named[name] ? { backbone: named[name] } : { problem: `There is no backbone "${name}".` };
    },
    *registry() {
      for (const entry of registry) {
        asked.push(`registry ${entry.title}`);
        yield entry;
      }
    },
  };
}

const mobilenet: Entry = { title: 'MobileNet v1', dataset: 'ImageNet', license: 'Apache-2.0', backbone: backbone('MobileNet v1'), problem: null };
const effnet: Entry = { title: 'EfficientNet', license: 'MIT', backbone: backbone('EfficientNet', { features: 1280 }), problem: null };

describe('the route: from scratch or on a backbone', () => {
  it('uses a usable registry backbone for photos, says why, and looks at every one', () => {
    const missing: Entry = { title: 'ResNet-50', license: 'MIT', backbone: null, problem: 'ResNet-50 is damaged: model.json does not match.' };
    const here = lookup({}, [missing, mobilenet, effnet]);
    const route = chooseRoute(photos, {}, here);
    expect(route).toMatchObject({ kind: 'transfer', backbone: { title: 'MobileNet v1' } });
    expect(route.why).toBe(
      'Transfer learning: these look like photos, so MobileNet v1 (pretrained on ImageNet, Apache-2.0) turns each into 1024 features and a small head learns the classes from them — far more accurate than training from scratch on 800 images. ' +
        "MobileNet v1 comes first of the 2 backbones here in the registry's order (none publishes an ImageNet top-1 to rank them by).",
    );
    expect(here.asked).toEqual(['registry ResNet-50', 'registry MobileNet v1', 'registry EfficientNet']);
  });

  it('trains photos from scratch when no backbone is usable, naming what is wrong with each', () => {
    const damaged: Entry = { title: 'ResNet-50', license: 'MIT', backbone: null, problem: 'ResNet-50 is damaged.' };
    const absent: Entry = { title: 'MobileNet v1', license: 'Apache-2.0', backbone: null, problem: null };
    const route = chooseRoute(photos, {}, lookup({}, [damaged, absent]));
    expect(route).toEqual({
      kind: 'scratch',
      why: 'From scratch: transfer learning would suit these photos, but no backbone is usable here (ResNet-50 is damaged.; MobileNet v1 is not on this machine). Get one under Backbones (download or a local folder) for a more accurate model.',
      blocker: null,
    });
  });

  it('trains digits and tiny images from scratch, saying why, without looking for a backbone', () => {
    const here = lookup({}, [mobilenet]);
    const small = chooseRoute(digits, {}, here);
    expect(small).toMatchObject({ kind: 'scratch', blocker: null });
    expect(small.why).toMatch(/^From scratch: small greyscale images \(digits, letters, scans\)/);
    const tiny = chooseRoute(stats({ medianWidth: 10, medianHeight: 12 }), {}, here);
    expect(tiny.why).toBe('From scratch: the images are tiny (median 10x12); a pretrained backbone needs more pixels to see anything.');
    expect(here.asked).toEqual([]);
  });

  it('follows the overrides: no backbone, another architecture, or a named backbone (used even for digits, or blocking the run when missing)', () => {
    const here = lookup({ effnet: effnet.backbone! }, [mobilenet]);
    expect(chooseRoute(photos, { backbone: null }, here)).toEqual({ kind: 'scratch', why: 'From scratch: chosen in Advanced settings (no backbone).', blocker: null });
    expect(chooseRoute(photos, { arch: 'resnet-small' }, here)).toEqual({ kind: 'scratch', why: '', blocker: null });
    expect(here.asked).toEqual([]);

    const named = chooseRoute(digits, { backbone: 'effnet', arch: 'cnn-small' }, here);
    expect(named).toEqual({ kind: 'transfer', backbone: effnet.backbone, why: 'Transfer learning on EfficientNet (official): chosen in settings.' });
    expect(chooseRoute(photos, { backbone: 'vgg' }, here)).toEqual({ kind: 'scratch', why: '', blocker: 'There is no backbone "vgg".' });
    // A head on features is the transfer route's architecture: asking for it still looks for a backbone.
    expect(chooseRoute(photos, { arch: 'dense-head' }, here)).toMatchObject({ kind: 'transfer', backbone: { title: 'MobileNet v1' } });
    expect(here.asked).toEqual(['named effnet', 'named vgg', 'registry MobileNet v1']);
  });
});

describe('the plan of each route', () => {
  const cost = { cores: 2, forwardMacs: () => 1e6, extraction: { pending: () => 900, extractRate: () => 300 } };

  it('leads a from-scratch plan with the route\'s reason, and blocks it when a named backbone is missing, data problems first', () => {
    const why = 'From scratch: chosen in Advanced settings (no backbone).';
    const plan = makePlan(photos, wasm, cost, { backbone: null }, { kind: 'scratch', why, blocker: null });
    expect(plan.config).toMatchObject({ arch: 'resnet-small', backbone: null });
    expect(plan.explanation[0]).toBe(why);
    expect(plan.blocker).toBeNull();

    const missing = makePlan(photos, wasm, cost, { backbone: 'vgg' }, { kind: 'scratch', why: '', blocker: 'There is no backbone "vgg".' });
    expect(missing.blocker).toBe('There is no backbone "vgg".');
    expect(missing.explanation[0]).toMatch(/^Input 64x64/);
    const one = stats({ classes: [{ id: 1, name: 'cat', train: 400, val: 50, test: 50 }] });
    expect(makePlan(one, wasm, cost, {}, { kind: 'scratch', why: '', blocker: 'There is no backbone "vgg".' }).blocker).toMatch(/^Only one class \("cat"\)/);
  });

  it('plans a head on the transfer route\'s backbone, with the notes its data and backbone call for', () => {
    const own = backbone('Mine', { verified: false, location: '/models/mine.onnx', format: 'onnx' });
    const plan = makePlan(stats({ val: 0, heldOut: 80, excluded: 3 }), wasm, cost, {}, { kind: 'transfer', backbone: own, why: 'Transfer learning on Mine (official): chosen in settings.' });
    expect(plan.config).toMatchObject({ arch: 'dense-head', width: 224, channels: 3, workers: 1, backbone: { name: 'mine', resolution: 224, features: 1024, augment: 'flip', flipAverage: false } });
    expect(plan.explanation[0]).toBe('Transfer learning on Mine (official): chosen in settings.');
    expect(plan.explanation.slice(-3)).toEqual([
      'No val split: 80 training images (10%, per class) are held out for validation.',
      '3 labeled images are left out: their classes have no training images.',
      'Mine is your own model (/models/mine.onnx): not verified against the registry\'s checksums.',
    ]);
    expect(plan.estimatedSeconds).toBeGreaterThan(3);

    const unavailable = makePlan(photos, { ...wasm, available: false, reason: 'no SIMD' }, cost, {}, { kind: 'transfer', backbone: backbone('B'), why: 'Transfer.' });
    expect(unavailable.blocker).toBe('The wasm backend cannot run here: no SIMD');
    expect(unavailable.estimatedSeconds).toBe(0);
  });

  it('refuses to plan the transfer route without the cost of extracting its features', () => {
    expect(() => makePlan(photos, wasm, { cores: 2, forwardMacs: () => 1e6 }, {}, { kind: 'transfer', backbone: backbone('B'), why: 'Transfer.' })).toThrow(/extracting the backbone's features/);
  });
});
