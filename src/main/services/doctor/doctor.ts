// The data doctor: one pass over the whole project that lists what is wrong with the data, worst
// first. Each image is decoded once in its life (its figures are kept in the project, and an
// image's content never changes under its id), so a second check reads only the images added
// since; the comparisons between images and the limits relative to the project are redone from
// the kept figures each time. Near-duplicates use the backbone features a run or Extract features
// already cached (nothing is extracted here); without them the perceptual hash decides alone, and
// the report says what that leaves out.

import { createHash } from 'node:crypto';
import path from 'node:path';
import type { DoctorCheck, DoctorFinding, DoctorImage, DoctorLeakEffect, DoctorReport } from '../../../shared/types';
import { throwIfCancelled } from '../../jobs/jobs';
import { mediaRelPath } from '../../store/media';
import { requireWritable, type Project } from '../../store/project';
import { cachedFeatures } from '../backbones';
import { completedRun, scoredPredictions } from '../evaluation/evaluate';
import { imageFindings, imbalancedClasses, isFlat, type CheckedImage, type PixelCheck } from './checks';
import { listLabelIssues } from '../evaluation/label-issues';
import { record, type Op } from '../history';
import { standardise } from '../features/standardise';
import { nearDuplicateGroups, type HashedItem } from './duplicates';
import { classesInTwo, outliers, type FeatureItem } from './structure';
import { MAX_REPEAT } from '../training';
import { hashWords, readImageStats, type ImageStats } from './image-stats';
import { dismissedKeys, lastReport, liveClasses, liveImages, runTrainImages, storedStats, storeReport, storeStats, type DoctorRow } from './records';

export const DOCTOR_CHECKS: readonly DoctorCheck[] = [
  'nearDuplicate',
  'blurry',
  'tooDark',
  'tooBright',
  'lowInformation',
  'greyscale',
  'oddSize',
  'oddAspect',
  'classImbalance',
  'outlier',
  'classInTwo',
  'labelError',
];

export const DOCTOR_SCOPE = {
  withoutBackbone:
    'Without a backbone the doctor checks near-duplicates by perceptual hash (re-encoded, resized, brightened and mirrored copies), blur, exposure (too dark, too bright), nearly one-colour images, greyscale among colour, odd sizes and aspect ratios, and class balance.',
  needsBackbone:
    'Cropped copies need a backbone’s features to be told from different pictures of the same layout; outliers (far from every class) and classes that split in two need them too. Extract features (Train → Backbones) or train with a backbone, then check again.',
  labelErrors: 'Likely label errors come from the last label check (Evaluate → Check labels), which trains models without each image; the doctor lists its pending findings.',
};

const DECODE_LANES = 4;
const STORE_EVERY = 256;

export interface DoctorOptions {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number | null, phase: string) => void;
}

/** A finding's key: its check and its images (ids stand for content: media is content-addressed). */
export function findingKey(check: DoctorCheck, ids: number[]): string {
  return `${check}:${createHash('sha256').update([...ids].sort((a, b) => a - b).join(',')).digest('hex').slice(0, 24)}`;
}

/** Figures of the images the project has not kept yet, read with a few decodes at once and stored in batches. */
async function readMissing(project: Project, rows: DoctorRow[], known: Map<number, ImageStats | null>, options: DoctorOptions): Promise<number> {
  const todo = rows.filter((r) => !known.has(r.id));
  const { signal, onProgress } = options;
  onProgress?.(0, todo.length, 'Reading images');
  let cursor = 0;
  let done = 0;
  let pending: { id: number; stats: ImageStats | null; error: string | null }[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    storeStats(project.db, pending);
    pending = [];
  };
  const lane = async () => {
    while (cursor < todo.length && !signal?.aborted) {
      const row = todo[cursor++];
      let entry: { id: number; stats: ImageStats | null; error: string | null };
      try {
        entry = { id: row.id, stats: await readImageStats(path.join(project.root, mediaRelPath(row.hash, row.ext))), error: null };
      } catch (err) {
        entry = { id: row.id, stats: null, error: (err as Error).message || 'unreadable' };
      }
      known.set(row.id, entry.stats);
      pending.push(entry);
      if (pending.length >= STORE_EVERY) flush();
      onProgress?.(++done, todo.length, 'Reading images');
    }
  };
  try {
    await Promise.all(Array.from({ length: DECODE_LANES }, lane));
  } finally {
    // What was read before a cancel is kept: the next check starts from there.
    flush();
  }
  if (signal) throwIfCancelled(signal);
  return todo.length;
}

