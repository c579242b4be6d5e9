// Label issues found by a label check (label-check.ts): listing them, and accepting (the image
// gets the suggested label, source 'check': a model wrote it) or dismissing them, one undoable
// action each.

import { LoupeError } from '../../../shared/errors';
import type { LabelCheckGroup, LabelCheckInfo, LabelIssueList, ReviewStatus } from '../../../shared/types';
import type { DB } from '../../store/database';
import { record, type Op } from '../history';
import { MIN_CLASS_PRECISION, MIN_MARGIN, MIN_SURE_CALLS } from './label-rule';
import { checkRow, labelIssueRows, latestCheckRow, pendingIssuesOf, type CheckRow } from './records';

const pct = (x: number) => `${Math.round(x * 100)}%`;
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** A check's reliability for people: how good its judges were, and what was held back and why. */
export function checkVerdict(check: Pick<LabelCheckInfo, 'folds' | 'heldBack' | 'reliability'>): string {
  if (check.reliability.length === 0) return 'This check was made before Loupe measured how reliable a check is: check again to see it.';
  const parts = check.reliability.map((g) => {
    const trusted = g.perClass.filter((c) => c.trusted).length;
    const judge =
      g.source === 'fold'
        ? `Models trained without each image (${check.folds} folds) agree with ${pct(g.accuracy)} of the ${g.images.toLocaleString('en-US')} training labels (${g.fewestPerClass}–${g.medianPerClass} images per class)`
        : `The run agrees with ${pct(g.accuracy)} of the ${g.images.toLocaleString('en-US')} validation and test labels`;
    return `${judge}; precise enough to trust on ${trusted} of ${g.perClass.length} classes.`;
  });
  const weak = check.reliability.reduce((n, g) => n + g.heldWeakClass, 0);
  const margin = check.reliability.reduce((n, g) => n + g.heldSmallMargin, 0);
  const held: string[] = [];
  if (weak > 0) {
    held.push(
      `${plural(weak, 'finding')} for classes the model is not reliable on (fewer than ${MIN_SURE_CALLS} sure calls, or under ${pct(MIN_CLASS_PRECISION)} of them matching their labels: with few images, most disagreements are the model's own mistakes)`,
    );
  }
  if (margin > 0) held.push(`${plural(margin, 'finding')} where the model was unsure (a margin under ${Math.round(MIN_MARGIN * 100)} points over the given label)`);
  return `${parts.join(' ')} ${held.length ? `Held back ${held.join(' and ')}.` : 'Nothing was held back.'}`;
}

function checkInfo(row: CheckRow): LabelCheckInfo {
  const reliability = JSON.parse(row.reliability) as LabelCheckGroup[];
  const info = { ...row, reliability };
  return { ...info, verdict: checkVerdict(info) };
}

export function latestCheck(db: DB): LabelCheckInfo | null {
  const row = latestCheckRow(db);
  return row ? checkInfo(row) : null;
}

export function labelCheck(db: DB, id: number): LabelCheckInfo {
  const row = checkRow(db, id);
  if (!row) throw new LoupeError('NOT_FOUND', `There is no label check #${id}.`);
  return checkInfo(row);
}

/**
 * Issues with this status (pending by default), most likely errors first (largest margin of the
 * suggested class over the given one). A pending issue whose image has been relabeled since, or
 * removed, is moot and left out.
 */
export function listLabelIssues(db: DB, status: ReviewStatus = 'pending'): LabelIssueList {
  const issues = labelIssueRows(db, status);
  return { check: latestCheck(db), issues };
}


/** Accepts or dismisses the pending issues of these images. Returns the images whose issue changed. */
export function resolveLabelIssues(db: DB, imageIds: number[], action: 'accept' | 'dismiss'): number[] {
  return db.transaction(() => {
    const rows = pendingIssuesOf(db, imageIds);
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const status: Op = { t: 'issueStatus', imageIds: ids, statuses: rows.map(() => (action === 'accept' ? 'accepted' : 'dismissed')) };
    const back: Op = { t: 'issueStatus', imageIds: ids, statuses: rows.map(() => 'pending') };
    if (action === 'dismiss') {
      record(db, 'review', `Keep the given label of ${plural(rows.length, 'image')}`, [status], [back]);
    } else {
      record(
        db,
        'label',
        `Accept ${plural(rows.length, 'suggested label')}`,
        [{ t: 'labels', imageIds: ids, classIds: rows.map((r) => r.suggestedClassId), sources: rows.map(() => 'check') }, status],
        [{ t: 'labels', imageIds: ids, classIds: rows.map((r) => r.givenClassId), sources: rows.map((r) => r.source) }, back],
      );
    }
    return ids;
  })();
}
