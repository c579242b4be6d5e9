// Sample programs shipped with an export: each loads the model, preprocesses one image the way
// preprocess.json says (EXIF orientation, cover resize, channels, raw 0..255 pixels) and prints
// the top classes. They read preprocess.json and labels.txt from the export folder, so they
// stay right for any model, and no class name is ever written into a program's text (a name with
// quotes, newlines or backslashes cannot break one). The tests run the Node one on a real export,
// and the Python ones where onnxruntime / a TFLite runtime is installed.

export const SAMPLES_DIR = 'samples';

/** The Python samples' own files (next to the export's preprocess.json and labels.txt) and their preprocessing, the same in each. */
const PY_LOAD = `ROOT = pathlib.Path(__file__).resolve().parent.parent
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
    return pixels.reshape(1, SPEC["height"], SPEC["width"], SPEC["channels"])`;

/** The TFLite samples' (desktop and Raspberry Pi) inference on one image, float or int8 files alike. */
const PY_CLASSIFY = `def classify(interpreter, pixels):
    """Class probabilities of one image ([1, H, W, C] pixels 0..255)."""
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    if inp["dtype"] == np.int8:
        scale, zero = inp["quantization"]
        pixels = np.clip(np.round(pixels / scale) + zero, -128, 127).astype(np.int8)
    interpreter.set_tensor(inp["index"], pixels.astype(inp["dtype"]))
    interpreter.invoke()
    result = interpreter.get_tensor(out["index"])[0]
    if out["dtype"] == np.int8:
        scale, zero = out["quantization"]
        result = (result.astype(np.float32) - zero) * scale
    return result`;

/** The Python samples' command line: one image, --top K and --model FILE. */
const pyArgs = (model: string, script: string) => `    args = sys.argv[1:]
    top = 5
    model = "${model}"
    if "--top" in args:
        i = args.index("--top")
        top = int(args[i + 1])
        del args[i : i + 2]
    if "--model" in args:
        i = args.index("--model")
        model = args[i + 1]
        del args[i : i + 2]
    if len(args) != 1:
        sys.exit("usage: python ${script} <image> [--top K] [--model FILE]")`;

const PYTHON = `"""Predicts one image with the exported model (onnxruntime).

    pip install onnxruntime numpy pillow
    python samples/predict.py photo.jpg [--top 5] [--model model-int8.onnx]
"""
import json
import pathlib
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

${PY_LOAD}


def main():
${pyArgs('model.onnx', 'predict.py')}
    session = ort.InferenceSession(str(ROOT / model), providers=ort.get_available_providers())
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

const TFLITE_PYTHON = `"""Predicts one image with the exported TensorFlow Lite model.

    pip install tflite-runtime numpy pillow      (or: pip install ai-edge-litert / tensorflow)
    python samples/predict_tflite.py photo.jpg [--top 5] [--model model-int8.tflite]

Works with the float model and the full-integer one: an int8 input is quantized with the input
tensor's own scale and zero point, an int8 output dequantized with the output tensor's.
"""
import json
import pathlib
import sys
import time

import numpy as np
from PIL import Image, ImageOps

try:
    from tflite_runtime.interpreter import Interpreter
except ImportError:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf
        Interpreter = tf.lite.Interpreter

${PY_LOAD}


${PY_CLASSIFY}


def main():
${pyArgs('model.tflite', 'predict_tflite.py')}
    interpreter = Interpreter(model_path=str(ROOT / model))
    interpreter.allocate_tensors()
    started = time.perf_counter()
    probabilities = classify(interpreter, load(args[0]))
    elapsed = (time.perf_counter() - started) * 1000
    for i in np.argsort(-probabilities)[:top]:
        print(f"{LABELS[i]}\\t{probabilities[i] * 100:.2f}%")
    print(f"({elapsed:.1f} ms)", file=sys.stderr)


if __name__ == "__main__":
    main()
