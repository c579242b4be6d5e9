// `loupe eval`, `loupe suggest` and `loupe label-errors`: a run's metrics, model suggestions for
// the unlabeled images, and the label-error finder, on the same services as the studio.

import * as format from '../../../shared/format';
import type { Evaluation, LabelIssue } from '../../../shared/types';
import { LoupeError } from '../../../shared/errors';
import { evaluateRun } from '../../services/evaluation/evaluate';
import { LABEL_CHECK_FOLDS, LABEL_CHECK_MAX_EPOCHS, runLabelCheck } from '../../services/evaluation/label-check';
import { listLabelIssues } from '../../services/evaluation/label-issues';
import { runSuggestions } from '../../services/evaluation/suggestions';
import { classNameById, imageSource } from '../../services/records';
import { Project } from '../../store/project';
import { evalSplit, id, labelCheckOptions } from '../../../shared/api';
import { optionHelp, requirePositional, schemaOption, type CliIO, type Command, type OptionValues } from '../command';
import { progressLine } from '../progress';
import { withProject } from './project';

// The CLI's figures: two decimals of a percent, and the same grouping on every machine.
const pct = (x: number | null) => format.percent(x, 2);
const num = (n: number) => format.num(n, format.PLAIN_LOCALE);

function runOption(values: OptionValues): number | undefined {
  return schemaOption(values.run, 'run', id);
}

/** The stable shape scripts read from `loupe eval --json`. */
export function evalJson(e: Evaluation) {
  return {
    runId: e.runId,
    split: e.split,
    images: e.images,
    accuracy: e.accuracy,
    macroF1: e.macroF1,
    labels: e.labels,
    perClass: e.perClass.map((c) => ({ label: c.label, precision: c.precision, recall: c.recall, f1: c.f1, support: c.support })),
    confusion: e.confusion,
    relabeled: e.relabeled,
    excluded: e.excluded,
    // Images whose current label a model wrote (accepted suggestions or label-check findings),
    // and the scores on labels no model wrote (see Evaluation.independent).
    modelLabeled: e.modelLabeled,
    modelLabeledSinceRun: e.modelLabeledSinceRun,
    independent: e.independent,
  };
}

function printEvaluation(e: Evaluation, out: (s: string) => void): void {
  if (e.unscored !== null) {
    out(`Run #${e.runId} has no ${e.split === 'test' ? 'test' : 'validation'} images to score: ${e.unscored}`);
    return;
  }
  out(`Run #${e.runId} on ${e.split} (${num(e.images)} images): accuracy ${pct(e.accuracy)}, macro F1 ${pct(e.macroF1)}`);
  if (e.relabeled > 0) out(`  ${num(e.relabeled)} images were relabeled since the run; their current label is the truth.`);
  if (e.excluded > 0) out(`  ${num(e.excluded)} images left out: removed, unlabeled, or in a class the run does not know.`);
  if (e.modelLabeled > 0) {
    const since = e.modelLabeledSinceRun > 0 ? ` (${num(e.modelLabeledSinceRun)} since the run trained)` : '';
    out(`  ${num(e.modelLabeled)} of these labels were written by a model${since}: a model graded on them grades itself.`);
    const left = e.images - e.independent.images;
    out(
      `  On labels no model wrote (the label in the run's snapshot for those relabeled since${left > 0 ? `; ${num(left)} labeled by a model before the run left out` : ''}): ` +
        `accuracy ${pct(e.independent.accuracy)}, macro F1 ${pct(e.independent.macroF1)} on ${num(e.independent.images)} images`,
    );
  }
  const names = e.labels.map((l) => JSON.stringify(l));
  const w = Math.max(5, ...names.map((n) => n.length));
  out('');
  out(`  ${'class'.padEnd(w)}  precision  recall     f1  support`);
  e.perClass.forEach((c, k) => {
    out(`  ${names[k].padEnd(w)}  ${pct(c.precision).padStart(9)}  ${pct(c.recall).padStart(7)}  ${pct(c.f1).padStart(7)}  ${String(c.support).padStart(7)}`);
  });
  out('');
  out('  Confusion matrix (rows: true class, columns: predicted, in the order above):');
  const cw = Math.max(4, ...e.confusion.flat().map((n) => String(n).length));
  e.confusion.forEach((row, t) => out(`  ${names[t].padEnd(w)}  ${row.map((n) => String(n).padStart(cw)).join(' ')}`));
}

export const evalCommand: Command = {
  name: 'eval',
  usage: 'loupe eval <project> [--run ID] [--split test|val] [--json]',
  summary: 'Evaluate a run (default: the best): accuracy, macro F1, per-class precision/recall/F1 and the confusion matrix.',
  options: { run: { type: 'string' }, split: { type: 'string' }, json: { type: 'boolean' } },
  async run(positionals, values, io) {
    const dir = requirePositional(positionals, 0, 'the project folder', this.usage);
    const split = schemaOption(values.split, 'split', evalSplit);
    const runId = runOption(values);
    const e = withProject(dir, (project) => evaluateRun(project.db, runId, split));
    if (values.json) io.json(evalJson(e));
    else printEvaluation(e, io.out);
    return 0;
  },
};

