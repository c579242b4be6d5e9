// The data doctor over the API: a check of the whole project as a `doctor` job, its last report,
// and dismissing findings.

import type { LoupeApi } from '../../shared/api';
import { dismissDoctorFindings, doctorReport, runDoctor } from '../services/doctor';
import { requireWritable } from '../store/project';
import type { Session } from './studio';

type DoctorApi = Pick<LoupeApi, 'startDoctor' | 'doctorReport' | 'dismissDoctorFindings'>;

export function doctorHandlers(session: Session): DoctorApi {
  const { studio } = session;
  return {
    async startDoctor() {
      const project = requireWritable(session.requireProject(), 'changes cannot be saved');
      const { jobId } = studio.startJob(
        project,
        'doctor',
        (reporter) => runDoctor(project, { signal: reporter.signal, onProgress: (done, total, phase) => reporter.progress(done, total, phase) }),
        { exclusive: true, phase: 'Reading images' },
      );
      return { jobId };
    },
    async doctorReport() {
      return doctorReport(session.requireProject());
    },
    async dismissDoctorFindings({ keys }) {
      return dismissDoctorFindings(session.requireProject(), keys);
    },
  };
}