/**
 * The best completed run's test accuracy, on all its test images and without those that have a
 * near-copy (in a leak finding) among the images it trained on. Null without such a run.
 */
function leakEffect(project: Project, findings: DoctorFinding[]): DoctorLeakEffect | null {
  let run;
  try {
    run = completedRun(project.db);
  } catch {
    return null;
  }
  const scored = scoredPredictions(project.db, run, 'test').images;
  if (scored.length === 0) return null;
  const trained = runTrainImages(project.db, run.id);
  const leaked = new Set<number>();
  for (const f of findings) {
    if (f.check !== 'nearDuplicate' || !f.crossSplit || !f.images.some((i) => trained.has(i.id))) continue;
    for (const i of f.images) if (!trained.has(i.id)) leaked.add(i.id);
  }
  const accuracy = (list: typeof scored) => (list.length === 0 ? null : list.filter((im) => im.predicted === im.truth).length / list.length);
  const inLeaks = scored.filter((im) => leaked.has(im.imageId));
  return {
    runId: run.id,
    images: scored.length,
    accuracy: accuracy(scored)!,
    leaked: inLeaks.length,
    leakedAccuracy: accuracy(inLeaks),
    withoutLeaks: accuracy(scored.filter((im) => !leaked.has(im.imageId))),
  };
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const pct = (x: number) => `${Math.round(x * 100)}%`;
const clamp01 = (x: number) => Math.max(0, Math.min(1, x));

const PIXEL_DETAIL: Record<PixelCheck, string> = {
  blurry: 'Much less sharp than the project’s other images.',
  tooDark: 'Too dark to see much.',
  tooBright: 'Too bright: washed out.',
  lowInformation: 'Nearly one colour: little to learn from.',
  greyscale: 'Greyscale among colour images.',
  oddSize: 'Far larger or smaller than the project’s other images.',
  oddAspect: 'An aspect ratio unlike the project’s other images.',
};

/** Checks the whole project and keeps the report (the last one replaces the one before). */
export async function runDoctor(project: Project, options: DoctorOptions = {}): Promise<DoctorReport> {
  requireWritable(project);
  const started = performance.now();
  const db = project.db;
  const rows = liveImages(db);
  const known = storedStats(db);
  const decoded = await readMissing(project, rows, known, options);

  const features = cachedFeatures(project, rows.map((r) => r.hash));
  // A nearly one-colour image's hash is its noise (all its frequencies are near zero): such
  // images are a finding of their own, not near-duplicates of each other.
  const hashed = rows
    .map((r, index) => ({ index, stats: known.get(r.id) ?? null }))
    .filter((x): x is { index: number; stats: ImageStats } => x.stats !== null && !isFlat(x.stats));
  const words = new Int32Array(hashed.length * 2);
  const mirrorWords = new Int32Array(hashed.length * 2);
  const items: HashedItem[] = hashed.map(({ index, stats }, k) => {
    words.set(hashWords(stats.phash), 2 * k);
    mirrorWords.set(hashWords(stats.phashMirror), 2 * k);
    return { index, split: rows[index].split, vector: features?.vectors.get(rows[index].hash) };
  });
  standardise(items.flatMap((it) => (it.vector ? [it.vector] : [])));
  const groups = await nearDuplicateGroups(items, words, mirrorWords, { signal: options.signal, onProgress: (done, total) => options.onProgress?.(done, total, 'Comparing images') });
  if (options.signal) throwIfCancelled(options.signal);

  const image = (index: number): DoctorImage => {
    const r = rows[index];
    return { id: r.id, name: r.name, split: r.split, label: r.label, hash: r.hash };
  };
  const finding = (check: DoctorCheck, score: number, indexes: number[], detail: string, crossSplit = false): DoctorFinding => {
    const images = indexes.map(image);
    return { key: findingKey(check, images.map((i) => i.id)), check, score, crossSplit, detail, images };
  };
  const findings: DoctorFinding[] = [];
  for (const g of groups) {
    const splits = [...new Set(g.members.map((m) => rows[m].split))];
    const detail = g.crossSplit
      ? `${plural(g.members.length, 'near-identical image')} in ${splits.join(' and ')}: a model is scored on pictures it trained on.`
      : `${plural(g.members.length, 'near-identical image')} in ${splits[0]}.`;
    findings.push(finding('nearDuplicate', g.similarity, g.members, detail, g.crossSplit));
  }
  const checked: CheckedImage[] = rows.map((r, index) => ({ index, width: r.width, height: r.height, stats: known.get(r.id) ?? null }));
  for (const f of imageFindings(checked)) findings.push(finding(f.check, f.score, [f.index], PIXEL_DETAIL[f.check]));

  const counts = liveClasses(db).map((c) => ({ classId: c.id, name: c.name, count: 0, members: [] as number[] }));
  const byId = new Map(counts.map((c) => [c.classId, c]));
  rows.forEach((r, index) => {
    const c = r.classId === null ? undefined : byId.get(r.classId);
    if (c) {
      c.count += 1;
      c.members.push(index);
    }
  });
  for (const { cls, share, largest } of imbalancedClasses(counts)) {
    const detail =
      `“${cls.name}” has ${plural(cls.count, 'labeled image')}, ${Math.round(share * 100)}% of “${largest.name}” (${largest.count}). ` +
      `The one-click plan samples it more often (balanced sampling: its training images are repeated in each epoch until they count at least a third as much as the largest class’s, at most ${MAX_REPEAT} times), so the model does not learn to ignore it; more images of it would still teach it more.`;
    findings.push(finding('classImbalance', 1 - share, byId.get(cls.classId)!.members, detail));
  }

  // The data set's shape, from the same standardised features.
  const featured: FeatureItem[] = items.flatMap((it) => (it.vector ? [{ index: it.index, classId: rows[it.index].classId, vector: it.vector }] : []));
  const className = new Map(liveClasses(db).map((c) => [c.id, c.name]));
  options.onProgress?.(0, null, 'Looking for outliers and classes in two');
  const splits = await classesInTwo(featured);
  for (const o of await outliers(featured)) {
    const near = o.nearestClassId === null ? 'the project’s other images' : `every class (nearest: “${className.get(o.nearestClassId)}”)`;
    findings.push(finding('outlier', o.score, [o.index], `Far from ${near}: a stray, a mistake, or a kind of image the classes do not cover.`));
  }
  for (const split of splits) {
    const name = className.get(split.classId);
    const detail =
      `“${name}” falls into two groups far apart: these ${plural(split.smaller.length, 'image')} and ${split.larger.toLocaleString('en-US')} others ` +
      `(the split explains ${Math.round(split.share * 100)}% of the class’s spread). If they are two kinds of thing, make them two classes.`;
    findings.push(finding('classInTwo', split.share, split.smaller, detail));
  }
  if (options.signal) throwIfCancelled(options.signal);
  // The last label check's pending findings (it trains models without each image: not rerun here).
  const indexOf = new Map(rows.map((r, index) => [r.id, index]));
  for (const issue of listLabelIssues(db, 'pending').issues) {
    const index = indexOf.get(issue.imageId);
    if (index === undefined || rows[index].classId !== issue.givenClassId) continue;
    const judge = issue.source === 'fold' ? 'models trained without it say' : 'the run says';
    const detail = `Labeled “${className.get(issue.givenClassId)}” (${pct(issue.givenProbability)}); ${judge} “${className.get(issue.suggestedClassId)}” (${pct(issue.suggestedProbability)}).`;
    findings.push(finding('labelError', clamp01(issue.suggestedProbability - issue.givenProbability), [index], detail));
  }

  const dismissed = dismissedKeys(db);
  const shown = findings.filter((f) => !dismissed.has(f.key));
  shown.sort((a, b) => Number(b.crossSplit) - Number(a.crossSplit) || b.score - a.score || DOCTOR_CHECKS.indexOf(a.check) - DOCTOR_CHECKS.indexOf(b.check) || a.images[0]?.id - b.images[0]?.id);
  const report: DoctorReport = {
    images: rows.length,
    seconds: (performance.now() - started) / 1000,
    decoded,
    unreadable: rows.filter((r) => known.get(r.id) === null).length,
    backbone: features ? `${features.backbone} at ${features.resolution} px` : null,
    withFeatures: features ? items.filter((it) => it.vector).length : 0,
    checks: DOCTOR_CHECKS.map((check) => ({ check, count: shown.filter((f) => f.check === check).length })),
    findings: shown,
    dismissed: findings.length - shown.length,
    leakEffect: leakEffect(project, shown),
    scope: DOCTOR_SCOPE,
    createdAt: Date.now(),
  };
  storeReport(db, report);
  return report;
}

/** The last report, without the findings dismissed since (null: the doctor never ran here). */
export function doctorReport(project: Project): DoctorReport | null {
  const report = lastReport(project.db);
  if (!report) return null;
  const dismissed = dismissedKeys(project.db);
  const findings = report.findings.filter((f) => !dismissed.has(f.key));
  return {
    ...report,
    findings,
    dismissed: report.dismissed + report.findings.length - findings.length,
    // A leak dismissed since is no leak: the effect is judged again (the run may be another too).
    leakEffect: leakEffect(project, findings),
    checks: DOCTOR_CHECKS.map((check) => ({ check, count: findings.filter((f) => f.check === check).length })),
  };
}

/** Dismisses findings of the last report by key: they stay hidden while their images do not change. */
export function dismissDoctorFindings(project: Project, findingKeys: string[]): DoctorReport | null {
  requireWritable(project);
  const report = lastReport(project.db);
  const wanted = new Set(findingKeys);
  const dismissed = dismissedKeys(project.db);
  const chosen = (report?.findings ?? []).filter((f) => wanted.has(f.key) && !dismissed.has(f.key));
  if (chosen.length === 0) return doctorReport(project);
  const keys = chosen.map((f) => f.key);
  const checks = chosen.map((f) => f.check);
  const imageIds = [...new Set(chosen.flatMap((f) => f.images.map((i) => i.id)))];
  // A label error kept as labeled is dismissed where the label check lists it too.
  const kept = chosen.filter((f) => f.check === 'labelError').flatMap((f) => f.images.map((i) => i.id));
  const pending = new Set(listLabelIssues(project.db, 'pending').issues.map((i) => i.imageId));
  const issues = kept.filter((id) => pending.has(id));
  const redo: Op[] = [{ t: 'doctorDismissals', imageIds, keys, checks, dismissed: true }];
  const undo: Op[] = [{ t: 'doctorDismissals', imageIds, keys, checks, dismissed: false }];
  if (issues.length > 0) {
    redo.push({ t: 'issueStatus', imageIds: issues, statuses: issues.map(() => 'dismissed') });
    undo.push({ t: 'issueStatus', imageIds: issues, statuses: issues.map(() => 'pending') });
  }
  project.db.transaction(() => record(project.db, 'doctor', `Dismiss ${plural(chosen.length, 'doctor finding')}`, redo, undo))();
  return doctorReport(project);
}
