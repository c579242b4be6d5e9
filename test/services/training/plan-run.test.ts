// The plan for a real project on MobileNet v1 (real weights in ../shared/models): the planner
// asks the backbone which blocks can train, fine-tunes the last ones of a thousand photos, and
// times that part by a real training step on this machine; Advanced settings force the head alone.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planTraining } from '../../../src/main/services/training/train';
import { Project } from '../../../src/main/store/project';
import { onCleanup, tempDir } from '../../helpers';
import { makePatternProject } from './train-helpers';

const MODELS = '/work/shared/models';
const saved = { ...process.env };
let work: string;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-plan-run-'));
  process.env.LOUPE_HOME = path.join(work, 'home');
  process.env.LOUPE_BACKBONE_DIR = MODELS;
  delete process.env.LOUPE_BACKBONE_REGISTRY;
});

afterAll(() => {
  process.env = { ...saved };
  fs.rmSync(work, { recursive: true, force: true });
});

describe.runIf(fs.existsSync(MODELS))('one click\'s plan on MobileNet v1', () => {
  it('fine-tunes a thousand photos (the whole backbone where it fits the budget at the speed measured here, else the last blocks), timed by a training step of that part here; Advanced settings keep the head alone', async () => {
    const dir = path.join(tempDir(), 'photos.loupe');
    // 3 classes of 420: 1,008 training images.
    await makePatternProject(dir, { perClass: 420, size: 16, seed: 3 });
    const project = Project.open(dir);
    onCleanup(() => project.close());

    const { plan } = await planTraining(project);
    expect(plan.blocker).toBeNull();
    expect(plan.config.backbone).toMatchObject({ name: 'mobilenet_v1', resolution: 96, fineTune: { backboneLrScale: 0.1, headEpochs: 5 } });
    const ft = plan.config.backbone!.fineTune!;
    // Which one depends on this machine's measured speed; either is a fine-tuning plan that says why.
    expect(['all', 'blocks']).toContain(ft.mode);
    if (ft.mode === 'blocks') {
      expect(ft.blocks).toBeGreaterThanOrEqual(1);
      expect(ft.cutLayer).toMatch(/^conv_pw_\d+_relu$/);
      expect(plan.fineTuneWhy).toMatch(/^Last blocks: fine-tunes the last (\d+ blocks|block) of MobileNet v1 1\.0 \(ImageNet\) unless the head alone reaches 97% on validation after its 5 warm-up epochs.*; the whole backbone would take about \d+ min here, over the 20 min budget/);
    } else {
      expect(ft.cutLayer).toBeNull();
      expect(plan.fineTuneWhy).toMatch(/^Whole backbone: 1,008 training images are enough to adapt all of MobileNet v1 1\.0 \(ImageNet\)'s layers, and it fits the 20 min budget; it trains unless the head alone reaches 97% on validation/);
    }
    expect(plan.explanation.join('\n')).toMatch(/epochs in all, about \d+ (s|min) here \(a training step of the trained part measured on this machine\)/);
    expect(plan.estimatedSeconds).toBeGreaterThan(0);

    const forced = (await planTraining(project, { fineTune: 'head' })).plan;
    expect(forced.config.backbone?.fineTune?.mode).toBe('head');
    expect(forced.fineTuneWhy).toBe('Head only: chosen in Advanced settings; the backbone stays as it is.');
    expect(forced.estimatedSeconds).toBeLessThan(plan.estimatedSeconds);
  }, 180_000);
});