`;

const PI = `#!/usr/bin/env python3
"""Classifies images on a Raspberry Pi with the exported TensorFlow Lite model.

Setup (Raspberry Pi OS, 64-bit):
    sudo apt install python3-numpy python3-pil python3-picamera2
    pip install tflite-runtime        (in a venv made with --system-site-packages)

    python3 samples/raspberry-pi/classify.py photo.jpg      one image file
    python3 samples/raspberry-pi/classify.py --camera       the camera, one frame a second (Ctrl+C stops)

The int8 model (model-int8.tflite) is used when the export has it: on a Pi's Cortex-A cores it is
smaller and usually faster. --model picks another file. Each result prints the top 3 classes.
"""
import json
import pathlib
import sys
import time

import numpy as np
from PIL import Image, ImageOps

try:
    from tflite_runtime.interpreter import Interpreter
except ImportError:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf
        Interpreter = tf.lite.Interpreter

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
SPEC = json.loads((ROOT / "preprocess.json").read_text(encoding="utf-8"))
LABELS = (ROOT / "labels.txt").read_text(encoding="utf-8").splitlines()


def pixels_of(image):
    """[1, H, W, C] float32 pixels 0..255 of a PIL image, resized as the model expects."""
    image = image.convert("L" if SPEC["channels"] == 1 else "RGB")
    size = (SPEC["width"], SPEC["height"])
    if SPEC["resize"] == "cover":
        image = ImageOps.fit(image, size, Image.Resampling.BILINEAR, centering=(0.5, 0.5))
    else:
        image = image.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.float32).reshape(1, SPEC["height"], SPEC["width"], SPEC["channels"])


${PY_CLASSIFY}


def report(probabilities, ms):
    best = np.argsort(-probabilities)[:3]
    print("  ".join(f"{LABELS[i]} {probabilities[i] * 100:.1f}%" for i in best) + f"  ({ms:.0f} ms)", flush=True)


def main():
    args = sys.argv[1:]
    model = "model-int8.tflite" if (ROOT / "model-int8.tflite").exists() else "model.tflite"
    if "--model" in args:
        i = args.index("--model")
        model = args[i + 1]
        del args[i : i + 2]
    interpreter = Interpreter(model_path=str(ROOT / model), num_threads=4)
    interpreter.allocate_tensors()
    if args == ["--camera"]:
        from picamera2 import Picamera2

        camera = Picamera2()
        camera.configure(camera.create_still_configuration(main={"size": (640, 480), "format": "RGB888"}))
        camera.start()
        while True:
            frame = Image.fromarray(camera.capture_array()[:, :, ::-1])
            started = time.perf_counter()
            report(classify(interpreter, pixels_of(frame)), (time.perf_counter() - started) * 1000)
            time.sleep(1)
    if len(args) != 1:
        sys.exit("usage: classify.py <image> | --camera  [--model FILE]")
    image = ImageOps.exif_transpose(Image.open(args[0]))
    started = time.perf_counter()
    report(classify(interpreter, pixels_of(image)), (time.perf_counter() - started) * 1000)


if __name__ == "__main__":
    main()
`;

const ANDROID = `// An image classifier for Android with the exported TensorFlow Lite model.
//
// 1. Copy model.tflite (or model-int8.tflite), labels.txt and preprocess.json into app/src/main/assets/.
// 2. app/build.gradle.kts:
//        dependencies { implementation("org.tensorflow:tensorflow-lite:2.16.1") }
//        android { androidResources { noCompress += "tflite" } }
// 3. val classifier = Classifier(context)            // or Classifier(context, "model-int8.tflite")
//    classifier.classify(bitmap).forEach { (label, p) -> Log.i("Classifier", "$label $p") }
//
// The model takes pixels 0..255 (its scaling is inside), resized as preprocess.json says; the
// int8 model takes q = pixel / scale + zeroPoint of its input tensor and gives int8 probabilities.

package com.example.loupe

import android.content.Context
import android.graphics.Bitmap
import android.graphics.Color
import org.json.JSONObject
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter
import java.io.FileInputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel
import kotlin.math.max
import kotlin.math.roundToInt

class Classifier(context: Context, modelFile: String = "model.tflite") : AutoCloseable {
    private val interpreter: Interpreter
    private val labels: List<String>
    private val width: Int
    private val height: Int
    private val channels: Int
    private val cover: Boolean

