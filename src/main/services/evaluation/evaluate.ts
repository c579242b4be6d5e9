// Evaluating a run: its stored predictions (all class probabilities, val and test) against each
// image's current label. Using the current label as the truth is what lets a person fix a label
// where the model found it and see the counts move at once; the run's own labels stay in its
// snapshot (run_images) and are counted here as "relabeled".
//
// A label a model wrote (an accepted suggestion or label-check finding) is no truth to grade a
// model on: accepting a model's guesses on test images would raise its score by construction.
// Leaving those images out would not do either (they are exactly the ones the model got "wrong"),
// so every score also comes as "independent": an image a model relabeled since the run trained is
// scored against the label it had in the run's snapshot, the one a model had not written; an image
// a model labeled before the run has no such label and is left out.

import { LoupeError } from '../../../shared/errors';
import { MODEL_LABEL_SOURCES } from '../../../shared/types';
import type {
  RunBackendName,
  ComparedImage,
  EvalSplit,
  Evaluation,
  EvaluationFilter,
  EvaluationImages,
  IndependentScore,
  RunComparison,
  RunStatus,
  TrainConfig,
} from '../../../shared/types';
import type { DB } from '../../store/database';
import type { RunClass } from '../training';
import { classificationReport, confidenceHistogram, coverageCurve } from './metrics';
import { defaultRunRecordId, predictionCounts, predictionRows, runRecord } from './records';

export interface RunInfo {
  id: number;
  /** When the run took its snapshot of the data (ms). */
  createdAt: number;
  status: RunStatus;
  backend: RunBackendName;
  classes: RunClass[];
  config: TrainConfig;
  bestEpoch: number | null;
}

export function runInfo(db: DB, runId: number): RunInfo {
  const row = runRecord(db, runId);
  if (!row) throw new LoupeError('NOT_FOUND', `There is no run #${runId} in this project.`);
  return { ...row, classes: JSON.parse(row.classes) as RunClass[], config: JSON.parse(row.config) as TrainConfig };
}

/** The run to use when none is named: the best completed run (by validation accuracy), else the latest completed one. */
export function defaultRunId(db: DB): number {
  const id = defaultRunRecordId(db);
  if (id === undefined) throw new LoupeError('NOT_FOUND', 'There is no completed run yet: train a model first.');
  return id;
}

/** A completed run, by id or the default one. */
export function completedRun(db: DB, runId?: number): RunInfo {
  const run = runInfo(db, runId ?? defaultRunId(db));
  if (run.status !== 'completed') throw new LoupeError('INVALID_INPUT', `Run #${run.id} is ${run.status}: only a completed run has a model and predictions.`);
  return run;
}

export interface ScoredImage {
  imageId: number;
  /** Indices into the run's classes. */
  truth: number;
  predicted: number;
  confidence: number;
  probs: Float32Array;
  /** Cross-entropy against the current label. */
  loss: number;
  relabeled: boolean;
  /** The label in the run's snapshot (index), if it was labeled with one of the run's classes then. */
  snapshotTruth: number | null;
  /** The current label was written by a model (source 'suggestion' or 'check'). */
  modelLabeled: boolean;
  /** ... after the run took its snapshot. */
  modelLabeledSinceRun: boolean;
}

export interface Scored {
  run: RunInfo;
  split: EvalSplit;
  images: ScoredImage[];
  excluded: number;
}

export function probsOf(blob: Buffer): Float32Array {
  // Copy: a Buffer from SQLite may not be 4-byte aligned.
  const out = new Float32Array(blob.byteLength / 4);
  new Uint8Array(out.buffer).set(blob);
  return out;
}

export function availableSplits(db: DB, runId: number): Record<EvalSplit, number> {
  const out = { val: 0, test: 0 };
  for (const r of predictionCounts(db, runId)) {
    if (r.split === 'val' || r.split === 'test') out[r.split] = r.n;
  }
  return out;
}

/** The split to evaluate when none is named: test, or val when the run has no test predictions. */
export function defaultSplit(db: DB, runId: number): EvalSplit {
  return availableSplits(db, runId).test > 0 ? 'test' : 'val';
}

