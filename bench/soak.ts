// `npm run bench:soak`: a long day in the studio, in one `loupe serve` process (the build in out/),
// driven through its WebSocket API as the browser drives it: training runs (each followed by an
// evaluation), label edits and exports. Prints the server's memory every few runs: RSS (from
// /proc) and, through the inspector after a forced full GC, V8's heap, external memory and
// ArrayBuffers, so growth can be told apart as JS objects, buffers or native memory (onnxruntime,
// wasm, malloc). Run it with MALLOC_ARENA_MAX=2 in the environment to see how much of the native
// growth is glibc's per-thread arenas.
//
//   npm run bench:soak                         100 runs on a tiny generated project (MLP at 8 px),
//                                              100 label edits per run, an export every 2 runs
//   npm run bench:soak -- --dataset digits     the reproduction: the digits sample, 60
//                                              one-epoch runs of the one-click plan + evaluation
//   Options: --runs N  --every N (sample interval, runs)  --edits N (label edits per run)
//            --export-every N  --train-every N (train only every N-th iteration, to measure edits
//            or exports alone)  --snapshots (heap snapshots at the first and last sample)
//            --smaps (/proc/<pid>/smaps at every sample)  --dir DIR (work folder; default a
//            temp one, removed at the end)

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { inspectServer, inspectorUrl, type MemorySample } from '../test/transport/server-memory';
import { makePatternProject } from '../test/services/training/train-helpers';
import { connectApi } from '../test/transport/ws-api';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'tiny' },
    runs: { type: 'string' },
    every: { type: 'string' },
    edits: { type: 'string' },
    'export-every': { type: 'string' },
    'train-every': { type: 'string' },
    snapshots: { type: 'boolean', default: false },
    smaps: { type: 'boolean', default: false },
    dir: { type: 'string' },
  },
});
const digits = values.dataset === 'digits';
const RUNS = Number(values.runs ?? (digits ? 60 : 100));
const EVERY = Number(values.every ?? (digits ? 5 : 10));
const EDITS_PER_RUN = Number(values.edits ?? (digits ? 0 : 100));
const EXPORT_EVERY = Number(values['export-every'] ?? (digits ? 0 : 2));
const TRAIN_EVERY = Number(values['train-every'] ?? 1);
const work = values.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-soak-'));
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

async function makeProject(): Promise<string> {
  const dir = path.join(work, digits ? 'digits.loupe' : 'tiny.loupe');
  if (fs.existsSync(dir)) return dir;
  if (digits) {
    const cli = spawn(process.execPath, [path.join(repo, 'bin', 'loupe.js'), 'sample', 'digits', dir], { stdio: 'inherit', env: { ...process.env, LOUPE_HOME: path.join(work, 'home') } });
    await new Promise((resolve) => cli.once('exit', resolve));
  } else {
    await makePatternProject(dir, { perClass: 70, classes: 3, size: 16 });
  }
  return dir;
}

