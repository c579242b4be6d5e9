// Sample programs shipped with an export: each loads the model, preprocesses one image the way
// preprocess.json says (EXIF orientation, cover resize, channels, raw 0..255 pixels) and prints
// the top classes. They read preprocess.json and labels.txt from the export folder, so they
// stay right for any model. The tests run the Node one on a real export.

export const SAMPLES_DIR = 'samples';

const PYTHON = `"""Predicts one image with the exported model (onnxruntime).

    pip install onnxruntime numpy pillow
    python samples/predict.py photo.jpg [--top 5]
"""
import json
import pathlib
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEC = json.loads((ROOT / "preprocess.json").read_text(encoding="utf-8"))
LABELS = (ROOT / "labels.txt").read_text(encoding="utf-8").splitlines()


def load(path):
    """The model input for one image: float32 [1, H, W, C], pixels 0..255."""
    image = ImageOps.exif_transpose(Image.open(path))
    image = image.convert("L" if SPEC["channels"] == 1 else "RGB")
    size = (SPEC["width"], SPEC["height"])
    if SPEC["resize"] == "cover":
        image = ImageOps.fit(image, size, Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    else:
        image = image.resize(size, Image.Resampling.LANCZOS)
    pixels = np.asarray(image, dtype=np.float32)
    return pixels.reshape(1, SPEC["height"], SPEC["width"], SPEC["channels"])


def main():
    args = sys.argv[1:]
    top = 5
    if "--top" in args:
        i = args.index("--top")
        top = int(args[i + 1])
        del args[i : i + 2]
    if len(args) != 1:
        sys.exit("usage: python predict.py <image> [--top K]")
    session = ort.InferenceSession(str(ROOT / "model.onnx"), providers=ort.get_available_providers())
    onnx = SPEC["onnx"]
    (probabilities,) = session.run([onnx["output"]], {onnx["input"]: load(args[0])})
    for i in np.argsort(-probabilities[0])[:top]:
        print(f"{LABELS[i]}\\t{probabilities[0][i] * 100:.2f}%")


if __name__ == "__main__":
    main()
`;

const NODE = `// Predicts one image with the exported model (onnxruntime-node).
//
//   npm install onnxruntime-node sharp
//   node samples/predict.mjs photo.jpg [--top 5]

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const spec = JSON.parse(fs.readFileSync(path.join(root, 'preprocess.json'), 'utf8'));
const labels = fs.readFileSync(path.join(root, 'labels.txt'), 'utf8').replace(/\\r?\\n$/, '').split(/\\r?\\n/);

/** The model input for one image: float32 [1, H, W, C], pixels 0..255. */
async function load(file) {
  const { data } = await sharp(file)
    .rotate()
    .resize(spec.width, spec.height, { fit: spec.resize === 'cover' ? 'cover' : 'fill', position: 'centre' })
    .removeAlpha()
    .toColourspace(spec.channels === 1 ? 'b-w' : 'srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return new ort.Tensor('float32', Float32Array.from(data), [1, spec.height, spec.width, spec.channels]);
}

const args = process.argv.slice(2);
let top = 5;
const at = args.indexOf('--top');
if (at >= 0) top = Number(args.splice(at, 2)[1]);
if (args.length !== 1) {
  console.error('usage: node predict.mjs <image> [--top K]');
  process.exit(2);
}
const session = await ort.InferenceSession.create(path.join(root, 'model.onnx'));
const outputs = await session.run({ [spec.onnx.input]: await load(args[0]) });
const probabilities = outputs[spec.onnx.output].data;
const ranked = [...probabilities].map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]).slice(0, top);
for (const [p, i] of ranked) console.log(\`\${labels[i]}\\t\${(p * 100).toFixed(2)}%\`);
`;

