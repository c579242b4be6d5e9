// The map over the API: laying it out as a `map` job, and its points.

import type { LoupeApi } from '../../shared/api';
import { layoutMap, mapPoints } from '../services/map';
import { requireWritable } from '../store/project';
import type { Session } from './studio';

type MapApi = Pick<LoupeApi, 'startMapLayout' | 'mapPoints'>;

export function mapHandlers(session: Session): MapApi {
  const { studio } = session;
  return {
    async startMapLayout(params) {
      const { recompute, seed, epochs } = params ?? {};
      const project = requireWritable(session.requireProject(), 'changes cannot be saved');
      const { jobId } = studio.startJob(
        project,
        'map',
        (reporter) => layoutMap(project, { recompute, seed, epochs, signal: reporter.signal, onProgress: (done, total, phase) => reporter.progress(done, total, phase) }),
        { exclusive: true, phase: 'Reading features' },
      );
      return { jobId };
    },
    async mapPoints() {
      return mapPoints(session.requireProject());
    },
  };
}
