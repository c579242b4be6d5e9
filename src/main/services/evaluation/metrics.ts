// Classification metrics as pure functions over class indices, so they can be checked against
// hand-computed cases. Conventions (scikit-learn's with zero_division=0): a ratio whose
// denominator is zero is 0, and macro F1 averages over every class of the run, including a
// class that is absent from the split or never predicted.

export interface ClassScores {
  precision: number;
  recall: number;
  f1: number;
  /** Images whose true class this is. */
  support: number;
  /** Images predicted as this class. */
  predicted: number;
}

export interface Report {
  total: number;
  accuracy: number;
  macroF1: number;
  perClass: ClassScores[];
  /** confusion[t][p]: images of true class t predicted as p (rows = true class). */
  confusion: number[][];
}

export const ratio = (numerator: number, denominator: number): number => (denominator === 0 ? 0 : numerator / denominator);

export function confusionMatrix(truth: ArrayLike<number>, predicted: ArrayLike<number>, classes: number): number[][] {
  if (truth.length !== predicted.length) throw new Error(`${truth.length} true labels but ${predicted.length} predictions`);
  const matrix = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i];
    const p = predicted[i];
    if (!(t >= 0 && t < classes && p >= 0 && p < classes)) throw new Error(`class index out of range at ${i}: ${t} -> ${p}`);
    matrix[t][p] += 1;
  }
  return matrix;
}

export function accuracyOf(confusion: number[][]): number {
  let correct = 0;
  let total = 0;
  confusion.forEach((row, t) => {
    correct += row[t];
    for (const n of row) total += n;
  });
  return ratio(correct, total);
}

export function classScores(confusion: number[][]): ClassScores[] {
  return confusion.map((row, k) => {
    const tp = row[k];
    const support = row.reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((sum, r) => sum + r[k], 0);
    const precision = ratio(tp, predicted);
    const recall = ratio(tp, support);
    return { precision, recall, f1: ratio(2 * precision * recall, precision + recall), support, predicted };
  });
}

export function macroF1(scores: ClassScores[]): number {
  return ratio(
    scores.reduce((sum, s) => sum + s.f1, 0),
    scores.length,
  );
}

export function classificationReport(truth: ArrayLike<number>, predicted: ArrayLike<number>, classes: number): Report {
  const confusion = confusionMatrix(truth, predicted, classes);
  const perClass = classScores(confusion);
  return { total: truth.length, accuracy: accuracyOf(confusion), macroF1: macroF1(perClass), perClass, confusion };
}

export interface HistogramBin {
  from: number;
  to: number;
  correct: number;
  wrong: number;
}

/** Confidences in `bins` equal bins over [0, 1] (the last one closed), split by correctness. */
export function confidenceHistogram(confidence: ArrayLike<number>, correct: ArrayLike<boolean>, bins = 20): HistogramBin[] {
  const out = Array.from({ length: bins }, (_, i) => ({ from: i / bins, to: (i + 1) / bins, correct: 0, wrong: 0 }));
  for (let i = 0; i < confidence.length; i++) {
    const bin = out[Math.min(bins - 1, Math.max(0, Math.floor(confidence[i] * bins)))];
    if (correct[i]) bin.correct += 1;
    else bin.wrong += 1;
  }
  return out;
}

export interface CoveragePoint {
  threshold: number;
  /** Images whose confidence reaches the threshold: the ones the model would answer. */
  answered: number;
  /** answered / all images. */
  coverage: number;
  /** Accuracy on the answered images; null when there are none. */
  accuracy: number | null;
}

/** Accuracy against coverage when the model answers only at confidence >= threshold, for thresholds 0, 1/steps, ..., 1. */
export function coverageCurve(confidence: ArrayLike<number>, correct: ArrayLike<boolean>, steps = 100): CoveragePoint[] {
  const order = Array.from({ length: confidence.length }, (_, i) => i).sort((a, b) => confidence[b] - confidence[a]);
  const points: CoveragePoint[] = [];
  let answered = 0;
  let right = 0;
  // Thresholds from high to low sweep the images once, most confident first.
  for (let k = steps; k >= 0; k--) {
    const threshold = k / steps;
    // A tiny tolerance, so a confidence of 0.7 (stored as 0.69999...) counts at threshold 0.70.
    while (answered < order.length && confidence[order[answered]] >= threshold - 1e-9) {
      if (correct[order[answered]]) right += 1;
      answered += 1;
    }
    points.push({ threshold, answered, coverage: ratio(answered, confidence.length), accuracy: answered === 0 ? null : right / answered });
  }
  return points.reverse();
}
