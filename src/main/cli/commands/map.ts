// `loupe map`: lays out the map of a project's images (UMAP of its cached backbone features) on
// the same service as the studio's Map view, or places the images added since the last layout.

import * as format from '../../../shared/format';
import { mapLayoutRequest } from '../../../shared/api';
import { LoupeError } from '../../../shared/errors';
import { layoutMap } from '../../services/map';
import { Project } from '../../store/project';
import { optionHelp, requirePositional, schemaOption, type Command } from '../command';
import { progressLine } from '../progress';

const num = (n: number) => format.num(n, format.PLAIN_LOCALE);

export const mapCommand: Command = {
  name: 'map',
  usage: 'loupe map <project> [--recompute] [--seed N] [--epochs N] [--json]',
  summary: 'Lay out the map of every image from cached backbone features (images added since are placed among the others).',
  help: [
    optionHelp('--recompute', 'lay everything out again rather than place only new images'),
    optionHelp('--seed N', 'the layout’s seed (the same seed gives the same map)'),
    optionHelp('--epochs N', 'optimisation epochs (default: 200 above 10,000 images, up to 500 below)'),
    optionHelp('--json', 'print one JSON object'),
  ],
  options: { recompute: { type: 'boolean' }, seed: { type: 'string' }, epochs: { type: 'string' }, json: { type: 'boolean' } },
  async run(positionals, values, io) {
    const dir = requirePositional(positionals, 0, 'the project folder', this.usage);
    const seed = schemaOption(values.seed, 'seed', mapLayoutRequest.shape.seed);
    const epochs = schemaOption(values.epochs, 'epochs', mapLayoutRequest.shape.epochs);
    const project = Project.open(dir);
    const controller = new AbortController();
    void io.interrupted.then(() => controller.abort());
    const line = progressLine((t) => process.stderr.write(t), { tty: Boolean(process.stderr.isTTY) });
    try {
      const result = await layoutMap(project, {
        recompute: Boolean(values.recompute),
        seed,
        epochs,
        signal: controller.signal,
        onProgress: (done, total, phase) => line.update(done, total, phase),
      });
      line.end();
      if (values.json) io.json(result);
      else {
        const what = result.laidOut > 0 ? `Laid out ${num(result.laidOut)} images` : `Placed ${num(result.placed)} new images`;
        const missing = result.withoutFeatures > 0 ? ` ${num(result.withoutFeatures)} images have no cached features and are not on the map.` : '';
        io.out(`${what} by ${result.backbone} features in ${format.seconds(result.seconds)}.${missing}`);
      }
      return 0;
    } catch (err) {
      line.end();
      if (!(err instanceof LoupeError && err.code === 'CANCELLED')) throw err;
      io.err('Cancelled. The map is as it was before.');
      return 130;
    } finally {
      project.close();
    }
  },
};
