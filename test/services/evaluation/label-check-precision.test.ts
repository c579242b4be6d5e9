// How often the label-error finder is right: real handwritten digits (the `mnist` package) with a
// known share of labels flipped to another digit, judged exactly as a label check judges them
// (k-fold models with the run's plan on train, the run itself on val/test, the rule and the
// reliability gate of label-rule.ts). Precision: flagged images whose label was flipped;
// recall: flipped images flagged. The figures are printed for the README.
//
// The data is small on purpose (a small MLP on 80 digits per class agrees with about 75-80% of
// the labels out of sample): that is where the rule alone flags many correct labels, the failure
// people meet on their first small project.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { judgedByRun, judgeGroups, outOfFoldProbabilities } from '../../../src/main/services/evaluation/label-check';
import { flagLabelIssues } from '../../../src/main/services/evaluation/label-rule';
import { runTraining } from '../../../src/main/services/training/train';
import { Project } from '../../../src/main/store/project';
import { makeDigitsProject } from './evaluation-helpers';

const roots: string[] = [];
afterAll(() => roots.forEach((r) => fs.rmSync(r, { recursive: true, force: true })));

interface Measured {
  images: number;
  flipped: number;
  /** Out-of-fold agreement with the given labels on train. */
  accuracy: number;
  raw: { flagged: number; right: number };
  gated: { flagged: number; right: number; held: number };
}

/** Trains a small MLP on a digits project and measures the finder against the flipped labels. */
async function measure(perClass: number, flipRate: number): Promise<Measured> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-precision-'));
  roots.push(root);
  const dir = path.join(root, 'digits.loupe');
  const flippedNames = await makeDigitsProject(dir, { perClass, flipRate, seed: 1 });
  const project = Project.open(dir);
  try {
    // Two workers, so the figures do not depend on the machine's core count.
    const { runId } = await runTraining(project, { arch: 'mlp', width: 28, height: 28, channels: 1, epochs: 15, seed: 3, patience: null, workers: 2 });
    const oof = await outOfFoldProbabilities(project, runId, { epochs: 10 });
    const fromRun = judgedByRun(project.db, oof.run, new Set(oof.judged.map((j) => j.imageId)));
    const names = new Map((project.db.prepare('SELECT id, original_name AS name FROM images').all() as { id: number; name: string }[]).map((r) => [r.id, r.name]));
    const wasFlipped = (imageId: number) => flippedNames.has(names.get(imageId)!);
    const classes = oof.run.classes.length;

    // The rule alone, per judge, as before the gate.
    let rawFlagged = 0;
    let rawRight = 0;
    for (const list of [oof.judged, fromRun]) {
      const probs = new Float32Array(list.length * classes);
      list.forEach((j, i) => probs.set(j.probs, i * classes));
      for (const f of flagLabelIssues(probs, list.map((j) => j.given), classes)) {
        rawFlagged += 1;
        if (wasFlipped(list[f.index].imageId)) rawRight += 1;
      }
    }
    const gated = judgeGroups(oof.run, oof.judged, fromRun);
    const fold = gated.reliability.find((g) => g.source === 'fold')!;
    return {
      images: names.size,
      flipped: flippedNames.size,
      accuracy: fold.accuracy,
      raw: { flagged: rawFlagged, right: rawRight },
      gated: {
        flagged: gated.flagged.length,
        right: gated.flagged.filter((f) => wasFlipped(f.judged.imageId)).length,
        held: gated.reliability.reduce((n, g) => n + g.heldWeakClass + g.heldSmallMargin, 0),
      },
    };
  } finally {
    project.close();
  }
}

const pct = (n: number, d: number) => (d === 0 ? '–' : `${((100 * n) / d).toFixed(0)}%`);

function report(label: string, m: Measured): void {
  console.log(
    `${label}: ${m.images} images, ${m.flipped} labels flipped, out-of-fold agreement ${pct(m.accuracy, 1)}. ` +
      `Rule alone: ${m.raw.flagged} flagged, precision ${pct(m.raw.right, m.raw.flagged)}, recall ${pct(m.raw.right, m.flipped)}. ` +
      `With the reliability gate: ${m.gated.flagged} flagged (${m.gated.held} held back), precision ${pct(m.gated.right, m.gated.flagged)}, recall ${pct(m.gated.right, m.flipped)}.`,
  );
}

describe('label check precision on known, injected label errors', () => {
  it('with 8% of 800 digit labels flipped, most findings are real errors', async () => {
    const m = await measure(80, 0.08);
    report('digits 80/class, 8% flipped', m);
    expect(m.flipped).toBeGreaterThan(40);
    // Measured: 88% precision at 43% recall (the rule alone: 73% at 57%). The floor is what
    // makes a finding worth a look: most of them are real errors.
    expect(m.gated.flagged).toBeGreaterThanOrEqual(10);
    expect(m.gated.right / m.gated.flagged).toBeGreaterThanOrEqual(0.8);
    expect(m.gated.right / m.flipped).toBeGreaterThanOrEqual(0.15);
    // The gate buys its precision: it is never below the rule's.
    expect(m.gated.right / m.gated.flagged).toBeGreaterThanOrEqual(m.raw.right / m.raw.flagged);
  }, 300_000);

  it('on correctly labeled small data it flags almost nothing', async () => {
    for (const perClass of [20, 80]) {
      const m = await measure(perClass, 0);
      report(`digits ${perClass}/class, none flipped`, m);
      expect(m.flipped).toBe(0);
      // Measured: 1 of 200 and 5 of 800 (the rule alone: 2 and 17). At most 1% of the images.
      expect(m.gated.flagged).toBeLessThanOrEqual(Math.floor(m.images / 100));
    }
  }, 300_000);
});