/** Every prediction of a run on a split, scored against the images' current labels. */
export function scoredPredictions(db: DB, run: RunInfo, split: EvalSplit): Scored {
  const rows = predictionRows(db, run.id, split);
  const index = new Map(run.classes.map((c, i) => [c.id, i]));
  const images: ScoredImage[] = [];
  let excluded = 0;
  for (const r of rows) {
    const truth = r.classId === null ? undefined : index.get(r.classId);
    if (truth === undefined || r.removed) {
      excluded += 1;
      continue;
    }
    const probs = probsOf(r.probs);
    const modelLabeled = r.source !== null && MODEL_LABEL_SOURCES.includes(r.source);
    images.push({
      imageId: r.imageId,
      truth,
      predicted: r.predicted,
      confidence: r.confidence,
      probs,
      loss: -Math.log(Math.max(probs[truth] ?? 0, 1e-7)),
      relabeled: r.snapshotTruth !== truth,
      snapshotTruth: r.snapshotTruth,
      modelLabeled,
      modelLabeledSinceRun: modelLabeled && (r.labeledAt ?? 0) >= run.createdAt,
    });
  }
  return { run, split, images, excluded };
}

export function evaluateRun(db: DB, runId?: number, split?: EvalSplit): Evaluation {
  const run = completedRun(db, runId);
  const chosen = split ?? defaultSplit(db, run.id);
  const { images, excluded } = scoredPredictions(db, run, chosen);
  const report = classificationReport(
    images.map((im) => im.truth),
    images.map((im) => im.predicted),
    run.classes.length,
  );
  const confidence = images.map((im) => im.confidence);
  const correct = images.map((im) => im.truth === im.predicted);
  return {
    runId: run.id,
    split: chosen,
    images: images.length,
    accuracy: images.length > 0 ? report.accuracy : null,
    macroF1: images.length > 0 ? report.macroF1 : null,
    unscored:
      images.length > 0
        ? null
        : excluded > 0
          ? `its ${excluded.toLocaleString('en-US')} images were removed, unlabeled or moved to a class the run does not know since it trained.`
          : 'the split was empty when it trained (with only a few images per class, all of them train). Add images, or move some to the validation and test splits in the Label view, and train again.',
    labels: run.classes.map((c) => c.name),
    classIds: run.classes.map((c) => c.id),
    perClass: report.perClass.map((s, k) => ({ classId: run.classes[k].id, label: run.classes[k].name, ...s })),
    confusion: report.confusion,
    histogram: confidenceHistogram(confidence, correct),
    coverage: coverageCurve(confidence, correct),
    relabeled: images.filter((im) => im.relabeled).length,
    excluded,
    available: availableSplits(db, run.id),
    ...independentScore(run, images),
  };
}

/**
 * The truth a model did not write: the current label; for a label a model wrote since the run
 * trained, the run's snapshot label; undefined (leave the image out) for a label a model wrote
 * before the run.
 */
export function independentTruth(im: ScoredImage): number | undefined {
  if (!im.modelLabeled) return im.truth;
  return im.modelLabeledSinceRun && im.snapshotTruth !== null ? im.snapshotTruth : undefined;
}

/** Counts of model-written labels among `images`, and the scores on the labels no model wrote. */
export function independentScore(run: RunInfo, images: ScoredImage[]): { modelLabeled: number; modelLabeledSinceRun: number; independent: IndependentScore } {
  const kept = images.filter((im) => independentTruth(im) !== undefined);
  const report = classificationReport(
    kept.map((im) => independentTruth(im)!),
    kept.map((im) => im.predicted),
    run.classes.length,
  );
  return {
    modelLabeled: images.filter((im) => im.modelLabeled).length,
    modelLabeledSinceRun: images.filter((im) => im.modelLabeledSinceRun).length,
    independent: { images: kept.length, accuracy: kept.length > 0 ? report.accuracy : null, macroF1: kept.length > 0 ? report.macroF1 : null },
  };
}

/** The images of an evaluation filter, in the gallery's order, with the model's prediction for each. */
export function evaluationImages(db: DB, runId: number, split: EvalSplit, filter: EvaluationFilter): EvaluationImages {
  const run = completedRun(db, runId);
  const index = new Map(run.classes.map((c, i) => [c.id, i]));
  const wanted = (classId: number | undefined) => (classId === undefined ? undefined : (index.get(classId) ?? -1));
  const t = wanted(filter.trueClassId);
  const p = wanted(filter.predictedClassId);
  const chosen = scoredPredictions(db, run, split).images.filter(
    (im) =>
      (t === undefined || im.truth === t) &&
      (p === undefined || im.predicted === p) &&
      (filter.mode === 'all' || (filter.mode === 'misclassified') === (im.truth !== im.predicted)),
  );
  // Top losses: worst first. Least confident: the correct images the model was least sure of.
  if (filter.mode === 'leastConfident') chosen.sort((a, b) => a.confidence - b.confidence || a.imageId - b.imageId);
  else chosen.sort((a, b) => b.loss - a.loss || a.imageId - b.imageId);
  return {
    imageIds: chosen.map((im) => im.imageId),
    predictedClassIds: chosen.map((im) => run.classes[im.predicted].id),
    confidences: chosen.map((im) => im.confidence),
  };
}

