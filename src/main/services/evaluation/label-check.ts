// The label-error finder. A model cannot judge the label of an image it was trained on (it has
// learnt that label), so every image is judged out of sample:
// - train split: k-fold cross-validation with the run's own plan (architecture, input, optimizer,
//   augmentation, seed): k models, each trained on the other folds, predict the held-out fold.
//   Epochs are capped (the run's best epoch, at most LABEL_CHECK_MAX_EPOCHS) to keep it quick;
//   early stopping is off, as the folds have no validation images.
// - val and test: the run's stored predictions (the run never trained on them).
// The rule that flags an image, and the gate that holds back findings the judge is not reliable
// enough for, are in label-rule.ts. Findings are stored as label issues, with what was held back.

import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import type { LabelCheckGroup, LabelCheckInfo, Split, TrainConfig } from '../../../shared/types';
import { throwIfCancelled } from '../../jobs/jobs';
import type { DB } from '../../store/database';
import { requireWritable, type Project } from '../../store/project';
import { chooseBackend } from '../tfjs/backends';
import { ensurePixelPack } from '../pixels/pixel-pack';
import { permutation, seededRandom, subSeed } from '../rng';
import { prepareFeatures, type ReplicaInput, trainingBackends, trainReplicas } from '../training';
import { completedRun, scoredPredictions, type RunInfo } from './evaluate';
import { labelCheck } from './label-issues';
import { judgeLabels, perClassThresholds, type Reliability } from './label-rule';
import { clearPendingIssues, insertLabelCheck, issueStatements, labeledImages, liveClassIds } from './records';

export const LABEL_CHECK_FOLDS = 4;
export const LABEL_CHECK_MAX_EPOCHS = 10;

export interface LabelCheckOptions {
  folds?: number;
  /** Epochs per fold model (default: the run's best epoch, at most LABEL_CHECK_MAX_EPOCHS). */
  epochs?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number | null, phase: string) => void;
}

interface Item {
  imageId: number;
  hash: string;
  ext: string;
  /** Index of the current label in the run's classes. */
  given: number;
  split: Split;
}

/** Live images labeled with one of the run's classes, with their current label and split. */
function labeledItems(db: DB, run: RunInfo): Item[] {
  const index = new Map(run.classes.map((c, i) => [c.id, i]));
  const rows = labeledImages(db);
  return rows.filter((r) => index.has(r.classId)).map((r) => ({ imageId: r.imageId, hash: r.hash, ext: r.ext, given: index.get(r.classId)!, split: r.split }));
}

/** Fold of each item: stratified per class, seeded, so a fold holds a fair share of every class. */
export function assignFolds(labels: ArrayLike<number>, folds: number, seed: number): Int32Array {
  const fold = new Int32Array(labels.length);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) byClass.set(labels[i], [...(byClass.get(labels[i]) ?? []), i]);
  let offset = 0;
  for (const [label, members] of [...byClass].sort((a, b) => a[0] - b[0])) {
    const order = permutation(members.length, seededRandom(subSeed(seed, 5, label)));
    // Continue the round-robin across classes, so small classes do not all land in fold 0.
    order.forEach((m, j) => (fold[members[m]] = (offset + j) % folds));
    offset += members.length;
  }
  return fold;
}

export interface Judged {
  imageId: number;
  given: number;
  probs: Float32Array;
}

export interface OutOfFold {
  run: RunInfo;
  folds: number;
  epochs: number;
  /** Every readable training image, judged by the model trained without its fold. */
  judged: Judged[];
}

/**
 * Class probabilities of every training image from a model that never saw it (k-fold
 * cross-validation with the run's plan). Progress counts images judged: a fold's images count
 * as its models train, so the total is the number of training images, whatever k and the epochs.
 */
