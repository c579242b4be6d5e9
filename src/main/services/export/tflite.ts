// The TensorFlow Lite export: model.tflite (float32) converted from the run's TF.js model and
// checked in the TFLite interpreter against TF.js like every export (same top-1 on every image,
// probabilities within 1e-4), and for tflite-int8 model-int8.tflite beside it: full-integer,
// calibrated on up to 200 of the run's training images, held to model.tflite on the parity images
// (top-1 agreement at least 99%, accuracy within 1 point) before it is written. The calibration
// method is chosen on the calibration images themselves (agreement with the float model there),
// never on the images that verify it: min/max first, then a percentile clip, then the clip of
// least squared error.

import { LoupeError } from '../../../shared/errors';
import type { CalibrationMethod, ExportParity, PreprocessSpec, RunDetails, TfliteCheck, TfliteInt8Check } from '../../../shared/types';
import type { Project } from '../../store/project';
import { loupeVersion } from '../../version';
import { CALIBRATION_METHODS, GOOD_ENOUGH_ON_CALIBRATION } from '../onnx/calibration';
import { readLayersModelDir } from '../onnx/layers-model';
import { convertToTflite, type FloatModel } from '../tflite/convert';
import { TFLITE_RUNTIME } from '../tflite/interpreter';
import { calibrate, quantizeTflite } from '../tflite/quantize';
import { ioQuantization, runTflite, tfliteLatency } from '../tflite/run';
import { writeTflite } from '../tflite/schema';
import { calibrationImages, compareInt8, int8Problem } from './int8';
import { compareProbabilities, parityProblem, type ParityPixels } from './parity';
import { META_LABELS, META_PREPROCESS, META_RUN, type RunModel } from './run-model';

type Progress = (done: number, total: number | null, phase: string) => void;


/** Why a run cannot export to TFLite, or null when it can. */
export function tfliteRefusal(model: RunModel): string | null {
  if (model.onnxFile) {
    const what = model.run.config.backbone ? `is built on an ONNX backbone (${model.run.config.backbone.title})` : 'was trained by PyTorch outside Loupe';
    return `Run #${model.run.id} ${what}: there is no TF.js model of it to convert to TensorFlow Lite, so it exports as ONNX only (--format onnx or onnx-int8).`;
  }
  return null;
}

/** The run's float TFLite model, with labels, preprocessing and run in its metadata. */
export function runToTflite(model: RunModel, projectName: string, int8 = false): FloatModel {
  const refusal = tfliteRefusal(model);
  if (refusal) throw new LoupeError('NOT_SUPPORTED', refusal);
  const { spec } = model;
  return convertToTflite(readLayersModelDir(model.modelDir), {
    preprocess: { scale: spec.normalization.scale, offset: spec.normalization.offset },
    description: `${projectName}, run #${model.run.id} (${model.run.arch}${model.run.config.backbone ? ` on ${model.run.config.backbone.title}` : ''}). Input pixels [1, ${spec.height}, ${spec.width}, ${spec.channels}], 0..255${int8 ? ' (int8: pixel - 128)' : ''}; output probabilities [1, ${model.labels.length}]. Loupe ${loupeVersion()}.`,
    metadata: {
      [META_LABELS]: JSON.stringify(model.labels),
      [META_PREPROCESS]: JSON.stringify(spec),
      [META_RUN]: JSON.stringify({ project: projectName, runId: model.run.id, arch: model.run.arch, backbone: model.run.config.backbone?.name ?? null }),
    },
  });
}

function argmaxAgreement(a: Float32Array, b: Float32Array, count: number): number {
  return compareInt8(a, b, count, null).top1Agreement;
}

