// Balanced sampling for imbalanced classes: a class with under a third of the largest class's
// training images would be learned worse (a model gains little by ever predicting it), so the
// one-click plan repeats its training images in each epoch until it counts at least a third as
// much as the largest (at most MAX_REPEAT times, so a handful of images is not memorised), and
// says so. Engine-agnostic: it repeats rows of the split every trainer reads, so augmentation
// still varies the copies. The data doctor's class-imbalance finding uses the same limit.

import type { TrainPlan } from '../../../shared/types';
import type { TrainingData } from './dataset';
import type { SplitRows } from './protocol';

/** A class with fewer than this share of the largest class's images is imbalanced (the doctor's finding too). */
export const IMBALANCE_SHARE = 1 / 3;
export const MAX_REPEAT = 10;

/** How many times each class's training images appear in an epoch; null when no class needs it. */
export function classRepeats(trainCounts: number[]): number[] | null {
  const largest = Math.max(0, ...trainCounts);
  const repeats = trainCounts.map((n) => (n > 0 && n < IMBALANCE_SHARE * largest ? Math.min(MAX_REPEAT, Math.ceil((IMBALANCE_SHARE * largest) / n)) : 1));
  return repeats.some((r) => r > 1) ? repeats : null;
}

/** The plan with balanced sampling where the data needs it: config.balance, the time it adds, and why. */
export function withClassBalance(plan: TrainPlan, data: TrainingData): TrainPlan {
  if (plan.blocker) return plan;
  const counts = data.classes.map(() => 0);
  for (const it of data.items) if (it.split === 'train') counts[it.label] += 1;
  const repeats = classRepeats(counts);
  if (!repeats) return plan;
  const before = counts.reduce((a, b) => a + b, 0);
  const after = counts.reduce((a, n, k) => a + n * repeats[k], 0);
  const grow = after / Math.max(1, before);
  const names = data.classes.flatMap((c, k) => (repeats[k] > 1 ? [`“${c.name}” ${repeats[k]}x`] : []));
  const estimate = plan.estimate && { ...plan.estimate, trainSeconds: plan.estimate.trainSeconds * grow };
  return {
    ...plan,
    config: { ...plan.config, balance: repeats },
    estimatedSeconds: estimate ? estimate.prepareSeconds + estimate.trainSeconds : plan.estimatedSeconds * grow,
    estimate,
    explanation: [
      ...plan.explanation,
      `Balanced sampling: ${names.join(', ')} (classes with under a third of the largest class’s training images are repeated in each epoch, so the model does not learn to ignore them).`,
    ],
  };
}

/** Training rows with each image of class k repeated repeats[k] times (its flipped and augmented copies with it). */
export function oversampled(split: SplitRows, repeats: number[] | null | undefined): SplitRows {
  if (!repeats) return split;
  const take: number[] = [];
  split.labels.forEach((label, i) => {
    for (let r = 0; r < (repeats[label] ?? 1); r++) take.push(i);
  });
  const pick = (a: Int32Array | undefined, per = 1) => {
    if (!a) return undefined;
    const out = new Int32Array(take.length * per);
    take.forEach((i, j) => out.set(a.subarray(i * per, (i + 1) * per), j * per));
    return out;
  };
  return {
    ...split,
    rows: pick(split.rows)!,
    labels: pick(split.labels)!,
    flipRows: pick(split.flipRows),
    variantRows: pick(split.variantRows, split.variantCount ?? 1),
  };
}
