// The label-error finder. A model cannot judge the label of an image it was trained on (it has
// learnt that label), so every image is judged out of sample:
// - train split: k-fold cross-validation with the run's own plan (architecture, input, optimizer,
//   augmentation, seed): k models, each trained on the other folds, predict the held-out fold.
//   Epochs are capped (the run's best epoch, at most LABEL_CHECK_MAX_EPOCHS) to keep it quick;
//   early stopping is off, as the folds have no validation images.
// - val and test: the run's stored predictions (the run never trained on them).
// The rule that flags an image is in label-rule.ts. Findings are stored as label issues.

import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import type { LabelCheckInfo, Split, TrainConfig } from '../../../shared/types';
import { throwIfCancelled } from '../../jobs/jobs';
import type { DB } from '../../store/database';
import type { Project } from '../../store/project';
import { chooseBackend } from '../training/backends';
import { ensurePixelPack } from '../training/pixel-pack';
import { permutation, seededRandom, subSeed } from '../training/rng';
import type { ReplicaInput } from '../training/protocol';
import { trainingBackends, trainReplicas } from '../training/train';
import { prepareFeatures } from '../training/transfer';
import { completedRun, scoredPredictions, type RunInfo } from './evaluate';
import { labelCheck } from './label-issues';
import { flagLabelIssues, perClassThresholds } from './label-rule';

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
  const rows = db
    .prepare(
      `SELECT i.id AS imageId, i.hash, i.ext, l.class_id AS classId, i.split
         FROM labels l JOIN images i ON i.id = l.image_id WHERE i.removed_at IS NULL ORDER BY i.id`,
    )
    .all() as (Omit<Item, 'given'> & { classId: number })[];
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

interface Judged {
  imageId: number;
  given: number;
  probs: Float32Array;
}

export async function runLabelCheck(project: Project, runId: number | undefined, options: LabelCheckOptions = {}): Promise<LabelCheckInfo> {
  if (project.readOnly) throw new LoupeError('READ_ONLY', 'This project is open read-only.');
  const { signal, onProgress } = options;
  const db = project.db;
  const run = completedRun(db, runId);
  const k = options.folds ?? LABEL_CHECK_FOLDS;
  const epochs = options.epochs ?? Math.max(1, Math.min(LABEL_CHECK_MAX_EPOCHS, run.bestEpoch ?? run.config.epochs));
  const classes = run.classes.length;
  const started = performance.now();

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
  const sizes = Array.from({ length: k }, (_, f) => train.length - fold.filter((x) => x === f).length);
  const total = sizes.reduce((a, b) => a + b, 0) * epochs;
  let before = 0;
  const judged: Judged[] = [];
  const workDir = path.join(project.paths.cache, 'label-check');
  try {
    for (let f = 0; f < k; f++) {
      const fit = train.filter((_, i) => fold[i] !== f);
      const held = train.filter((_, i) => fold[i] === f);
      const n = fit.length;
      const phase = (epoch: number) => `Fold ${f + 1}/${k}: epoch ${epoch}/${epochs}`;
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
        onBatch: (msg) => onProgress?.(before + msg.epoch * n + Math.min(n, msg.batch * config.batchSize), total, phase(msg.epoch + 1)),
      });
      if (outcome.cancelled) throw new LoupeError('CANCELLED', 'Cancelled.');
      if (outcome.failure) throw outcome.failure;
      held.forEach((it, i) => judged.push({ imageId: it.imageId, given: it.given, probs: outcome.predictions.test.subarray(i * classes, (i + 1) * classes) }));
      before += n * epochs;
    }
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }

  // Val and test: the run's own predictions, against the current labels.
  const inFolds = new Set(train.map((it) => it.imageId));
  const fromRun: Judged[] = [];
  for (const split of ['val', 'test'] as const) {
    for (const im of scoredPredictions(db, run, split).images) {
      if (!inFolds.has(im.imageId)) fromRun.push({ imageId: im.imageId, given: im.truth, probs: im.probs });
    }
  }
  const groups = { fold: judged, run: fromRun };
  const thresholds: Record<string, number[]> = {};
  const flagged: { judged: Judged; source: 'fold' | 'run'; suggested: number; pg: number; ps: number }[] = [];
  for (const [source, list] of Object.entries(groups) as ['fold' | 'run', Judged[]][]) {
    if (list.length === 0) continue;
    const probs = new Float32Array(list.length * classes);
    list.forEach((j, i) => probs.set(j.probs, i * classes));
    const given = list.map((j) => j.given);
    thresholds[source] = perClassThresholds(probs, given, classes);
    for (const hit of flagLabelIssues(probs, given, classes, thresholds[source])) {
      flagged.push({ judged: list[hit.index], source, suggested: hit.suggested, pg: hit.givenProbability, ps: hit.suggestedProbability });
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const checkId = storeIssues(db, run, { folds: k, epochs, images: judged.length + fromRun.length, seconds, thresholds }, flagged);
  return labelCheck(db, checkId);
}

function storeIssues(
  db: DB,
  run: RunInfo,
  check: { folds: number; epochs: number; images: number; seconds: number; thresholds: Record<string, number[]> },
  flagged: { judged: Judged; source: 'fold' | 'run'; suggested: number; pg: number; ps: number }[],
): number {
  const now = Date.now();
  return db.transaction(() => {
    const checkId = Number(
      db
        .prepare('INSERT INTO label_checks (run_id, folds, epochs, images, flagged, seconds, thresholds, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(run.id, check.folds, check.epochs, check.images, flagged.length, check.seconds, JSON.stringify(check.thresholds), now).lastInsertRowid,
    );
    db.prepare("DELETE FROM label_issues WHERE status = 'pending'").run();
    const existing = db.prepare('SELECT status, given_class_id AS given FROM label_issues WHERE image_id = ?');
    const live = new Set(db.prepare('SELECT id FROM classes').pluck().all() as number[]);
    const insert = db.prepare(
      `INSERT OR REPLACE INTO label_issues (image_id, check_id, given_class_id, suggested_class_id, given_probability, suggested_probability, source, status, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)`,
    );
    for (const f of flagged) {
      const given = run.classes[f.judged.given].id;
      const suggested = run.classes[f.suggested].id;
      if (!live.has(suggested)) continue;
      // Someone already looked at this image with this label and kept it: do not ask again.
      const before = existing.get(f.judged.imageId) as { status: string; given: number } | undefined;
      if (before?.status === 'dismissed' && before.given === given) continue;
      insert.run(f.judged.imageId, checkId, given, suggested, f.pg, f.ps, f.source, now);
    }
    return checkId;
  })();
}
