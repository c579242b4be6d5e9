// The data doctor over the API: a check of the whole project as a `doctor` job, its last report,
// and dismissing findings; and "more like this", which searches the same cached features.

import fs from 'node:fs';
import path from 'node:path';
import { MAX_PREDICT_IMAGE_BYTES, type LoupeApi } from '../../shared/api';
import { LoupeError } from '../../shared/errors';
import { dismissDoctorFindings, doctorReport, runDoctor } from '../services/doctor';
import { similarImages } from '../services/features/similar';
import { requireWritable } from '../store/project';
import type { Session } from './studio';

type DoctorApi = Pick<LoupeApi, 'startDoctor' | 'doctorReport' | 'dismissDoctorFindings' | 'similarImages'>;

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
    async similarImages({ imageId, file, path: source, limit } = {}) {
      const project = session.requireProject();
      let bytes: Buffer | undefined;
      if (file) bytes = Buffer.from(file.data, 'base64');
      else if (source) {
        try {
          bytes = fs.readFileSync(path.resolve(source));
        } catch (err) {
          throw new LoupeError('NOT_FOUND', `${source} cannot be read: ${(err as Error).message}`);
        }
      }
      if (bytes && bytes.length > MAX_PREDICT_IMAGE_BYTES) throw new LoupeError('INVALID_INPUT', 'The image is larger than 8 MB.');
      return similarImages(project, { imageId, file: bytes, limit });
    },
  };
}
