// Model-assisted labeling: a completed run's model suggests a class for every unlabeled image.
// Suggestions never touch a label by themselves; accepting one labels the image (source
// 'suggestion') through the undo log, and a later suggest job replaces the pending ones.
// A bulk accept (by confidence) labels training images only unless validation or test are asked
// for by name: a label a model wrote on a test image would let a model grade itself.

import { LoupeError } from '../../../shared/errors';
import { wholePercent, type Split, type SuggestionList, type SuggestResult } from '../../../shared/types';
import type { DB } from '../../store/database';
import { requireWritable, type Project } from '../../store/project';
import { record, type Op } from '../history';
import { completedRun } from './evaluate';
import { clearSuggestions, liveClassIds, pendingSuggestions, pendingSuggestionsOf, suggestionWriter, unlabeledImages } from './records';
import { predictImages, type PredictOptions } from './run-predictions';

/** Predicts every unlabeled image with run `runId` (default: the best run) and stores the suggestions. */
export async function runSuggestions(project: Project, runId: number | undefined, options: PredictOptions = {}): Promise<SuggestResult> {
  requireWritable(project);
  const db = project.db;
  const run = completedRun(db, runId);
  const started = performance.now();
  const predicted = await predictImages(project, run, unlabeledImages(db), options);
  const { classes } = predicted;
  // A class deleted since the run can no longer be suggested: the best remaining one is.
  const live = liveClassIds(db);
  const usable = run.classes.map((c) => live.has(c.id));
  const counts = new Map<number, number>();
  const now = Date.now();
  db.transaction(() => {
    const ids = JSON.stringify(predicted.imageIds);
    clearSuggestions(db, ids);
    const insert = suggestionWriter(db);
    predicted.imageIds.forEach((imageId, i) => {
      let best = -1;
      for (let k = 0; k < classes; k++) if (usable[k] && (best < 0 || predicted.probs[i * classes + k] > predicted.probs[i * classes + best])) best = k;
      if (best < 0) return;
      const classId = run.classes[best].id;
      insert(imageId, run.id, classId, predicted.probs[i * classes + best], now);
      counts.set(classId, (counts.get(classId) ?? 0) + 1);
    });
  })();
  const seconds = (performance.now() - started) / 1000;
  const images = [...counts.values()].reduce((a, b) => a + b, 0);
  return {
    runId: run.id,
    images,
    failed: predicted.failed,
    classes: run.classes.filter((c) => counts.has(c.id)).map((c) => ({ classId: c.id, label: c.name, count: counts.get(c.id)! })),
    seconds,
    imagesPerSecond: seconds > 0 && images > 0 ? images / seconds : null,
  };
}

/** The pending suggestions of the images that are still unlabeled, least confident first. */
export function listSuggestions(db: DB): SuggestionList {
  const rows = pendingSuggestions(db);
  return {
    runId: rows.length ? Math.max(...rows.map((r) => r.runId)) : null,
    imageIds: rows.map((r) => r.imageId),
    classIds: rows.map((r) => r.classId),
    confidences: rows.map((r) => r.confidence),
    splits: rows.map((r) => r.split),
  };
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Accepts the pending suggestions of these images, or of every image at or above a confidence
 * (both given: both apply). A confidence compares as the whole percent shown (wholePercent).
 * `splits` narrows to images of these splits; a bulk accept by confidence without it takes
 * training images only. Only unlabeled images are labeled: a suggestion never overwrites a label.
 * One undoable action. Returns the images labeled.
 */
export function acceptSuggestions(db: DB, which: { imageIds?: number[]; minConfidence?: number; splits?: Split[] }): number[] {
  if (which.imageIds === undefined && which.minConfidence === undefined) {
    throw new LoupeError('INVALID_INPUT', 'Say which suggestions to accept: images, or a minimum confidence.');
  }
  const splits = which.splits ?? (which.imageIds === undefined ? ['train'] : null);
  return db.transaction(() => {
    const rows = pendingSuggestionsOf(db, which.imageIds, splits).filter((r) => which.minConfidence === undefined || wholePercent(r.confidence) >= wholePercent(which.minConfidence));
    if (rows.length === 0) return [];
    const imageIds = rows.map((r) => r.id);
    const redo: Op[] = [
      { t: 'labels', imageIds, classIds: rows.map((r) => r.classId), sources: rows.map(() => 'suggestion') },
      { t: 'suggestionStatus', imageIds, statuses: rows.map(() => 'accepted') },
    ];
    const undo: Op[] = [
      { t: 'labels', imageIds, classIds: rows.map(() => null), sources: rows.map(() => null) },
      { t: 'suggestionStatus', imageIds, statuses: rows.map(() => 'pending') },
    ];
    record(db, 'label', `Accept ${plural(rows.length, 'suggested label')}`, redo, undo);
    return imageIds;
  })();
}
