import type { LoupeApi } from '../../shared/api';
import { LoupeError } from '../../shared/errors';
import type { Session } from './studio';

export function jobHandlers(session: Session): Pick<LoupeApi, 'listJobs' | 'cancelJob' | 'runningJobs'> {
  const { studio } = session;
  return {
    async listJobs() {
      return studio.jobs.list(session.requireProject().root);
    },
    async cancelJob({ jobId }) {
      const project = session.requireProject();
      if (!studio.jobs.list(project.root).some((j) => j.jobId === jobId)) {
        throw new LoupeError('NOT_FOUND', 'No such job in this project.');
      }
      studio.jobs.cancel(jobId);
      return null;
    },
    async runningJobs() {
      return studio.runningJobs();
    },
  };
}