export async function outOfFoldProbabilities(project: Project, runId: number | undefined, options: LabelCheckOptions = {}): Promise<OutOfFold> {
  const { signal, onProgress } = options;
  const db = project.db;
  const run = completedRun(db, runId);
  const k = options.folds ?? LABEL_CHECK_FOLDS;
  const epochs = options.epochs ?? Math.max(1, Math.min(LABEL_CHECK_MAX_EPOCHS, run.bestEpoch ?? run.config.epochs));
  const classes = run.classes.length;

  const items = labeledItems(db, run);
  const spec = { width: run.config.width, height: run.config.height, channels: run.config.channels, fit: 'cover' as const };
  // A transfer run's folds train heads on the cached backbone features, like the run itself.
  let pack: { file: string; rowBytes: number; rows: Map<string, number> };
  let input: ReplicaInput = { kind: 'pixels' };
  if (run.config.backbone) {
    pack = (await prepareFeatures(project, run.config, items.map(({ hash, ext }) => ({ hash, ext })), { signal, onProgress })).pack;
    input = { kind: 'features', features: run.config.backbone.features };
  } else {
    onProgress?.(0, items.length, 'Preparing images');
    pack = await ensurePixelPack(project, items, spec, { signal, onProgress: (d, t) => onProgress?.(d, t, 'Preparing images') });
  }
  if (signal) throwIfCancelled(signal);
  const train = items.filter((it) => it.split === 'train' && pack.rows.has(it.hash));
  if (train.length < 2 * k) throw new LoupeError('INVALID_INPUT', `A label check needs at least ${2 * k} readable training images for ${k} folds.`);

  const probes = await trainingBackends();
  const backend = probes.find((p) => p.name === run.backend && p.available)?.name ?? chooseBackend(probes, 'auto').name;
  const config: TrainConfig = { ...run.config, epochs, patience: null, restoreBest: false };
  const fold = assignFolds(train.map((it) => it.given), k, config.seed);
  const rowsOf = (list: Item[]) => ({ rows: Int32Array.from(list, (it) => pack.rows.get(it.hash)!), labels: Int32Array.from(list, (it) => it.given) });
  const none = { rows: new Int32Array(0), labels: new Int32Array(0) };
  const total = train.length;
  let before = 0;
  const judged: Judged[] = [];
  const workDir = path.join(project.paths.cache, 'label-check');
  try {
    for (let f = 0; f < k; f++) {
      const fit = train.filter((_, i) => fold[i] !== f);
      const held = train.filter((_, i) => fold[i] === f);
      const n = fit.length;
      const phase = (epoch: number) => `Fold ${f + 1} of ${k}, epoch ${Math.min(epoch, epochs)} of ${epochs}`;
      onProgress?.(before, total, phase(1));
      const outcome = await trainReplicas({
        backend,
        config,
        classes,
        pack,
        input,
        train: rowsOf(fit),
        val: none,
        test: rowsOf(held),
        modelDir: path.join(workDir, `fold-${f + 1}`),
        signal,
        onBatch: (msg) => {
          const work = Math.min(1, (msg.epoch * n + Math.min(n, msg.batch * config.batchSize)) / (n * epochs));
          onProgress?.(before + Math.floor(held.length * work), total, phase(msg.epoch + 1));
        },
      });
      if (outcome.cancelled) throw new LoupeError('CANCELLED', 'Cancelled.');
      if (outcome.failure) throw outcome.failure;
      held.forEach((it, i) => judged.push({ imageId: it.imageId, given: it.given, probs: outcome.predictions.test.subarray(i * classes, (i + 1) * classes) }));
      before += held.length;
      onProgress?.(before, total, phase(epochs));
    }
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  return { run, folds: k, epochs, judged };
}

type Source = 'fold' | 'run';
export interface Finding {
  judged: Judged;
  source: Source;
  suggested: number;
  pg: number;
  ps: number;
}

function stack(list: Judged[], classes: number): { probs: Float32Array; given: number[] } {
  const probs = new Float32Array(list.length * classes);
  list.forEach((j, i) => probs.set(j.probs, i * classes));
  return { probs, given: list.map((j) => j.given) };
}

/** The fewest and the median images per class among `given` (classes with none count as 0). */
function perClassCounts(given: number[], classes: number): { fewest: number; median: number } {
  const counts = new Array<number>(classes).fill(0);
  for (const g of given) counts[g] += 1;
  const sorted = [...counts].sort((a, b) => a - b);
  return { fewest: sorted[0] ?? 0, median: sorted[Math.floor((sorted.length - 1) / 2)] ?? 0 };
}

export interface GroupsJudgement {
  flagged: Finding[];
  thresholds: Record<string, number[]>;
  reliability: LabelCheckGroup[];
}

/**
 * The findings of both judges: the fold models on train (`fold`), and the run on val/test
 * (`fromRun`), whose classes with too few sure calls borrow the fold models' trust.
 */
export function judgeGroups(run: RunInfo, fold: Judged[], fromRun: Judged[]): GroupsJudgement {
  const classes = run.classes.length;
  const groups: Record<Source, Judged[]> = { fold, run: fromRun };
  const thresholds: Record<string, number[]> = {};
  const reliability: LabelCheckGroup[] = [];
  const flagged: Finding[] = [];
  let foldReliability: Reliability | undefined;
  for (const [source, list] of Object.entries(groups) as [Source, Judged[]][]) {
    if (list.length === 0) continue;
    const { probs, given } = stack(list, classes);
    thresholds[source] = perClassThresholds(probs, given, classes);
    const verdict = judgeLabels(probs, given, classes, {}, source === 'run' ? foldReliability : undefined);
    if (source === 'fold') foldReliability = verdict.reliability;
    for (const hit of verdict.shown) {
      flagged.push({ judged: list[hit.index], source, suggested: hit.suggested, pg: hit.givenProbability, ps: hit.suggestedProbability });
    }
    const counts = perClassCounts(given, classes);
    reliability.push({
      source,
      images: list.length,
      accuracy: verdict.reliability.accuracy,
      fewestPerClass: counts.fewest,
      medianPerClass: counts.median,
      perClass: verdict.reliability.perClass.map((c, i) => ({ classId: run.classes[i].id, label: run.classes[i].name, ...c })),
      shown: verdict.shown.length,
      heldWeakClass: verdict.held.filter((h) => h.reason === 'weakClass').length,
      heldSmallMargin: verdict.held.filter((h) => h.reason === 'smallMargin').length,
    });
  }
  return { flagged, thresholds, reliability };
}

/** Val and test images judged by the run's own predictions (it never trained on them), against the current labels. */
export function judgedByRun(db: DB, run: RunInfo, exclude: Set<number> = new Set()): Judged[] {
  const out: Judged[] = [];
  for (const split of ['val', 'test'] as const) {
    for (const im of scoredPredictions(db, run, split).images) {
      if (!exclude.has(im.imageId)) out.push({ imageId: im.imageId, given: im.truth, probs: im.probs });
    }
  }
  return out;
}

export async function runLabelCheck(project: Project, runId: number | undefined, options: LabelCheckOptions = {}): Promise<LabelCheckInfo> {
  requireWritable(project);
  const started = performance.now();
  const { run, folds, epochs, judged } = await outOfFoldProbabilities(project, runId, options);
  const db = project.db;
  const fromRun = judgedByRun(db, run, new Set(judged.map((j) => j.imageId)));
  const { flagged, thresholds, reliability } = judgeGroups(run, judged, fromRun);
  const seconds = (performance.now() - started) / 1000;
  const checkId = storeIssues(db, run, { folds, epochs, images: judged.length + fromRun.length, seconds, thresholds, reliability }, flagged);
  return labelCheck(db, checkId);
}

function storeIssues(
  db: DB,
  run: RunInfo,
  check: { folds: number; epochs: number; images: number; seconds: number; thresholds: Record<string, number[]>; reliability: LabelCheckGroup[] },
  flagged: Finding[],
): number {
  const now = Date.now();
  return db.transaction(() => {
    const checkId = insertLabelCheck(db, {
      runId: run.id,
      folds: check.folds,
      epochs: check.epochs,
      images: check.images,
      flagged: flagged.length,
      seconds: check.seconds,
      thresholds: JSON.stringify(check.thresholds),
      heldBack: check.reliability.reduce((n, g) => n + g.heldWeakClass + g.heldSmallMargin, 0),
      reliability: JSON.stringify(check.reliability),
      createdAt: now,
    });
    clearPendingIssues(db);
    const { existing, insert } = issueStatements(db);
    const live = liveClassIds(db);
    for (const f of flagged) {
      const given = run.classes[f.judged.given].id;
      const suggested = run.classes[f.suggested].id;
      if (!live.has(suggested)) continue;
      // Someone already looked at this image with this label and kept it: do not ask again.
      const before = existing(f.judged.imageId);
      if (before?.status === 'dismissed' && before.given === given) continue;
      insert(f.judged.imageId, checkId, given, suggested, f.pg, f.ps, f.source, now);
    }
    return checkId;
  })();
}
