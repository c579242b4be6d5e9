// Export and inference over the API. An export runs as an exclusive `export` job (progress,
// cancel; result: ExportResult). Predictions are direct calls on a few images at a time (the
// window sends a folder in slices, with its own progress), through one onnxruntime session per
// model, kept for the next call.

import path from 'node:path';
import { MAX_PREDICT_IMAGE_BYTES, type LoupeApi } from '../../shared/api';
import { LoupeError } from '../../shared/errors';
import { byteSize } from '../../shared/format';
import type { PredictModel } from '../../shared/types';
import { exportRun, exportTarget, type ExportRequest } from '../services/export/export';
import { listExports } from '../services/export/records';
import { defaultRunId, runModel } from '../services/export/run-model';
import { exportedModel, projectRunModel, type PredictableModel } from '../services/inference/models';
import { predict, SessionCache } from '../services/inference/predict';
import { requireWritable } from '../store/project';
import type { Session, Studio } from './studio';

type ExportApi = Pick<LoupeApi, 'startExport' | 'listExports' | 'predictPaths' | 'predictImages'>;

const caches = new WeakMap<Studio, SessionCache>();

/** The studio's onnxruntime sessions (one per model). */
export function sessionCache(studio: Studio): SessionCache {
  let cache = caches.get(studio);
  if (!cache) caches.set(studio, (cache = new SessionCache()));
  return cache;
}

function modelOf(session: Session, ref: PredictModel): PredictableModel {
  if ((ref.runId === undefined) === (ref.path === undefined)) throw new LoupeError('BAD_REQUEST', 'Name either a run (runId) or an exported model (path).');
  if (ref.path !== undefined) return exportedModel(ref.path);
  return projectRunModel(session.requireProject(), ref.runId!);
}

export function exportHandlers(session: Session): ExportApi {
  const { studio } = session;
  return {
    async startExport({ runId, format, dir, name, zip }) {
      const project = session.requireProject();
      requireWritable(project, 'an export is recorded in it');
      const request: ExportRequest = { runId: runId ?? defaultRunId(project), format, dir, name, zip };
      // Refuse a missing model or a bad name at once, before a job starts.
      runModel(project, request.runId);
      exportTarget(project, request);
      let onStarted: (s: { exportId: number; folder: string }) => void = () => {};
      const started = new Promise<{ exportId: number; folder: string }>((resolve) => (onStarted = resolve));
      const { jobId, promise } = studio.startJob(
        project,
        'export',
        (reporter) =>
          exportRun(project, request, {
            signal: reporter.signal,
            onStarted: (exportId, folder) => onStarted({ exportId, folder }),
            onProgress: (done, total, phase) => reporter.progress(done, total, phase),
          }),
        { exclusive: true, phase: 'Starting' },
      );
      const { exportId, folder } = await Promise.race([started, promise.then(() => started, (err: unknown) => Promise.reject(err))]);
      return { jobId, exportId, path: folder };
    },

    async listExports({ runId } = {}) {
      return listExports(session.requireProject().db, runId);
    },

    async predictPaths({ model, paths, top }) {
      const inputs = paths.map((p) => ({ name: p, source: path.resolve(p) }));
      return predict(sessionCache(studio), modelOf(session, model), inputs, { top });
    },

    async predictImages({ model, images, top }) {
      const inputs = images.map(({ name, data }) => {
        const bytes = Buffer.from(data, 'base64');
        if (bytes.length > MAX_PREDICT_IMAGE_BYTES) throw new LoupeError('INVALID_INPUT', `${name} is larger than ${byteSize(MAX_PREDICT_IMAGE_BYTES, { unit: 'MB', digits: 0 })}.`);
        return { name, source: bytes };
      });
      return predict(sessionCache(studio), modelOf(session, model), inputs, { top });
    },
  };
}