async function main() {
  const dir = await makeProject();
  const server = spawn(process.execPath, ['--inspect=127.0.0.1:0', path.join(repo, 'bin', 'loupe.js'), 'serve', '--project', dir], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOUPE_HOME: path.join(work, 'home') },
  });
  let out = '';
  let err = '';
  server.stdout.on('data', (d: Buffer) => (out += d.toString()));
  server.stderr.on('data', (d: Buffer) => (err += d.toString()));
  while (!/\?token=/.test(out) || !inspectorUrl(err)) {
    if (server.exitCode !== null) throw new Error(`the server exited: ${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const debug = await inspectServer(inspectorUrl(err)!, server.pid!);
  const api = await connectApi(/(http:\/\/\S+\?token=[\w-]+)/.exec(out)![1]);
  const finished = new Map<string, { status: string; error: unknown }>();
  api.onEvent((name, payload) => {
    const info = payload as { jobId: string; status: string; error: unknown };
    if (name === 'onJobFinished') finished.set(info.jobId, info);
  });
  const waitJob = async (jobId: string) => {
    while (!finished.has(jobId)) await new Promise((r) => setTimeout(r, 10));
    const info = finished.get(jobId)!;
    finished.delete(jobId);
    if (info.status !== 'completed') throw new Error(`job ${jobId} ${info.status}: ${JSON.stringify(info.error)}`);
  };

  await api.value('openProject', { path: dir });
  const { classes } = await api.value<{ classes: { id: number }[] }>('projectSummary');
  const imageIds = await api.value<number[]>('imageIds', { filter: {} });
  const overrides = digits ? { epochs: 1 } : { arch: 'mlp', width: 8, height: 8, epochs: 1 };
  const exportDir = path.join(work, 'exports');

  const samples: (MemorySample & { runs: number })[] = [];
  const sample = async (runs: number) => {
    const s = { runs, ...(await debug.memory()) };
    samples.push(s);
    console.log(`runs ${String(runs).padStart(4)}  rss ${mb(s.rss).padStart(7)} MB  heap ${mb(s.heapUsed).padStart(6)} MB  external ${mb(s.external).padStart(6)} MB  arrayBuffers ${mb(s.arrayBuffers).padStart(6)} MB`);
    if (values.smaps) fs.writeFileSync(path.join(work, `smaps-${runs}`), fs.readFileSync(`/proc/${server.pid}/smaps`));
  };
  const snapshot = async (tag: string) => {
    if (!values.snapshots) return;
    const file = path.join(work, `server-${tag}.heapsnapshot`);
    await debug.snapshot(file);
    console.log(`heap snapshot: ${file}`);
  };

  console.log(`${digits ? 'digits sample' : 'tiny project'}: ${RUNS} runs, ${EDITS_PER_RUN} label edits per run, an export every ${EXPORT_EVERY || '-'} runs (server pid ${server.pid})`);
  await sample(0);
  await snapshot('start');
  let edits = 0;
  let exports = 0;
  let runId = 0;
  const started = performance.now();
  for (let run = 1; run <= RUNS; run++) {
    if (runId === 0 || run % TRAIN_EVERY === 0) {
      const job = await api.value<{ jobId: string; runId: number }>('startTraining', { overrides });
      await waitJob(job.jobId);
      runId = job.runId;
      await api.value('evaluateRun', { runId });
    }
    for (let i = 0; i < EDITS_PER_RUN; i++, edits++) {
      await api.value('setLabel', { imageIds: [imageIds[edits % imageIds.length]], classId: classes[(edits * 7) % classes.length].id });
    }
    if (EXPORT_EVERY && run % EXPORT_EVERY === 0) {
      const { jobId } = await api.value<{ jobId: string }>('startExport', { runId, format: 'all', dir: exportDir });
      await waitJob(jobId);
      fs.rmSync(exportDir, { recursive: true, force: true });
      exports++;
    }
    if (run % EVERY === 0) await sample(run);
  }
  await snapshot('end');
  const workers = await debug.countObjects("process.getBuiltinModule('node:worker_threads').Worker.prototype");
  const seconds = (performance.now() - started) / 1000;
  const warm = samples.find((s) => s.runs >= Math.min(20, RUNS)) ?? samples[0];
  const last = samples.at(-1)!;
  const perRun = (last.rss - warm.rss) / Math.max(1, last.runs - warm.runs);
  console.log(
    `[figures] soak: ${RUNS} runs, ${edits} label edits, ${exports} exports in ${seconds.toFixed(0)} s; RSS ${mb(samples[0].rss)} MB at start, ` +
      `${mb(warm.rss)} MB after ${warm.runs} runs, ${mb(last.rss)} MB after ${last.runs}; ${(perRun / 1024).toFixed(0)} kB/run after warm-up; ` +
      `heap ${mb(samples[0].heapUsed)} -> ${mb(last.heapUsed)} MB, ArrayBuffers ${mb(samples[0].arrayBuffers)} -> ${mb(last.arrayBuffers)} MB; ${workers} Worker objects alive`,
  );
  api.close();
  debug.close();
  server.kill('SIGINT');
  await new Promise((resolve) => server.once('exit', resolve));
  if (!values.dir) fs.rmSync(work, { recursive: true, force: true });
}

await main();