const WEB = (ortVersion: string) => `<!doctype html>
<!--
  Predicts an image in the browser with the exported model (onnxruntime-web).
  Serve the export folder over HTTP (for example \`npx http-server\` in it) and open /samples/web/.
  onnxruntime-web comes from a CDN here; to work offline, \`npm install onnxruntime-web@${ortVersion}\`
  and point the script below at node_modules/onnxruntime-web/dist/ort.min.js.
-->
<html lang="en">
<meta charset="utf-8" />
<title>Model preview</title>
<script src="https://cdn.jsdelivr.net/npm/onnxruntime-web@${ortVersion}/dist/ort.min.js"></script>
<body>
  <p><input type="file" accept="image/*" id="file" /></p>
  <canvas id="canvas" hidden></canvas>
  <pre id="out">Loading the model…</pre>
  <script type="module">
    const root = new URL('../../', location.href);
    const spec = await (await fetch(new URL('preprocess.json', root))).json();
    const labels = (await (await fetch(new URL('labels.txt', root))).text()).replace(/\\r?\\n$/, '').split(/\\r?\\n/);
    const session = await ort.InferenceSession.create(new URL('model.onnx', root).href);
    const out = document.getElementById('out');
    out.textContent = 'Choose an image.';

    /** The model input for one image: float32 [1, H, W, C], pixels 0..255. */
    async function load(file) {
      const image = await createImageBitmap(file, { imageOrientation: 'from-image' });
      const { width: w, height: h, channels } = spec;
      let [sx, sy, sw, sh] = [0, 0, image.width, image.height];
      if (spec.resize === 'cover') {
        // Scale to fill w x h, then keep the centre.
        const scale = Math.max(w / image.width, h / image.height);
        [sw, sh] = [w / scale, h / scale];
        [sx, sy] = [(image.width - sw) / 2, (image.height - sh) / 2];
      }
      const canvas = document.getElementById('canvas');
      [canvas.width, canvas.height] = [w, h];
      const context = canvas.getContext('2d');
      context.drawImage(image, sx, sy, sw, sh, 0, 0, w, h);
      const rgba = context.getImageData(0, 0, w, h).data;
      const pixels = new Float32Array(w * h * channels);
      for (let i = 0; i < w * h; i++) {
        if (channels === 1) pixels[i] = 0.2126 * rgba[4 * i] + 0.7152 * rgba[4 * i + 1] + 0.0722 * rgba[4 * i + 2];
        else for (let c = 0; c < 3; c++) pixels[3 * i + c] = rgba[4 * i + c];
      }
      return new ort.Tensor('float32', pixels, [1, h, w, channels]);
    }

    document.getElementById('file').addEventListener('change', async (event) => {
      const file = event.target.files[0];
      if (!file) return;
      const outputs = await session.run({ [spec.onnx.input]: await load(file) });
      const probabilities = outputs[spec.onnx.output].data;
      const ranked = [...probabilities].map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]).slice(0, 5);
      out.textContent = ranked.map(([p, i]) => \`\${labels[i]}  \${(p * 100).toFixed(2)}%\`).join('\\n');
    });
  </script>
</body>
</html>
`;

const TFJS_NODE = `// Predicts one image with the exported TensorFlow.js model.
//
//   npm install @tensorflow/tfjs sharp
//   node samples/predict-tfjs.mjs photo.jpg [--top 5]

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const spec = JSON.parse(fs.readFileSync(path.join(root, 'preprocess.json'), 'utf8'));
const labels = fs.readFileSync(path.join(root, 'labels.txt'), 'utf8').replace(/\\r?\\n$/, '').split(/\\r?\\n/);

/** tf.loadLayersModel from the export folder (plain TF.js has no file:// loader in Node). */
function fromFolder(dir) {
  return {
    async load() {
      const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
      const bytes = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p)))));
      return {
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
        weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
      };
    },
  };
}

const args = process.argv.slice(2);
let top = 5;
const at = args.indexOf('--top');
if (at >= 0) top = Number(args.splice(at, 2)[1]);
if (args.length !== 1) {
  console.error('usage: node predict-tfjs.mjs <image> [--top K]');
  process.exit(2);
}
const model = await tf.loadLayersModel(fromFolder(path.join(root, 'tfjs')));
const { data } = await sharp(args[0])
  .rotate()
  .resize(spec.width, spec.height, { fit: spec.resize === 'cover' ? 'cover' : 'fill', position: 'centre' })
  .removeAlpha()
  .toColourspace(spec.channels === 1 ? 'b-w' : 'srgb')
  .raw()
  .toBuffer({ resolveWithObject: true });
const { scale, offset } = spec.normalization;
const input = tf.tensor4d(Float32Array.from(data, (x) => x * scale + offset), [1, spec.height, spec.width, spec.channels]);
const probabilities = await model.predict(input).data();
const ranked = [...probabilities].map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]).slice(0, top);
for (const [p, i] of ranked) console.log(\`\${labels[i]}\\t\${(p * 100).toFixed(2)}%\`);
`;

/** The sample files of an export, by path relative to the export folder. */
export function sampleFiles(hasOnnx: boolean, hasTfjs: boolean, ortVersion: string): Record<string, string> {
  const files: Record<string, string> = {};
  if (hasOnnx) {
    files[`${SAMPLES_DIR}/predict.py`] = PYTHON;
    files[`${SAMPLES_DIR}/predict.mjs`] = NODE;
    files[`${SAMPLES_DIR}/web/index.html`] = WEB(ortVersion);
  }
  if (hasTfjs) files[`${SAMPLES_DIR}/predict-tfjs.mjs`] = TFJS_NODE;
  return files;
}
