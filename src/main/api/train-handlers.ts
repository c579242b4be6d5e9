// Training over the API: the plan for one click, starting a run as a `train` job (its progress
// detail carries the live curves), the Advanced settings kept with the project, and the run
// history. When a run ends every window showing
// the project hears `onRunsChanged`.

import type { LoupeApi } from '../../shared/api';
import { LoupeError } from '../../shared/errors';
import type { TrainProgress } from '../../shared/types';
import { listRuns, runDetails } from '../services/training/records';
import { saveTrainSettings, trainSettings } from '../services/training/settings';
import { planTraining, runTraining, trainingBackends } from '../services/training/train';
import { requireWritable } from '../store/project';
import type { Session } from './studio';

type TrainApi = Pick<LoupeApi, 'trainingBackends' | 'trainPlan' | 'startTraining' | 'trainSettings' | 'saveTrainSettings' | 'listRuns' | 'runDetails'>;

export function trainHandlers(session: Session): TrainApi {
  const { studio } = session;
  return {
    async trainingBackends() {
      return trainingBackends();
    },
    async trainPlan({ overrides } = {}) {
      return (await planTraining(session.requireProject(), overrides)).plan;
    },
    async startTraining({ overrides } = {}) {
      const project = session.requireProject();
      requireWritable(project);
      // Check the plan before the job starts, so an impossible run is refused at once.
      const { plan } = await planTraining(project, overrides);
      if (plan.blocker) throw new LoupeError('INVALID_INPUT', plan.blocker);
      let resolveRun: (id: number) => void = () => {};
      const runCreated = new Promise<number>((resolve) => (resolveRun = resolve));
      let created: number | null = null;
      const { jobId, promise } = studio.startJob(
        project,
        'train',
        (reporter) =>
          runTraining(project, overrides, {
            signal: reporter.signal,
            onRunCreated: (runId) => {
              created = runId;
              resolveRun(runId);
              studio.emitToProject(project, 'onRunsChanged', { runId });
            },
            // The time budget fitted the epochs (and said why in the run's plan).
            onEpochs: () => studio.emitToProject(project, 'onRunsChanged', { runId: created }),
            onProgress: (done, total, phase, detail?: TrainProgress) => reporter.progress(done, total, phase, detail),
            onExpect: (seconds) => reporter.expect(seconds),
          }),
        { exclusive: true, phase: 'Preparing images' },
      );
      void promise
        .catch(() => {})
        .finally(() => {
          if (!project.closed) studio.emitToProject(project, 'onRunsChanged', { runId: null });
        });
      // The run is recorded once the images are prepared; a failure before that ends the job.
      const runId = await Promise.race([runCreated, promise.then(() => 0, (err: unknown) => Promise.reject(err))]);
      return { jobId, runId };
    },
    async trainSettings() {
      return trainSettings(session.requireProject().db);
    },
    async saveTrainSettings({ overrides }) {
      const project = session.requireProject();
      requireWritable(project, 'settings cannot be saved');
      return saveTrainSettings(project.db, overrides);
    },
    async listRuns() {
      return listRuns(session.requireProject().db);
    },
    async runDetails({ runId }) {
      return runDetails(session.requireProject().db, runId);
    },
  };
}
