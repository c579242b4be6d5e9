import type { BackboneInfo } from '../../../shared/types';
import { addBackbone, downloadBackbone, listBackbones } from '../../services/backbones/service';
import { measureBackbone } from '../../services/backbones/speed';
import { backboneSource, backboneSpeedRequest } from '../../../shared/api';
import { backboneFacts, backboneHere, backboneSpeeds } from '../../../shared/backbone-text';
import { optionHelp, requirePositional, schemaOption, UsageError, type CliIO, type Command } from '../command';
import { progressLine } from '../progress';

const INDENT = ' '.repeat(4);

/** A backbone in four lines: name, whether here, title; its facts; its speed here; its status. */
function line(b: BackboneInfo): string {
  const state = b.present ? backboneHere(b) : b.downloadable ? 'Not here, downloadable' : 'Not here';
  const runsAt = b.resolutions.length > 0 ? ` · runs at ${b.resolutions.join('/')} px` : '';
  const speed = b.present ? backboneSpeeds(b) + (b.speeds.length === 0 ? ` (loupe backbones measure ${b.name})` : '') : 'not measured (not here)';
  return [`${b.name.padEnd(24)} ${state.padEnd(24)} ${b.title}`, `${INDENT}${backboneFacts(b)}${runsAt}`, `${INDENT}Extraction speed here: ${speed}`, `${INDENT}${b.status}`].join('\n');
}

export const backbonesCommand: Command = {
  name: 'backbones',
  usage: 'loupe backbones [download NAME | measure NAME [--resolution PX] | add PATH [--name N] [--output LAYER] [--size PX] [--scale S --offset O]] [--json]',
  summary:
    'List the pretrained backbones for transfer learning (size, license, published ImageNet top-1, whether each is here and verified, extraction speed measured here); download one (mirrors tried in order, resumed, verified by sha256), measure its feature-extraction speed on this machine (images/s at each resolution it offers, or --resolution), or add a model from this machine: an official file fetched by hand is recognised by its sha256; otherwise a TensorFlow.js model folder or an .onnx file of your own (--output: the layer or value holding the features, found automatically for ONNX; ONNX: --size, and --scale/--offset on pixels in [0, 1]). LOUPE_BACKBONE_DIR names a folder searched first.',
  help: [
    optionHelp('--name N', 'the name it is listed under'),
    optionHelp('--output LAYER', 'the layer or value holding the features (ONNX: found automatically when left out)'),
    optionHelp('--size PX', 'ONNX: input width and height', backboneSource.shape.size.limits),
    optionHelp('--scale S', 'ONNX: pixels in [0, 1] are multiplied by S', backboneSource.shape.scale.limits),
    optionHelp('--offset O', 'ONNX: then O is added', backboneSource.shape.offset.limits),
    optionHelp('--resolution PX', 'measure: only this image size', backboneSpeedRequest.shape.resolution.limits),
    optionHelp('--json', 'print one JSON object'),
  ],
  options: {
    json: { type: 'boolean' },
    name: { type: 'string' },
    output: { type: 'string' },
    size: { type: 'string' },
    scale: { type: 'string' },
    offset: { type: 'string' },
    resolution: { type: 'string' },
  },
  async run(positionals, values, io: CliIO) {
    const [action] = positionals;
    if (action === undefined) {
      const list = listBackbones();
      if (values.json) io.json({ backbones: list });
      else for (const b of list) io.out(line(b));
      return 0;
    }
    if (action === 'download') {
      const name = requirePositional(positionals, 1, 'the backbone to download', this.usage);
      const controller = new AbortController();
      void io.interrupted.then(() => controller.abort());
      const progress = progressLine((t) => process.stderr.write(t), { tty: Boolean(process.stderr.isTTY), unit: 'bytes' });
      const result = await downloadBackbone(name, { signal: controller.signal, onProgress: (d, t) => progress.update(d, t, `Downloading ${name}`) });
      progress.end();
      if (values.json) io.json(result);
      else io.out(line(result.backbone));
      return 0;
    }
    if (action === 'measure') {
      const name = requirePositional(positionals, 1, 'the backbone to measure', this.usage);
      const resolution = schemaOption(values.resolution, 'resolution', backboneSpeedRequest.shape.resolution);
      const controller = new AbortController();
      void io.interrupted.then(() => controller.abort());
      const progress = progressLine((t) => process.stderr.write(t), { tty: Boolean(process.stderr.isTTY), unit: 'resolutions' });
      const result = await measureBackbone(name, resolution, { signal: controller.signal, onProgress: (d, t, phase) => progress.update(d, t, phase) });
      progress.end();
      if (values.json) io.json(result);
      else for (const x of result.speeds) io.out(`${result.backbone} at ${x.resolution}x${x.resolution}: ${x.imagesPerSecond.toFixed(1)} images/s (${x.batch === 1 ? 'one image at a time' : `batches of ${x.batch}`})`);
      return 0;
    }
    if (action === 'add') {
      const target = requirePositional(positionals, 1, 'the model folder or .onnx file', this.usage);
      const info = await addBackbone({
        path: target,
        name: typeof values.name === 'string' ? values.name : undefined,
        output: typeof values.output === 'string' ? values.output : undefined,
        size: schemaOption(values.size, 'size', backboneSource.shape.size),
        scale: schemaOption(values.scale, 'scale', backboneSource.shape.scale),
        offset: schemaOption(values.offset, 'offset', backboneSource.shape.offset),
      });
      if (values.json) io.json(info);
      else io.out(line(info));
      return 0;
    }
    throw new UsageError(`Unknown action "${action}".\nUsage: ${this.usage}`);
  },
};
