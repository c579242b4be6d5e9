// Backbones over the API: the list (present, downloadable), a download as a `backbone` job,
// adding a model from this machine, and extracting the open project's features ahead of a run
// as a `features` job (labeling goes on meanwhile: extraction runs in onnxruntime's threads).

import type { LoupeApi } from '../../shared/api';
import { LoupeError } from '../../shared/errors';
import { addBackbone, downloadBackbone, listBackbones } from '../services/backbones/service';
import { measureBackbone } from '../services/backbones/speed';
import { extractProjectFeatures } from '../services/training/project-features';
import { planTraining } from '../services/training/train';
import { requireWritable } from '../store/project';
import type { Session } from './studio';

type BackboneApi = Pick<LoupeApi, 'listBackbones' | 'downloadBackbone' | 'measureBackboneSpeed' | 'addBackbone' | 'startFeatureExtraction'>;

export function backboneHandlers(session: Session): BackboneApi {
  const { studio } = session;
  return {
    async listBackbones() {
      return listBackbones();
    },
    async downloadBackbone({ name }) {
      const project = session.requireProject();
      const { jobId } = studio.startJob(
        project,
        'backbone',
        (reporter) => downloadBackbone(name, { signal: reporter.signal, onProgress: (done, total) => reporter.progress(done, total, `Downloading ${name}`) }),
        { exclusive: true, phase: `Downloading ${name}` },
      );
      return { jobId };
    },
    async measureBackboneSpeed({ name, resolution }) {
      const project = session.requireProject();
      const { jobId } = studio.startJob(
        project,
        'backboneSpeed',
        (reporter) => measureBackbone(name, resolution, { signal: reporter.signal, onProgress: (done, total, phase) => reporter.progress(done, total, phase) }),
        { exclusive: true, phase: `Measuring ${name}` },
      );
      return { jobId };
    },
    async addBackbone(request) {
      return addBackbone(request);
    },
    async startFeatureExtraction({ backbone } = {}) {
      const project = session.requireProject();
      requireWritable(project);
      const { plan } = await planTraining(project, backbone ? { backbone } : {});
      if (!plan.config.backbone) throw new LoupeError('INVALID_INPUT', plan.blocker ?? 'No backbone is usable for this project; nothing to extract.');
      const config = plan.config;
      const { jobId } = studio.startJob(
        project,
        'features',
        (reporter) => extractProjectFeatures(project, config, { signal: reporter.signal, onProgress: (d, t, phase) => reporter.progress(d, t, phase) }),
        { exclusive: true, phase: 'Extracting features' },
      );
      return { jobId };
    },
  };
}
