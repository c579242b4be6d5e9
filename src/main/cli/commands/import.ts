import path from 'node:path';
import { num, perSecond, PLAIN_LOCALE, seconds } from '../../../shared/format';
import type { ImportReport } from '../../../shared/types';
import {
  createImport,
  findResumable,
  recoverImports,
  runImport,
  type ImportSource,
  type RunOptions,
} from '../../services/import';
import { Project } from '../../store/project';
import { type CliIO, type Command } from '../command';
import { progressLine } from '../progress';
import { UsageError } from '../command';

/** Runs an import with progress on stderr; Ctrl-C cancels it (what is done stays, resumable). */
export async function importWithProgress(
  project: Project,
  importId: number,
  io: CliIO,
  options: Omit<RunOptions, 'signal' | 'onProgress'> = {},
): Promise<ImportReport> {
  const controller = new AbortController();
  void io.interrupted.then(() => controller.abort());
  const line = progressLine((t) => process.stderr.write(t), { tty: Boolean(process.stderr.isTTY) });
  try {
    return await runImport(project, importId, {
      ...options,
      signal: controller.signal,
      onProgress: (p) => line.update(p.done, p.total, p.phase),
    });
  } finally {
    line.end();
  }
}

export function printReport(report: ImportReport, out: (s: string) => void): void {
  const n = (x: number) => num(x, PLAIN_LOCALE);
  const rate = report.imagesPerSecond === null ? '' : `, ${perSecond(report.imagesPerSecond, 'files', PLAIN_LOCALE)}`;
  out(
    `Import #${report.importId} ${report.status}: ${n(report.imported)} imported, ${n(report.duplicates)} duplicates, ` +
      `${n(report.skippedTotal)} skipped (${seconds(report.seconds)}${rate}).`,
  );
  if (report.imported > 0) {
    out(`  splits:  train ${n(report.splits.train)}, val ${n(report.splits.val)}, test ${n(report.splits.test)}`);
  }
  if (report.createdClasses.length > 0) out(`  new classes: ${report.createdClasses.map((c) => JSON.stringify(c)).join(', ')}`);
  for (const d of report.duplicateFiles.slice(0, 20)) out(`  duplicate: ${JSON.stringify(d.path)} (already in the project as ${JSON.stringify(d.existing)})`);
  if (report.duplicates > 20) out(`  ... and ${n(report.duplicates - 20)} more duplicates`);
  for (const s of report.skipped) out(`  skipped: ${JSON.stringify(s.path)}: ${s.reason}`);
  if (report.skippedTotal > report.skipped.length) out(`  ... and ${n(report.skippedTotal - report.skipped.length)} more skipped`);
}

export const importCommand: Command = {
  name: 'import',
  usage: 'loupe import <project> <dir|file|csv...> [--json]',
  summary: 'Import folders (class or split folders), images and CSVs of path,label; resumes an interrupted import of the same sources.',
  options: { json: { type: 'boolean' } },
  async run(positionals, values, io) {
    const [dir, ...inputs] = positionals;
    if (!dir || inputs.length === 0) throw new UsageError(`Give a project and at least one folder or file.\nUsage: ${this.usage}`);
    const sources: ImportSource[] = inputs.map((p) => ({ kind: 'path', path: path.resolve(p) }));
    const project = Project.open(dir);
    try {
      recoverImports(project);
      let importId = findResumable(project.db, sources);
      if (importId !== null) io.err(`Resuming import #${importId} of the same sources (files already done are skipped).`);
      importId ??= createImport(project.db, sources);
      const report = await importWithProgress(project, importId, io);
      if (values.json) io.json(report);
      else printReport(report, io.out);
      if (report.status === 'cancelled') {
        io.err('Cancelled. What was imported stays; run the same command again to resume.');
        return 130;
      }
      return 0;
    } finally {
      project.close();
    }
  },
};