/** Runs long work with progress on stderr; Ctrl-C cancels it. */
async function withProgress<T>(io: CliIO, unit: string, work: (signal: AbortSignal, progress: (done: number, total: number | null, phase: string) => void) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  void io.interrupted.then(() => controller.abort());
  const line = progressLine((t) => process.stderr.write(t), { tty: Boolean(process.stderr.isTTY), unit });
  try {
    return await work(controller.signal, (done, total, phase) => line.update(done, total, phase));
  } finally {
    line.end();
  }
}

const cancelled = (err: unknown) => err instanceof LoupeError && err.code === 'CANCELLED';

export const suggestCommand: Command = {
  name: 'suggest',
  usage: 'loupe suggest <project> [--run ID] [--json]',
  summary: 'Suggest a label for every unlabeled image with a run’s model (default: the best run); accept them in the studio.',
  options: { run: { type: 'string' }, json: { type: 'boolean' } },
  async run(positionals, values, io) {
    const dir = requirePositional(positionals, 0, 'the project folder', this.usage);
    const runId = runOption(values);
    const project = Project.open(dir);
    try {
      const result = await withProgress(io, 'images', (signal, onProgress) => runSuggestions(project, runId, { signal, onProgress }));
      if (values.json) io.json(result);
      else {
        const byClass = result.classes.map((c) => `${JSON.stringify(c.label)} ${num(c.count)}`).join(', ');
        io.out(`Run #${result.runId} suggested labels for ${num(result.images)} unlabeled images in ${format.seconds(result.seconds)}${byClass ? `: ${byClass}` : ''}.`);
        if (result.failed > 0) io.out(`  ${num(result.failed)} images could not be read.`);
      }
      return 0;
    } catch (err) {
      if (!cancelled(err)) throw err;
      io.err('Cancelled. The earlier suggestions stay as they were.');
      return 130;
    } finally {
      project.close();
    }
  },
};

function issueJson(project: Project, issue: LabelIssue) {
  const row = imageSource(project.db, issue.imageId);
  const className = (id: number) => classNameById(project.db, id);
  return {
    imageId: issue.imageId,
    name: row.name,
    path: row.path,
    split: issue.split,
    given: className(issue.givenClassId),
    suggested: className(issue.suggestedClassId),
    givenProbability: issue.givenProbability,
    suggestedProbability: issue.suggestedProbability,
    source: issue.source,
  };
}

export const labelErrorsCommand: Command = {
  name: 'label-errors',
  usage: 'loupe label-errors <project> [--run ID] [--folds K] [--epochs N] [--json]',
  summary: `Find likely label errors: out-of-sample predictions (${LABEL_CHECK_FOLDS}-fold models with the run’s plan, at most ${LABEL_CHECK_MAX_EPOCHS} epochs each) that confidently contradict the given label.`,
  help: [
    optionHelp('--run ID', 'the run whose plan the fold models use (default: the best run)'),
    optionHelp('--folds K', 'folds', labelCheckOptions.shape.folds.limits),
    optionHelp('--epochs N', 'epochs of each fold model', labelCheckOptions.shape.epochs.limits),
    optionHelp('--json', 'print one JSON object'),
  ],
  options: { run: { type: 'string' }, folds: { type: 'string' }, epochs: { type: 'string' }, json: { type: 'boolean' } },
  async run(positionals, values, io) {
    const dir = requirePositional(positionals, 0, 'the project folder', this.usage);
    const runId = runOption(values);
    const folds = schemaOption(values.folds, 'folds', labelCheckOptions.shape.folds);
    const epochs = schemaOption(values.epochs, 'epochs', labelCheckOptions.shape.epochs);
    const project = Project.open(dir);
    try {
      const check = await withProgress(io, 'images', (signal, onProgress) => runLabelCheck(project, runId, { folds, epochs, signal, onProgress }));
      const issues = listLabelIssues(project.db).issues.map((i) => issueJson(project, i));
      if (values.json) io.json({ check, issues });
      else {
        io.out(`Label check of run #${check.runId}: ${num(check.flagged)} of ${num(check.images)} images flagged (${check.folds} folds, ${check.epochs} epochs each, ${format.seconds(check.seconds)}).`);
        io.out(`  ${check.verdict}`);
        for (const i of issues.slice(0, 50)) {
          io.out(`  ${JSON.stringify(i.name)} (${i.split}): labeled ${JSON.stringify(i.given)} (${pct(i.givenProbability)}), looks like ${JSON.stringify(i.suggested)} (${pct(i.suggestedProbability)})`);
        }
        if (issues.length > 50) io.out(`  ... and ${num(issues.length - 50)} more; review them in the studio's Evaluate view.`);
      }
      return 0;
    } catch (err) {
      if (!cancelled(err)) throw err;
      io.err('Cancelled. Earlier findings stay as they were.');
      return 130;
    } finally {
      project.close();
    }
  },
};
