// Hostile names (of classes, the project, files) are data everywhere they are shown: in an
// export's labels.txt, model card and sample code, in the terminal, and in the API, which refuses
// to create class names that are not one line of text.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createApi } from '../../src/main/api/create-api';
import { terminalText } from '../../src/main/cli/terminal';
import { exportRun } from '../../src/main/services/export/export';
import { labelsText, parseLabels } from '../../src/main/services/export/files';
import { exportNameProblem } from '../../src/main/services/export/names';
import { sampleFiles } from '../../src/main/services/export/samples';
import { ortVersion } from '../../src/main/services/onnx/runtime';
import { readTflite } from '../../src/main/services/tflite/schema';
import { runTraining } from '../../src/main/services/training/train';
import { Project } from '../../src/main/store/project';
import { makeStudio, onCleanup, repoRoot, tempDir } from '../helpers';
import { makePatternProject } from '../services/training/train-helpers';
import { runCli } from './fault-helpers';

/** Class names as a crafted project.db (or an older Loupe) may hold them. */
const HOSTILE_CLASSES = [
  '<img src=x onerror=alert(1)>',
  'line\u2028break\u0085and\u000bmore\rend',
  '![tracker](https://evil.example/t.png) [click](javascript:alert(1)) <https://evil.example>',
  '"; rm -rf ~; echo "`id`${process.exit(1)}\' + __import__("os").system("id") + \' """ C:\\new\\x \\" ünï 😀',
  '\u001b[2J\u001b]0;pwned\u0007| col | # heading',
  '\u202Etxt.exe',
];
const HOSTILE_PROJECT = '# Evil\n\n<script>alert("card")</script> ![t](https://evil.example/t.png) <img src=x onerror=alert(2)>\u001b[31m';
/** The four classes of the exported model: line breaks, shell and code injection, escapes and pipes, a disguised name. */
const EXPORT_CLASSES = [HOSTILE_CLASSES[1], HOSTILE_CLASSES[3], HOSTILE_CLASSES[4], HOSTILE_CLASSES[5]];

/** Python's str.splitlines(), which samples/predict.py uses on labels.txt. */
function pythonLines(file: string): string[] | null {
  const run = spawnSync('python3', ['-c', 'import json,sys; print(json.dumps(open(sys.argv[1], encoding="utf-8").read().splitlines()))', file], { encoding: 'utf8' });
  return run.error || run.status !== 0 ? null : (JSON.parse(run.stdout) as string[]);
}

