// The evaluation's arithmetic against cases computed by hand, and the label-error rule.

import { describe, expect, it } from 'vitest';
import { assignFolds } from '../../../src/main/services/evaluation/label-check';
import { flagLabelIssues, perClassThresholds } from '../../../src/main/services/evaluation/label-rule';
import { classificationReport, confidenceHistogram, confusionMatrix, coverageCurve } from '../../../src/main/services/evaluation/metrics';

describe('classification metrics', () => {
  // Classes a, b, c, d. b is never predicted; d is absent from the split and never predicted.
  //   true: a a a b b c      pred: a a c a c c
  const truth = [0, 0, 0, 1, 1, 2];
  const pred = [0, 0, 2, 0, 2, 2];

  it('builds the confusion matrix with rows = true class, summing to the split size', () => {
    const m = confusionMatrix(truth, pred, 4);
    expect(m).toEqual([
      [2, 0, 1, 0],
      [1, 0, 1, 0],
      [0, 0, 1, 0],
      [0, 0, 0, 0],
    ]);
    expect(m.flat().reduce((x, y) => x + y, 0)).toBe(truth.length);
  });

  it('computes accuracy, per-class precision/recall/F1/support and macro F1 over every class', () => {
    const r = classificationReport(truth, pred, 4);
    expect(r.total).toBe(6);
    expect(r.accuracy).toBe(3 / 6);
    const [a, b, c, d] = r.perClass;
    // a: 2 of the 3 predicted a are a; 2 of the 3 true a found.
    expect(a.precision).toBeCloseTo(2 / 3, 12);
    expect(a.recall).toBeCloseTo(2 / 3, 12);
    expect(a.f1).toBeCloseTo(2 / 3, 12);
    expect([a.support, a.predicted]).toEqual([3, 3]);
    // b: never predicted, so precision is 0/0 -> 0; none of 2 found.
    expect(b).toEqual({ precision: 0, recall: 0, f1: 0, support: 2, predicted: 0 });
    // c: 1 of 3 predictions right, the 1 true c found: F1 = 2 * (1/3 * 1) / (1/3 + 1) = 0.5.
    expect(c.precision).toBeCloseTo(1 / 3, 12);
    expect(c.recall).toBe(1);
    expect(c.f1).toBeCloseTo(0.5, 12);
    // d: absent and never predicted: every ratio is 0/0 -> 0, and it still counts in macro F1.
    expect(d).toEqual({ precision: 0, recall: 0, f1: 0, support: 0, predicted: 0 });
    expect(r.macroF1).toBeCloseTo((2 / 3 + 0 + 0.5 + 0) / 4, 12);
  });

  it('gives a class predicted but absent from the split precision 0 and recall 0', () => {
    // true: a a b   pred: a c b   (c absent, predicted once)
    const r = classificationReport([0, 0, 1], [0, 2, 1], 3);
    expect(r.perClass[2]).toEqual({ precision: 0, recall: 0, f1: 0, support: 0, predicted: 1 });
    expect(r.perClass[0]).toMatchObject({ precision: 1, recall: 0.5 });
    expect(r.perClass[0].f1).toBeCloseTo(2 / 3, 12);
    expect(r.macroF1).toBeCloseTo((2 / 3 + 1 + 0) / 3, 12);
  });

  it('is all zeros on an empty split', () => {
    const r = classificationReport([], [], 2);
    expect(r).toMatchObject({ total: 0, accuracy: 0, macroF1: 0 });
    expect(r.confusion).toEqual([
      [0, 0],
      [0, 0],
    ]);
  });

  it('refuses indices outside the classes', () => {
    expect(() => confusionMatrix([0, 3], [0, 1], 3)).toThrow(/out of range/);
  });
});

