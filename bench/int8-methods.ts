// Where an int8 model of a run loses its float model's top class (issue 18, int8 on transfer runs):
// the int8 TFLite model's top-1 agreement with the float one on the run's test images for each
// calibration method (min/max, percentile clips, least squared error), dense weights per tensor or
// per channel, and with the first convolution or the pooling and head left in float (mixed
// precision, fenced by DEQUANTIZE/QUANTIZE; not what the export writes). All in the TFLite
// interpreter, on up to --images calibration (training) and test images.
//   npx tsx bench/int8-methods.ts --project P --run ID [--images 100]

import { parseArgs } from 'node:util';
import { compareInt8 } from '../src/main/services/export/int8';
import { parityPixels } from '../src/main/services/export/parity';
import { runModel } from '../src/main/services/export/run-model';
import { runToTflite } from '../src/main/services/export/tflite';
import { calibrate, quantizeTflite, type QuantizeOptions } from '../src/main/services/tflite/quantize';
import { runTflite } from '../src/main/services/tflite/run';
import { writeTflite, type Operator } from '../src/main/services/tflite/schema';
import { Project } from '../src/main/store/project';

const { values } = parseArgs({ options: { project: { type: 'string' }, run: { type: 'string' }, images: { type: 'string' } } });
if (!values.project || !values.run) {
  console.error('usage: npx tsx bench/int8-methods.ts --project P --run ID [--images 100]');
  process.exit(2);
}
const limit = Number(values.images ?? 100);
const project = Project.open(values.project);
try {
  const model = runModel(project, Number(values.run));
  const float = runToTflite(model, 'bench');
  const train = await parityPixels(project, model.run.id, model.spec, { splits: ['train'], limit });
  const test = await parityPixels(project, model.run.id, model.spec, { limit });
  const [reference] = await runTflite(writeTflite(float.model), test);
  const agreement = async (ranges: Awaited<ReturnType<typeof calibrate>>, options: QuantizeOptions = {}) => {
    const [q] = await runTflite(writeTflite(quantizeTflite(float.model, ranges, options)), test);
    return `${(compareInt8(reference, q, test.count, null).top1Agreement * 100).toFixed(1)}%`;
  };
  console.log(`${test.count} test images, ${train.count} calibration images; top-1 agreement of int8 with float:`);
  for (const [method, percentile] of [['minmax', undefined], ['percentile', 99.99], ['percentile', 99.9], ['percentile', 99], ['mse', undefined]] as const) {
    const ranges = await calibrate(float.model, train, { method, percentile });
    console.log(`  ${method}${percentile ? ` ${percentile}` : ''}: dense per tensor ${await agreement(ranges)}, per channel ${await agreement(ranges, { perChannelDense: true })}`);
  }
  const ranges = await calibrate(float.model, train);
  const name = (op: Operator) => float.model.tensors[op.outputs[0]].name;
  const first = (op: Operator) => /preprocess|^conv1$|flip/.test(name(op));
  const head = (op: Operator) => /^features$|head_|probabilities|flip_average/.test(name(op));
  console.log(`  min/max, first convolution in float: ${await agreement(ranges, { keepFloat: first })}`);
  console.log(`  min/max, pooling and head in float: ${await agreement(ranges, { keepFloat: head })}`);
  console.log(`  min/max, both in float: ${await agreement(ranges, { keepFloat: (op) => first(op) || head(op) })}`);
} finally {
  project.close();
}
