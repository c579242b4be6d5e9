// A run's trained model as the export and prediction code see it: its files, its labels, the
// preprocessing it expects, and its ONNX graph with that metadata embedded.

import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import type { PreprocessSpec, RunDetails } from '../../../shared/types';
import type { Project } from '../../store/project';
import { loupeVersion } from '../../version';
import { PIXEL_SCALE } from '../pixels/augment';
import { MODEL_JSON, WEIGHTS_BIN } from '../tfjs/checkpoint';
import { listRuns, runDetails } from '../training';
import { convertToOnnx, type Converted } from '../onnx/convert';
import { readLayersModelDir } from '../onnx/layers-model';
import { withMetadata } from '../onnx/surgery';

/** ONNX metadata keys: what `loupe predict` needs to use a model.onnx on its own. */
export const META_LABELS = 'loupe.labels';
export const META_PREPROCESS = 'loupe.preprocess';
export const META_RUN = 'loupe.run';

export interface RunModel {
  run: RunDetails;
  labels: string[];
  spec: PreprocessSpec;
  /** models/<run>/model: model.json and weights.bin (an ONNX backbone's run: its head alone, models/<run>/head). */
  modelDir: string;
  /** A run on an ONNX backbone (backbone and head) or one trained by PyTorch elsewhere: its one ONNX graph; it has no TF.js model. */
  onnxFile?: string;
}

/** Where a run on an ONNX backbone keeps its model (see training/transfer.ts). */
const TRANSFER_ONNX = 'model.onnx';

/** What a run's model expects: its input size and channels, cover-resized, pixels scaled by 1/255. */
export function runPreprocess(run: RunDetails): PreprocessSpec {
  const { width, height, channels } = run.config;
  return { width, height, channels, resize: 'cover', layout: 'NHWC', normalization: { scale: PIXEL_SCALE, offset: 0, inputRange: [0, 255] } };
}

/** The run to export when none is named: the best completed run, else the newest with a model. */
export function defaultRunId(project: Project): number {
  const runs = listRuns(project.db);
  const usable = runs.filter(
    (r) => fs.existsSync(path.join(project.paths.models, String(r.id), 'model', MODEL_JSON)) || fs.existsSync(path.join(project.paths.models, String(r.id), TRANSFER_ONNX)),
  );
  const pick = usable.find((r) => r.best) ?? usable.find((r) => r.status === 'completed') ?? usable[0];
  if (!pick) throw new LoupeError('NOT_FOUND', 'This project has no trained model yet: train one first.');
  return pick.id;
}

export function runModel(project: Project, runId: number): RunModel {
  const run = runDetails(project.db, runId);
  const onnxFile = path.join(project.paths.models, String(runId), TRANSFER_ONNX);
  // An ONNX backbone's run, or a run trained by PyTorch from a training bundle (loupe import-run).
  if ((run.config.backbone || run.backend === 'pytorch') && fs.existsSync(onnxFile)) {
    return { run, labels: run.classes.map((c) => c.name), spec: runPreprocess(run), modelDir: path.join(project.paths.models, String(runId), 'head'), onnxFile };
  }
  const modelDir = path.join(project.paths.models, String(runId), 'model');
  if (!fs.existsSync(path.join(modelDir, MODEL_JSON)) || !fs.existsSync(path.join(modelDir, WEIGHTS_BIN))) {
    const why = run.status === 'running' ? 'is still training' : run.status === 'completed' ? 'has no saved model (its files are missing)' : `is ${run.status} and saved no model`;
    throw new LoupeError('NOT_FOUND', `Run #${runId} ${why}.`);
  }
  return { run, labels: run.classes.map((c) => c.name), spec: runPreprocess(run), modelDir };
}

/** When the run's model files last changed (a key for caches of what is made from them). */
export function modelStamp(model: RunModel): string {
  const stat = fs.statSync(model.onnxFile ?? path.join(model.modelDir, WEIGHTS_BIN));
  return `${stat.mtimeMs}:${stat.size}`;
}

export function runToOnnx(model: RunModel, projectName: string): Converted {
  const { spec } = model;
  const docString = `${projectName}, run #${model.run.id} (${model.run.arch}${model.run.config.backbone ? ` on ${model.run.config.backbone.title}` : ''}). Input pixels: float32 [N, ${spec.height}, ${spec.width}, ${spec.channels}], 0..255; output probabilities [N, ${model.labels.length}].`;
  const metadata = {
    [META_LABELS]: JSON.stringify(model.labels),
    [META_PREPROCESS]: JSON.stringify(spec),
    [META_RUN]: JSON.stringify({ project: projectName, runId: model.run.id, arch: model.run.arch, backbone: model.run.config.backbone?.name ?? null, ...(model.run.backend === 'pytorch' ? { trainedBy: 'pytorch' } : {}) }),
  };
  if (model.onnxFile) {
    // Already one graph (the ONNX backbone and the head): it gets the same metadata.
    const bytes = withMetadata(fs.readFileSync(model.onnxFile), metadata, docString);
    return { bytes, inputShape: [spec.height, spec.width, spec.channels], outputShape: [model.labels.length], layers: {} };
  }
  return convertToOnnx(readLayersModelDir(model.modelDir), {
    preprocess: { scale: spec.normalization.scale, offset: spec.normalization.offset },
    producerVersion: loupeVersion(),
    docString,
    metadata,
  });
}