/** The int8 model, calibrated on the run's training images with the first method that holds up there. */
async function quantizeRunTflite(
  project: Project,
  run: RunDetails,
  spec: PreprocessSpec,
  float: FloatModel,
  options: { signal?: AbortSignal; onProgress?: Progress; methods?: CalibrationMethod[] },
): Promise<{ bytes: Uint8Array; calibration: TfliteInt8Check['calibration'] }> {
  const images = await calibrationImages(project, run, spec, options);
  const floatBytes = writeTflite(float.model);
  const [floatOnCalibration] = await runTflite(floatBytes, images, { signal: options.signal });
  let best: { bytes: Uint8Array; method: CalibrationMethod; agreement: number } | null = null;
  for (const method of options.methods ?? CALIBRATION_METHODS) {
    const ranges = await calibrate(float.model, images, { method, signal: options.signal, onProgress: (d, t) => options.onProgress?.(d, t, `Calibrating int8 (${method})`) });
    const bytes = writeTflite(quantizeTflite(float.model, ranges));
    const [int8] = await runTflite(bytes, images, { signal: options.signal });
    const agreement = argmaxAgreement(floatOnCalibration, int8, images.count);
    if (!best || agreement > best.agreement) best = { bytes, method, agreement };
    if (agreement >= GOOD_ENOUGH_ON_CALIBRATION) break;
  }
  return { bytes: best!.bytes, calibration: { images: images.count, split: images.split, method: best!.method } };
}

export interface TfliteExported {
  float: Uint8Array;
  int8: Uint8Array | null;
  check: TfliteCheck;
}

/**
 * Converts, verifies and times the TFLite model(s) of a run. `reference` is TF.js's probabilities
 * on `images`. Throws with why when a model does not hold up; nothing is written here.
 */
export async function tfliteExport(
  project: Project,
  model: RunModel,
  images: ParityPixels,
  reference: Float32Array,
  options: { int8: boolean; signal?: AbortSignal; onProgress?: Progress; methods?: CalibrationMethod[] },
): Promise<TfliteExported> {
  const float = runToTflite(model, project.name);
  const floatBytes = writeTflite(float.model);
  options.onProgress?.(0, images.count, 'Checking the TFLite model');
  const [probabilities] = await runTflite(floatBytes, images, { signal: options.signal, onImage: (d) => options.onProgress?.(d, images.count, 'Checking the TFLite model') });
  const parity: ExportParity = compareProbabilities(reference, probabilities, images.count, 'tflite');
  const problem = parityProblem(parity);
  if (problem) throw new LoupeError('INTERNAL', problem);
  options.onProgress?.(0, null, 'Measuring TFLite speed');
  const latencyMs = await tfliteLatency(floatBytes, images, { signal: options.signal });
  const check: TfliteCheck = { runtime: TFLITE_RUNTIME, parity, bytes: floatBytes.length, latencyMs, int8: null };
  if (!options.int8) return { float: floatBytes, int8: null, check };

  const { bytes, calibration } = await quantizeRunTflite(project, model.run, model.spec, float, options);
  options.onProgress?.(0, images.count, 'Checking the int8 TFLite model');
  const [int8Probabilities] = await runTflite(bytes, images, { signal: options.signal });
  const index = new Map(model.run.classes.map((c, i) => [c.id, i]));
  const truth = images.classIds.length === images.count ? images.classIds.map((id) => index.get(id) ?? -1) : null;
  const compared = compareInt8(probabilities, int8Probabilities, images.count, truth);
  const refused = int8Problem({ ...compared, images: images.count }, 'tflite');
  if (refused) throw new LoupeError('INTERNAL', `${refused} (calibration: ${calibration.method} on ${calibration.images} training images)`);
  const io = ioQuantization(bytes);
  const int8: TfliteInt8Check = {
    calibration,
    images: images.count,
    split: images.split,
    ...compared,
    bytes: bytes.length,
    latencyMs: await tfliteLatency(bytes, images, { signal: options.signal }),
    input: { scale: io.input!.scale[0], zeroPoint: io.input!.zeroPoint[0] },
    output: { scale: io.outputs[0]!.scale[0], zeroPoint: io.outputs[0]!.zeroPoint[0] },
  };
  return { float: floatBytes, int8: bytes, check: { ...check, int8 } };
}