    init {
        val model: MappedByteBuffer = context.assets.openFd(modelFile).use { fd ->
            FileInputStream(fd.fileDescriptor).channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
        }
        interpreter = Interpreter(model, Interpreter.Options().setNumThreads(4))
        labels = context.assets.open("labels.txt").bufferedReader(Charsets.UTF_8).readLines()
        val spec = JSONObject(context.assets.open("preprocess.json").bufferedReader(Charsets.UTF_8).readText())
        width = spec.getInt("width")
        height = spec.getInt("height")
        channels = spec.getInt("channels")
        cover = spec.getString("resize") == "cover"
    }

    /** The top classes of one image, best first, with their probabilities (0..1). */
    fun classify(image: Bitmap, top: Int = 5): List<Pair<String, Float>> {
        val input = interpreter.getInputTensor(0)
        val output = interpreter.getOutputTensor(0)
        val pixels = resized(image)
        val int8 = input.dataType() == DataType.INT8
        val buffer = ByteBuffer.allocateDirect(width * height * channels * (if (int8) 1 else 4)).order(ByteOrder.nativeOrder())
        val q = input.quantizationParams()
        for (p in pixels) {
            val rgb = intArrayOf(Color.red(p), Color.green(p), Color.blue(p))
            val values = if (channels == 1) floatArrayOf(0.2126f * rgb[0] + 0.7152f * rgb[1] + 0.0722f * rgb[2]) else FloatArray(3) { rgb[it].toFloat() }
            for (v in values) {
                if (int8) buffer.put((v / q.scale + q.zeroPoint).roundToInt().coerceIn(-128, 127).toByte()) else buffer.putFloat(v)
            }
        }
        buffer.rewind()
        val classes = output.shape()[1]
        val probabilities = FloatArray(classes)
        if (output.dataType() == DataType.INT8) {
            val raw = Array(1) { ByteArray(classes) }
            interpreter.run(buffer, raw)
            val oq = output.quantizationParams()
            for (i in 0 until classes) probabilities[i] = oq.scale * (raw[0][i] - oq.zeroPoint)
        } else {
            val raw = Array(1) { FloatArray(classes) }
            interpreter.run(buffer, raw)
            raw[0].copyInto(probabilities)
        }
        return probabilities.indices.sortedByDescending { probabilities[it] }.take(top).map { labels[it] to probabilities[it] }
    }

    /** width x height pixels of the image: scaled to fill and centre-cropped ("cover"), or stretched ("fill"). */
    private fun resized(image: Bitmap): IntArray {
        val source = if (cover) {
            val scale = max(width.toFloat() / image.width, height.toFloat() / image.height)
            val w = (width / scale).roundToInt().coerceAtMost(image.width)
            val h = (height / scale).roundToInt().coerceAtMost(image.height)
            Bitmap.createBitmap(image, (image.width - w) / 2, (image.height - h) / 2, w, h)
        } else {
            image
        }
        val scaled = Bitmap.createScaledBitmap(source, width, height, true)
        val out = IntArray(width * height)
        scaled.getPixels(out, 0, width, 0, 0, width, height)
        return out
    }

    override fun close() = interpreter.close()
}
`;

export interface SampleFormats {
  onnx: boolean;
  tfjs: boolean;
  tflite: boolean;
  /** An int8 model is in the export (the Python samples take it with --model). */
  int8: boolean;
}

/** The sample files of an export, by path relative to the export folder. */
export function sampleFiles(formats: SampleFormats, ortVersion: string): Record<string, string> {
  const files: Record<string, string> = {};
  const { onnx: hasOnnx, tfjs: hasTfjs } = formats;
  if (formats.tflite) {
    files[`${SAMPLES_DIR}/predict_tflite.py`] = TFLITE_PYTHON;
    files[`${SAMPLES_DIR}/raspberry-pi/classify.py`] = PI;
    files[`${SAMPLES_DIR}/android/Classifier.kt`] = ANDROID;
  }
  if (hasOnnx) {
    files[`${SAMPLES_DIR}/predict.py`] = PYTHON;
    files[`${SAMPLES_DIR}/predict.mjs`] = NODE;
    files[`${SAMPLES_DIR}/web/index.html`] = WEB(ortVersion);
  }
  if (hasTfjs) files[`${SAMPLES_DIR}/predict-tfjs.mjs`] = TFJS_NODE;
  return files;
}
