// `loupe doctor`: the data doctor on a project, from the command line, on the same service as the
// studio. Findings print worst first (leaks first); `--json` prints the stable shape scripts read.

import fs from 'node:fs';
import * as format from '../../../shared/format';
import type { DoctorReport } from '../../../shared/types';
import { LoupeError } from '../../../shared/errors';
import { runDoctor } from '../../services/doctor';
import { liveImages } from '../../services/doctor/records';
import { similarImages } from '../../services/features/similar';
import { Project } from '../../store/project';
import { intOption, optionHelp, requirePositional, type Command } from '../command';
import { progressLine } from '../progress';

const num = (n: number) => format.num(n, format.PLAIN_LOCALE);
const pct = (x: number | null) => format.percent(x, 1);
const plural = (n: number, one: string) => `${num(n)} ${n === 1 ? one : `${one}s`}`;
const SHOWN = 50;
const NAMES_SHOWN = 4;

/** The stable shape of `loupe doctor --json`. */
export function doctorJson(report: DoctorReport) {
  return {
    images: report.images,
    seconds: report.seconds,
    checks: report.checks.map((c) => ({ check: c.check, count: c.count })),
    findings: report.findings.map((f) => ({
      check: f.check,
      score: f.score,
      crossSplit: f.crossSplit,
      images: f.images.map((i) => ({ id: i.id, name: i.name, split: i.split, label: i.label })),
    })),
  };
}

function printReport(report: DoctorReport, out: (s: string) => void): void {
  out(`Checked ${num(report.images)} images in ${format.seconds(report.seconds)} (${num(report.decoded)} read now${report.unreadable ? `, ${num(report.unreadable)} unreadable` : ''}).`);
  out(
    report.backbone
      ? `Near-duplicates, outliers and classes in two: perceptual hash and ${report.backbone} features (cached for ${num(report.withFeatures)} images).`
      : `No cached backbone features. ${report.scope.withoutBackbone} ${report.scope.needsBackbone}`,
  );
  out(`  ${report.checks.map((c) => `${c.check} ${num(c.count)}`).join(', ')}${report.dismissed ? ` (${num(report.dismissed)} dismissed)` : ''}`);
  const leak = report.leakEffect;
  if (leak && leak.leaked > 0) {
    const others = leak.images - leak.leaked;
    out(
      `Run #${leak.runId}'s test accuracy is ${pct(leak.accuracy)} on ${plural(leak.images, 'image')}; ${num(leak.leaked)} of them ${leak.leaked === 1 ? 'has' : 'have'} a near-copy ` +
        `among its training images (${pct(leak.leakedAccuracy)} on ${leak.leaked === 1 ? 'it' : 'those'})${others > 0 ? `, ${pct(leak.withoutLeaks)} on the ${plural(others, 'other')}` : ''}.`,
    );
  }
  for (const f of report.findings.slice(0, SHOWN)) {
    const names = f.images.slice(0, NAMES_SHOWN).map((i) => `${JSON.stringify(i.name)} (${i.split}${i.label ? `, ${JSON.stringify(i.label)}` : ''})`);
    const more = f.images.length > NAMES_SHOWN ? ` and ${num(f.images.length - NAMES_SHOWN)} more` : '';
    out(`  ${f.crossSplit ? 'LEAK ' : ''}${f.check} ${f.score.toFixed(2)}: ${f.detail} ${names.join(', ')}${more}`);
  }
  if (report.findings.length > SHOWN) out(`  ... and ${num(report.findings.length - SHOWN)} more findings (--json lists them all).`);
}

export const doctorCommand: Command = {
  name: 'doctor',
  usage: 'loupe doctor <project> [--json]',
  summary: 'Check the data: near-duplicates (leaks across splits first), blur, exposure, one-colour, greyscale, odd sizes, class balance, outliers, classes in two, label errors.',
  help: [optionHelp('--json', 'print one JSON object')],
  options: { json: { type: 'boolean' } },
  async run(positionals, values, io) {
    const dir = requirePositional(positionals, 0, 'the project folder', this.usage);
    const project = Project.open(dir);
    const controller = new AbortController();
    void io.interrupted.then(() => controller.abort());
    const line = progressLine((t) => process.stderr.write(t), { tty: Boolean(process.stderr.isTTY), unit: 'images' });
    try {
      const report = await runDoctor(project, { signal: controller.signal, onProgress: (done, total, phase) => line.update(done, total, phase) });
      line.end();
      if (values.json) io.json(doctorJson(report));
      else printReport(report, io.out);
      return 0;
    } catch (err) {
      line.end();
      if (!(err instanceof LoupeError && err.code === 'CANCELLED')) throw err;
      io.err('Cancelled. The images read so far are kept; the next check starts from there.');
      return 130;
    } finally {
      project.close();
    }
  },
};

export const similarCommand: Command = {
  name: 'similar',
  usage: 'loupe similar <project> <image-id|image-file> [--limit N] [--json]',
  summary: 'More like this: the images nearest to one image (of the project, or a file) by cached backbone features.',
  help: [optionHelp('--limit N', 'how many images, 20 unless given', { int: true, min: 1, max: 5000 }), optionHelp('--json', 'print one JSON object')],
  options: { limit: { type: 'string' }, json: { type: 'boolean' } },
  async run(positionals, values, io) {
    const dir = requirePositional(positionals, 0, 'the project folder', this.usage);
    const what = requirePositional(positionals, 1, 'an image id or an image file', this.usage);
    const limit = intOption(values.limit, '--limit', 1, 5000) ?? 20;
    const project = Project.open(dir);
    try {
      const isFile = fs.existsSync(what) && fs.statSync(what).isFile();
      if (!isFile && !/^\d+$/.test(what)) throw new LoupeError('NOT_FOUND', `${what} is neither an image id of the project nor an image file.`);
      const result = await similarImages(project, isFile ? { file: fs.readFileSync(what), limit } : { imageId: Number(what), limit });
      const rows = liveImages(project.db);
      const byId = new Map(rows.map((r) => [r.id, r]));
      const similar = result.ids.map((id, k) => {
        const r = byId.get(id)!;
        return { id, name: r.name, split: r.split, label: r.label, similarity: result.similarities[k] };
      });
      if (values.json) io.json({ backbone: result.backbone, images: result.images, seconds: result.seconds, similar });
      else {
        io.out(`${num(similar.length)} of ${num(result.images)} images by ${result.backbone} features, most alike first (${format.seconds(result.seconds)}):`);
        for (const s of similar) io.out(`  ${s.similarity.toFixed(3)}  #${s.id} ${JSON.stringify(s.name)} (${s.split}${s.label ? `, ${JSON.stringify(s.label)}` : ''})`);
      }
      return 0;
    } finally {
      project.close();
    }
  },
};