/**
 * Two runs side by side on the images both evaluated in `split`. Classes are matched by id
 * (runs on different class sets compare on the union); each run's metrics are recomputed on the
 * common images, so the numbers are comparable.
 */
export function compareRuns(db: DB, runA: number, runB: number, split?: EvalSplit): RunComparison {
  const a = completedRun(db, runA);
  const b = completedRun(db, runB);
  const chosen = split ?? (availableSplits(db, a.id).test > 0 && availableSplits(db, b.id).test > 0 ? 'test' : 'val');
  const classes = [...a.classes, ...b.classes.filter((c) => !a.classes.some((x) => x.id === c.id))];
  const union = new Map(classes.map((c, i) => [c.id, i]));
  const byImage = (s: Scored) =>
    new Map(
      s.images.map((im) => {
        const honest = independentTruth(im);
        return [
          im.imageId,
          {
            truth: s.run.classes[im.truth].id,
            predicted: s.run.classes[im.predicted].id,
            confidence: im.confidence,
            modelLabeled: im.modelLabeled,
            independent: honest === undefined ? null : s.run.classes[honest].id,
          },
        ];
      }),
    );
  const pa = byImage(scoredPredictions(db, a, chosen));
  const pb = byImage(scoredPredictions(db, b, chosen));
  const common = [...pa.keys()].filter((id) => pb.has(id));
  const truth = common.map((id) => union.get(pa.get(id)!.truth)!);
  const ra = classificationReport(truth, common.map((id) => union.get(pa.get(id)!.predicted)!), classes.length);
  const rb = classificationReport(truth, common.map((id) => union.get(pb.get(id)!.predicted)!), classes.length);
  // The same on labels no model wrote: both runs must agree on what that label is.
  const kept = common.filter((id) => pa.get(id)!.independent !== null && pa.get(id)!.independent === pb.get(id)!.independent);
  const keptTruth = kept.map((id) => union.get(pa.get(id)!.independent!)!);
  const ia = classificationReport(keptTruth, kept.map((id) => union.get(pa.get(id)!.predicted)!), classes.length);
  const ib = classificationReport(keptTruth, kept.map((id) => union.get(pb.get(id)!.predicted)!), classes.length);
  const independent = (r: typeof ia) => ({ images: kept.length, accuracy: kept.length > 0 ? r.accuracy : null, macroF1: kept.length > 0 ? r.macroF1 : null });
  const aOnlyCorrect: ComparedImage[] = [];
  const bOnlyCorrect: ComparedImage[] = [];
  for (const id of common) {
    const x = pa.get(id)!;
    const y = pb.get(id)!;
    const okA = x.predicted === x.truth;
    const okB = y.predicted === y.truth;
    if (okA === okB) continue;
    const item = { imageId: id, trueClassId: x.truth, a: { classId: x.predicted, confidence: x.confidence }, b: { classId: y.predicted, confidence: y.confidence } };
    (okA ? aOnlyCorrect : bOnlyCorrect).push(item);
  }
  // The most confident disagreements first: the clearest cases of one run knowing better.
  aOnlyCorrect.sort((p, q) => q.b.confidence - p.b.confidence);
  bOnlyCorrect.sort((p, q) => q.a.confidence - p.a.confidence);
  const scores = (s: { precision: number; recall: number; f1: number }) => ({ precision: s.precision, recall: s.recall, f1: s.f1 });
  return {
    split: chosen,
    images: common.length,
    a: { runId: a.id, accuracy: ra.accuracy, macroF1: ra.macroF1, independent: independent(ia) },
    b: { runId: b.id, accuracy: rb.accuracy, macroF1: rb.macroF1, independent: independent(ib) },
    modelLabeled: common.filter((id) => pa.get(id)!.modelLabeled).length,
    perClass: classes.map((c, k) => ({ classId: c.id, label: c.name, support: ra.perClass[k].support, a: scores(ra.perClass[k]), b: scores(rb.perClass[k]) })),
    aOnlyCorrect,
    bOnlyCorrect,
  };
}