describe('confidence', () => {
  const conf = [0.95, 0.9, 0.7, 0.6, 0.4];
  const ok = [true, true, false, true, false];

  it('bins confidences by correctness, 1.0 in the last bin', () => {
    const h = confidenceHistogram([...conf, 1], [...ok, true], 10);
    expect(h).toHaveLength(10);
    expect(h[9]).toEqual({ from: 0.9, to: 1, correct: 3, wrong: 0 });
    expect(h[7]).toMatchObject({ correct: 0, wrong: 1 });
    expect(h[6]).toMatchObject({ correct: 1, wrong: 0 });
    expect(h[4]).toMatchObject({ correct: 0, wrong: 1 });
  });

  it('traces accuracy against coverage as the threshold rises', () => {
    const curve = coverageCurve(conf, ok, 10);
    expect(curve).toHaveLength(11);
    expect(curve[0]).toEqual({ threshold: 0, answered: 5, coverage: 1, accuracy: 3 / 5 });
    // At 0.7 the model answers 0.95, 0.9 and 0.7 (one wrong).
    expect(curve[7]).toMatchObject({ answered: 3, coverage: 3 / 5 });
    expect(curve[7].accuracy).toBeCloseTo(2 / 3, 12);
    expect(curve[9]).toMatchObject({ answered: 2, accuracy: 1 });
    expect(curve[10]).toEqual({ threshold: 1, answered: 0, coverage: 0, accuracy: null });
  });
});

describe('label-error rule (confident learning)', () => {
  // Three classes; rows are out-of-sample probabilities, given labels below.
  const probs = Float32Array.from([
    [0.9, 0.05, 0.05], // labeled 0, agrees
    [0.8, 0.1, 0.1], // labeled 0, agrees
    [0.1, 0.85, 0.05], // labeled 1, agrees
    [0.2, 0.7, 0.1], // labeled 1, agrees
    [0.9, 0.05, 0.05], // labeled 1: the model is sure it is a 0 -> flagged, suggest 0
    [0.3, 0.3, 0.4], // labeled 2, unsure: below the 0.5 floor -> not flagged
    [0.05, 0.45, 0.5], // labeled 2, agrees (barely)
    [0.6, 0.35, 0.05], // labeled 1: p0 = 0.6 is under class 0's threshold (0.85) -> not flagged
  ].flat());
  const given = [0, 0, 1, 1, 1, 2, 2, 1];

  it('sets each class threshold to its mean self-confidence', () => {
    const t = perClassThresholds(probs, given, 3);
    expect(t[0]).toBeCloseTo((0.9 + 0.8) / 2, 6);
    expect(t[1]).toBeCloseTo((0.85 + 0.7 + 0.05 + 0.35) / 4, 6);
    expect(t[2]).toBeCloseTo((0.4 + 0.5) / 2, 6);
    expect(perClassThresholds(probs, [0, 0, 0, 0, 0, 0, 0, 0], 3)[1]).toBe(1);
  });

  it('flags a label the model confidently contradicts, and suggests its class', () => {
    expect(flagLabelIssues(probs, given, 3)).toEqual([
      { index: 4, suggested: 0, givenProbability: expect.closeTo(0.05, 6), suggestedProbability: expect.closeTo(0.9, 6) },
    ]);
  });

  it('ranks the widest margins first', () => {
    const p = Float32Array.from([0.6, 0.4, 0.95, 0.05, 0.7, 0.3]);
    const hits = flagLabelIssues(p, [1, 1, 1], 2, [0.5, 0.5]);
    expect(hits.map((h) => h.index)).toEqual([1, 2, 0]);
  });
});

describe('folds', () => {
  it('deals every class evenly over the folds, the same way for the same seed', () => {
    const labels = [...Array(40).fill(0), ...Array(12).fill(1), ...Array(3).fill(2)];
    const folds = assignFolds(labels, 4, 7);
    for (const cls of [0, 1]) {
      const counts = [0, 1, 2, 3].map((f) => labels.filter((l, i) => l === cls && folds[i] === f).length);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    }
    // Three images of a class land in three different folds.
    expect(new Set(labels.map((l, i) => (l === 2 ? folds[i] : -1)).filter((f) => f >= 0)).size).toBe(3);
    expect(assignFolds(labels, 4, 7)).toEqual(folds);
  });
});
