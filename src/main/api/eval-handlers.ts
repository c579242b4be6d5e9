// Evaluation over the API: metrics and galleries of a run's predictions, comparing runs, model
// suggestions for unlabeled images (a `suggest` job) and the label-error finder (a `labelErrors`
// job). Accepting or dismissing changes labels like any labeling action: undoable, and every
// window on the project hears about it.

import type { LoupeApi } from '../../shared/api';
import { completedRun, compareRuns, evaluateRun, evaluationImages } from '../services/evaluation/evaluate';
import { runLabelCheck } from '../services/evaluation/label-check';
import { listLabelIssues, resolveLabelIssues } from '../services/evaluation/label-issues';
import { acceptSuggestions, listSuggestions, runSuggestions } from '../services/evaluation/suggestions';
import { requireWritable } from '../store/project';
import { imagesChanged } from './label-handlers';
import type { Session } from './studio';

type EvalApi = Pick<
  LoupeApi,
  | 'evaluateRun'
  | 'evaluationImages'
  | 'compareRuns'
  | 'startSuggestions'
  | 'suggestions'
  | 'acceptSuggestions'
  | 'startLabelCheck'
  | 'labelIssues'
  | 'resolveLabelIssues'
>;

export function evalHandlers(session: Session): EvalApi {
  const { studio } = session;
  const db = () => session.requireProject().db;
  return {
    async evaluateRun({ runId, split } = {}) {
      return evaluateRun(db(), runId, split);
    },
    async evaluationImages({ runId, split, filter }) {
      return evaluationImages(db(), runId, split, filter);
    },
    async compareRuns({ runA, runB, split }) {
      return compareRuns(db(), runA, runB, split);
    },
    async startSuggestions({ runId } = {}) {
      const project = requireWritable(session.requireProject(), 'changes cannot be saved');
      const run = completedRun(project.db, runId);
      const { jobId } = studio.startJob(
        project,
        'suggest',
        (reporter) => runSuggestions(project, run.id, { signal: reporter.signal, onProgress: (done, total, phase) => reporter.progress(done, total, phase) }),
        { exclusive: true, phase: 'Preparing images' },
      );
      return { jobId, runId: run.id };
    },
    async suggestions() {
      return listSuggestions(db());
    },
    async acceptSuggestions({ imageIds, minConfidence, splits } = {}) {
      const ids = acceptSuggestions(requireWritable(session.requireProject(), 'changes cannot be saved').db, { imageIds, minConfidence, splits });
      return { ...imagesChanged(session, ids), changed: ids.length };
    },
    async startLabelCheck({ runId, folds, epochs } = {}) {
      const project = requireWritable(session.requireProject(), 'changes cannot be saved');
      const run = completedRun(project.db, runId);
      const { jobId } = studio.startJob(
        project,
        'labelErrors',
        (reporter) => runLabelCheck(project, run.id, { folds, epochs, signal: reporter.signal, onProgress: (done, total, phase) => reporter.progress(done, total, phase) }),
        { exclusive: true, phase: 'Preparing images' },
      );
      return { jobId, runId: run.id };
    },
    async labelIssues({ status } = {}) {
      return listLabelIssues(db(), status);
    },
    async resolveLabelIssues({ imageIds, action }) {
      const ids = resolveLabelIssues(requireWritable(session.requireProject(), 'changes cannot be saved').db, imageIds, action);
      return { ...imagesChanged(session, ids), changed: ids.length };
    },
  };
}
