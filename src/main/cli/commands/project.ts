import type { ProjectSummary } from '../../../shared/types';
import { AppState } from '../../store/app-state';
import { appDataDir } from '../../store/app-paths';
import { projectSummary } from '../../services/summary';
import { Project, type OpenOptions } from '../../store/project';
import { requirePositional, type Command } from '../command';

/** The stable shape scripts read from `loupe status --json`. */
export function statusJson(summary: ProjectSummary) {
  return {
    path: summary.path,
    name: summary.name,
    schemaVersion: summary.schemaVersion,
    images: summary.images,
    labeled: summary.labeled,
    unlabeled: summary.unlabeled,
    classes: summary.classes.map((c) => ({ name: c.name, count: c.count })),
    splits: summary.splits,
  };
}

function printSummary(summary: ProjectSummary, out: (s: string) => void): void {
  out(`${summary.name}  (${summary.path})`);
  if (summary.readOnly) out(`  read-only: ${summary.readOnlyReason ?? 'changes cannot be saved'}`);
  out(`  images:   ${summary.images}  (labeled ${summary.labeled}, unlabeled ${summary.unlabeled})`);
  out(`  splits:   train ${summary.splits.train}, val ${summary.splits.val}, test ${summary.splits.test}`);
  if (summary.classes.length === 0) out('  classes:  none yet');
  else {
    out('  classes:');
    const width = Math.max(...summary.classes.map((c) => c.name.length));
    for (const c of summary.classes) out(`    ${JSON.stringify(c.name).padEnd(width + 2)}  ${c.count}`);
  }
}

/** Opens a project for the length of one command and always closes it. */
export function withProject<T>(dir: string, fn: (project: Project) => T, options: OpenOptions = {}): T {
  const project = Project.open(dir, options);
  try {
    return fn(project);
  } finally {
    project.close();
  }
}

export const createCommand: Command = {
  name: 'create',
  usage: 'loupe create <dir> [--name NAME] [--json]',
  summary: 'Create an empty project folder (e.g. pets.loupe).',
  options: { name: { type: 'string' }, json: { type: 'boolean' } },
  async run(positionals, values, io) {
    const dir = requirePositional(positionals, 0, 'the project folder', this.usage);
    const project = Project.create(dir, values.name as string | undefined);
    try {
      const summary = projectSummary(project);
      const app = new AppState(appDataDir());
      try {
        app.touchRecent(project.root, project.name);
      } finally {
        app.close();
      }
      if (values.json) io.json(statusJson(summary));
      else io.out(`Created project "${summary.name}" at ${summary.path}`);
    } finally {
      project.close();
    }
    return 0;
  },
};

export const statusCommand: Command = {
  name: 'status',
  usage: 'loupe status <dir> [--json]',
  summary: 'Show a project’s images, labels, classes and splits.',
  options: { json: { type: 'boolean' } },
  async run(positionals, values, io) {
    const dir = requirePositional(positionals, 0, 'the project folder', this.usage);
    // Looking needs no writing: a read-only folder is shown, and says so.
    const summary = withProject(dir, projectSummary, { allowReadOnly: true });
    if (values.json) io.json(statusJson(summary));
    else printSummary(summary, io.out);
    return 0;
  },
};
