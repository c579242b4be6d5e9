import { createImport } from '../../services/import';
import { SAMPLE_NAME, SAMPLE_SPLIT_SEED } from '../../services/sample';
import { setSplitSeed } from '../../services/splits';
import { projectSummary } from '../../services/summary';
import { Project } from '../../store/project';
import { requirePositional, UsageError, type Command } from '../command';
import { importWithProgress, printReport } from './import';
import { statusJson } from './project';

export const sampleCommand: Command = {
  name: 'sample',
  usage: 'loupe sample digits <dir> [--json]',
  summary: 'Create a sample project: 10,000 labelled handwritten digits (MNIST), split 80/10/10.',
  options: { json: { type: 'boolean' } },
  async run(positionals, values, io) {
    const kind = requirePositional(positionals, 0, 'the sample kind (digits)', this.usage);
    if (kind !== 'digits') throw new UsageError(`Unknown sample "${kind}": the one sample is "digits".\nUsage: ${this.usage}`);
    const dir = requirePositional(positionals, 1, 'the project folder', this.usage);
    const project = Project.create(dir, SAMPLE_NAME);
    try {
      setSplitSeed(project.db, SAMPLE_SPLIT_SEED);
      const importId = createImport(project.db, [{ kind: 'sample', sample: 'digits' }]);
      const report = await importWithProgress(project, importId, io);
      const summary = projectSummary(project);
      if (values.json) io.json({ ...statusJson(summary), import: report });
      else {
        printReport(report, io.out);
        io.out(`Created the sample project "${summary.name}" at ${summary.path}`);
      }
      return report.status === 'completed' ? 0 : 130;
    } finally {
      project.close();
    }
  },
};