/** The text of a Markdown document outside its code spans and code blocks. */
function outsideCode(markdown: string): string {
  return markdown.replace(/(`+)[\s\S]*?\1/g, '');
}

describe('hostile names', () => {
  it('cannot add lines to labels.txt (for JavaScript or Python readers)', () => {
    const text = labelsText(HOSTILE_CLASSES);
    const file = path.join(tempDir(), 'labels.txt');
    fs.writeFileSync(file, text);
    expect(parseLabels(text)).toHaveLength(HOSTILE_CLASSES.length);
    expect(text.replace(/\r?\n$/, '').split(/\r?\n/)).toHaveLength(HOSTILE_CLASSES.length);
    const py = pythonLines(file);
    if (py) expect(py).toHaveLength(HOSTILE_CLASSES.length);
  });

  it('stay inert in a real export: model card, labels, sample code and the Node sample’s output', { timeout: 360_000 }, async () => {
    const dir = path.join(tempDir(), 'evil.loupe');
    await makePatternProject(dir, { perClass: 20, size: 8, classes: 4 });
    // Names as a crafted or older project may hold them (the API refuses some of these now).
    const raw = Project.open(dir);
    raw.db.prepare("UPDATE meta SET value = ? WHERE key = 'name'").run(HOSTILE_PROJECT);
    const ids = raw.db.prepare('SELECT id FROM classes ORDER BY position').pluck().all() as number[];
    ids.forEach((id, i) => raw.db.prepare('UPDATE classes SET name = ? WHERE id = ?').run(EXPORT_CLASSES[i], id));
    const result = await runTraining(raw, { arch: 'mlp', width: 8, height: 8, epochs: 3, seed: 1, workers: 1 });
    const exported = await exportRun(raw, { runId: result.runId, format: 'all', dir: tempDir('loupe-out-') });
    raw.close();
    const labels = EXPORT_CLASSES;
    const read = (f: string) => fs.readFileSync(path.join(exported.path, f), 'utf8');

    // The folder name is derived from the project name, cleaned into one plain folder name.
    expect(exportNameProblem(path.basename(exported.path))).toBeNull();
    expect(path.dirname(exported.path)).toBe(path.dirname(path.resolve(exported.path, '..', 'x')));
    expect(parseLabels(read('labels.txt'))).toHaveLength(4);
    const py = pythonLines(path.join(exported.path, 'labels.txt'));
    if (py) expect(py).toHaveLength(4);

    // The sample programs never contain a name: they read labels.txt at run time.
    const samples = sampleFiles({ onnx: true, tfjs: true, tflite: true, int8: false }, ortVersion());
    for (const [rel, text] of Object.entries(samples)) expect(read(rel), rel).toBe(text);

    // The model card: every name inside a code span; no links, images, HTML, headings or escapes of its own.
    const card = read('model-card.md');
    const prose = outsideCode(card);
    for (const needle of ['<img', '<script', '](', '<https', 'javascript:', 'evil.example', 'alert(', 'rm -rf', '\u001b', '\u202E', '\u2028', '\u0085']) {
      expect(prose, needle).not.toContain(needle);
    }
    // eslint-disable-next-line no-control-regex -- asserting there are none
    expect(card).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/);
    expect(card.split('\n').filter((l) => l.startsWith('# '))).toHaveLength(1);
    expect(card.split('\n').filter((l) => /^\| `/.test(l))).toHaveLength(4); // one table row per class
    expect(card).toContain('\\u{202E}txt.exe');

    // The Node sample prints a hostile label as plain data (and runs nothing).
    fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(path.dirname(exported.path), 'node_modules'), 'dir');
    const image = fs.readdirSync(path.join(dir, 'media'), { recursive: true }).map(String).find((f) => f.endsWith('.png'))!;
    const run = spawnSync(process.execPath, [path.join(exported.path, 'samples', 'predict.mjs'), path.join(dir, 'media', image), '--top', '4'], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    // Only the last line break goes: a label may begin with a space, and may be ranked first.
    const printed = run.stdout.replace(/\n$/, '').split('\n').map((l) => l.split('\t')[0]);
    expect(printed.sort()).toEqual(parseLabels(labelsText(labels)).sort());

    // The TFLite file carries the names exactly, as JSON in its metadata.
    const tflite = readTflite(fs.readFileSync(path.join(exported.path, 'model.tflite')));
    expect(JSON.parse(new TextDecoder().decode(tflite.metadata.find((m) => m.name === 'loupe.labels')!.data))).toEqual(labels);

    // Every Python sample compiles; with a Python that has onnxruntime / a TFLite runtime they print the labels as data.
    for (const py of Object.keys(samples).filter((f) => f.endsWith('.py'))) {
      const compiled = spawnSync('python3', ['-c', 'import ast, sys; ast.parse(open(sys.argv[1], encoding="utf-8").read())', path.join(exported.path, py)], { encoding: 'utf8' });
      if (!compiled.error) expect(compiled.status, `${py}: ${compiled.stderr}`).toBe(0);
    }
    const python = process.env.LOUPE_SAMPLE_PYTHON ?? '/usr/bin/python3';
    for (const [script, module] of [
      ['predict.py', 'onnxruntime'],
      ['predict_tflite.py', 'tensorflow'],
    ]) {
      if (spawnSync(python, ['-c', `import numpy, PIL, ${module}`]).status !== 0) {
        console.warn(`Not run: samples/${script} (${python} has no ${module}; set LOUPE_SAMPLE_PYTHON to a Python with it)`);
        continue;
      }
      const ran = spawnSync(python, [path.join(exported.path, 'samples', script), path.join(dir, 'media', image), '--top', '4'], { encoding: 'utf8', env: { ...process.env, PYTHONIOENCODING: 'utf-8' } });
      expect(ran.status, ran.stderr).toBe(0);
      expect(ran.stdout.replace(/\n$/, '').split('\n').map((l) => l.split('\t')[0]).sort(), script).toEqual(parseLabels(labelsText(labels)).sort());
    }
  });

  it('reach the terminal with control sequences written out', () => {
    expect(terminalText('\u001b[2J\u001b]0;pwned\u0007 ok\n\tnext \u202Eevil \u009b31m')).toBe('\\u{1B}[2J\\u{1B}]0;pwned\\u{7} ok\n\tnext \\u{202E}evil \\u{9B}31m');
    const dir = path.join(tempDir(), 'named.loupe');
    const project = Project.create(dir, HOSTILE_PROJECT);
    project.db.prepare("INSERT INTO classes (name, color, position, created_at) VALUES (?, '#fff', 0, 0)").run(HOSTILE_CLASSES[4]);
    project.close();
    const status = runCli(['status', dir]);
    expect(status.status, status.stderr).toBe(0);
    // eslint-disable-next-line no-control-regex -- asserting there are none
    expect(status.stdout).not.toMatch(/[\u001b\u0007\u009b\u202e]/);
    expect(status.stdout).toContain('\\u{1B}[31m');
  });

  it('are refused by the API when they are not one line of text', async () => {
    const studio = makeStudio();
    const api = createApi(studio.createSession(() => {}));
    await api.createProject({ path: path.join(tempDir(), 'p.loupe') });
    for (const name of ['two\nlines', 'tab\there', '\u001b[31mred', 'nel\u0085', 'ls\u2028x']) {
      await expect(api.createClass({ name }), JSON.stringify(name)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    }
    // Text that merely looks like markup is a fine name, kept exactly.
    const { classId } = await api.createClass({ name: '<b>bold</b> & "quotes"' });
    await expect(api.updateClass({ id: classId, name: 'x\ny' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect((await api.projectSummary()).classes.map((c) => c.name)).toEqual(['<b>bold</b> & "quotes"']);
    onCleanup(() => studio.close());
  });
});
