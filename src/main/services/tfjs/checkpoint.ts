// Models on disk in TensorFlow.js layers format (model.json + weights.bin), loadable by
// tf.loadLayersModel. Written to a temporary folder and renamed (store/swap.ts), so a model
// folder is complete or absent whenever the process is killed.

import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { replaceFolder, tempSibling } from '../../store/swap';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

function weightBytes(data: tf.io.ModelArtifacts['weightData']): Uint8Array {
  if (!data) return new Uint8Array(0);
  const buffer = Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data;
  return new Uint8Array(buffer);
}

export async function saveModel(model: tf.LayersModel, dir: string): Promise<void> {
  const tmp = tempSibling(dir, 'new');
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  try {
    await saveInto(model, tmp);
  } catch (err) {
    // A full disk: leave no half-written weights behind (a killed process's are swept on open).
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  replaceFolder(tmp, dir);
}

async function saveInto(model: tf.LayersModel, tmp: string): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const json = {
        modelTopology: artifacts.modelTopology,
        format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: null,
        weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs }],
      };
      fs.writeFileSync(path.join(tmp, MODEL_JSON), JSON.stringify(json));
      fs.writeFileSync(path.join(tmp, WEIGHTS_BIN), weightBytes(artifacts.weightData));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
}

export async function loadModel(dir: string): Promise<tf.LayersModel> {
  const json = JSON.parse(fs.readFileSync(path.join(dir, MODEL_JSON), 'utf8')) as {
    modelTopology: object;
    weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[];
  };
  const bytes = fs.readFileSync(path.join(dir, WEIGHTS_BIN));
  const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((m) => m.weights), weightData }),
  );
}
