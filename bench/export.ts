// Export figures for issue 18: for each project (and run) given, a verified ONNX + int8 ONNX
// export and a verified TFLite + int8 TFLite export, then file sizes, top-1 agreement with the
// float model, test accuracy float vs int8, onnxruntime images/s (batch 32) and batch-1 latency,
// and the TFLite interpreter's time for one image. An int8 model that is refused prints why (with
// its figures). All figures come from the exports' own checks, on the run's test images.
//   npm run bench:export -- --project /path/a.loupe[:RUN] [--project ...] [--methods minmax,percentile,mse] [--out DIR]

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { CalibrationMethod, ExportResult } from '../src/shared/types';
import { exportRun } from '../src/main/services/export/export';
import { measureSpeed, quantizeRun } from '../src/main/services/export/int8';
import { parityPixels } from '../src/main/services/export/parity';
import { defaultRunId, runModel } from '../src/main/services/export/run-model';
import { Project } from '../src/main/store/project';

const { values } = parseArgs({ options: { project: { type: 'string', multiple: true }, methods: { type: 'string' }, out: { type: 'string' } } });
if (!values.project?.length) {
  console.error('usage: npm run bench:export -- --project P[:RUN] [--project ...] [--methods minmax,percentile,mse]');
  process.exit(2);
}
const out = values.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-bench-export-'));
const methods = values.methods?.split(',') as CalibrationMethod[] | undefined;
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
console.log(`cores ${os.availableParallelism()}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} (other work on the machine shows here)`);

for (const spec of values.project) {
  const [dir, runText] = spec.split(/:(?=\d+$)/);
  const project = Project.open(dir);
  try {
    const runId = runText ? Number(runText) : defaultRunId(project);
    console.log(`\n== ${path.basename(dir)} run #${runId}`);
    const attempt = async (format: 'onnx-int8' | 'tflite-int8' | 'tflite'): Promise<ExportResult | null> => {
      const started = performance.now();
      try {
        const r = await exportRun(project, { runId, format, dir: out }, { calibration: methods });
        console.log(`${format}: exported and verified in ${((performance.now() - started) / 1000).toFixed(0)} s (${r.path})`);
        return r;
      } catch (err) {
        console.log(`${format}: REFUSED after ${((performance.now() - started) / 1000).toFixed(0)} s: ${err instanceof Error ? err.message : String(err)}`);
        return null;
      }
    };
    const onnx = await attempt('onnx-int8');
    if (onnx?.int8) {
      const q = onnx.int8;
      console.log(
        `  ONNX   size ${mb(q.bytes.float)} -> ${mb(q.bytes.int8)} (${(q.bytes.float / q.bytes.int8).toFixed(1)}x smaller); top-1 agreement ${pct(q.top1Agreement)} on ${q.images} ${q.split} images; ` +
          `accuracy ${q.accuracy ? `${pct(q.accuracy.float)} float vs ${pct(q.accuracy.int8)} int8` : 'n/a'}`,
      );
      console.log(
        `  ONNX   onnxruntime ${q.speed.threads} threads: ${q.speed.float.imagesPerSecond.toFixed(0)} vs ${q.speed.int8.imagesPerSecond.toFixed(0)} images/s at batch ${q.speed.float.batch} ` +
          `(${(q.speed.int8.imagesPerSecond / q.speed.float.imagesPerSecond).toFixed(2)}x), batch-1 ${q.speed.float.latencyMs.toFixed(2)} vs ${q.speed.int8.latencyMs.toFixed(2)} ms (${(q.speed.float.latencyMs / q.speed.int8.latencyMs).toFixed(2)}x)`,
      );
    }
    // A refused int8 export still says how the float model does: export that one alone.
    if (!onnx) {
      const float = await exportRun(project, { runId, format: 'onnx', dir: out });
      const floatBytes = new Uint8Array(fs.readFileSync(path.join(float.path, 'model.onnx')));
      console.log(`  ONNX   float only: ${mb(floatBytes.length)}, parity vs TF.js max |dp| ${float.parity!.maxAbsDiff.toExponential(2)}`);
      // The refused int8 model's speed, timed apart (min/max calibration, as the export's first try).
      const model = runModel(project, runId);
      const { bytes } = await quantizeRun(project, model.run, model.spec, floatBytes, { methods: ['minmax'] });
      const images = await parityPixels(project, runId, model.spec, { limit: 32 });
      const [f, q] = [await measureSpeed(floatBytes, model.spec, images), await measureSpeed(bytes, model.spec, images)];
      console.log(
        `  ONNX   refused int8 timed apart: ${mb(bytes.length)}; ${f.imagesPerSecond.toFixed(0)} vs ${q.imagesPerSecond.toFixed(0)} images/s at batch ${f.batch} (${(q.imagesPerSecond / f.imagesPerSecond).toFixed(2)}x), ` +
          `batch-1 ${f.latencyMs.toFixed(2)} vs ${q.latencyMs.toFixed(2)} ms (${(f.latencyMs / q.latencyMs).toFixed(2)}x)`,
      );
    }
    const tflite = (await attempt('tflite-int8')) ?? (await attempt('tflite'));
    if (tflite?.tflite) {
      const t = tflite.tflite;
      console.log(`  TFLite float: parity vs TF.js max |dp| ${t.parity.maxAbsDiff.toExponential(2)}, top-1 ${pct(t.parity.top1Agreement)}; ${mb(t.bytes)}; interpreter ${t.latencyMs.toFixed(2)} ms/image (1 thread)`);
      const q = t.int8;
      if (q) {
        console.log(
          `  TFLite int8 (${q.calibration.method}, ${q.calibration.images} train images): ${mb(q.bytes)} (${(t.bytes / q.bytes).toFixed(1)}x smaller); top-1 agreement ${pct(q.top1Agreement)}; ` +
            `accuracy ${q.accuracy ? `${pct(q.accuracy.float)} float vs ${pct(q.accuracy.int8)} int8` : 'n/a'}; interpreter ${q.latencyMs.toFixed(2)} ms/image (${(t.latencyMs / q.latencyMs).toFixed(2)}x)`,
        );
      }
    }
  } finally {
    project.close();
  }
}
console.log(`\nload average at the end ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; exports in ${out}`);
