// onnxruntime's profiler trace (a JSON list of every kernel's time) summed per operator and per
// node, for the profile benches (bench:profile, bench:finetune --profile).

import fs from 'node:fs';
import path from 'node:path';

interface TraceEvent {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string; input_type_shape?: Record<string, number[]>[] };
}

const fmt = (n: number, digits = 1) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/**
 * Prints where the last `profiled` runs of the session whose trace onnxruntime wrote under `dir`
 * spent their time: per operator (ms per run, share, nodes per run) and the `top` nodes. Removes `dir`.
 */
export function printProfile(dir: string, profiled: number, top: number, label: string): void {
  const file = fs.readdirSync(dir).find((f) => f.endsWith('.json'));
  if (!file) throw new Error(`onnxruntime wrote no profile under ${dir}`);
  const events = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as TraceEvent[];
  fs.rmSync(dir, { recursive: true, force: true });
  // The last `profiled` runs (the first two warm up the arena and the kernels' caches).
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').slice(-profiled);
  const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  const perRun = kernels.length / (events.filter((e) => e.cat === 'Session' && e.name === 'model_run').length || 1);
  const counted = kernels.slice(-Math.round(perRun * profiled));
  const byOp = new Map<string, { us: number; nodes: number }>();
  const byNode = new Map<string, { op: string; us: number; shape: string }>();
  for (const e of counted) {
    const op = e.args?.op_name ?? '?';
    const o = byOp.get(op) ?? { us: 0, nodes: 0 };
    o.us += e.dur;
    o.nodes++;
    byOp.set(op, o);
    const node = e.name.replace(/_kernel_time$/, '');
    const shape = (e.args?.input_type_shape ?? []).map((s) => `[${Object.values(s)[0]?.join(',') ?? ''}]`).join(' ');
    const n = byNode.get(node) ?? { op, us: 0, shape };
    n.us += e.dur;
    byNode.set(node, n);
  }
  const total = [...byOp.values()].reduce((a, o) => a + o.us, 0);
  const runMs = runs.reduce((a, e) => a + e.dur, 0) / 1000 / profiled;
  console.log(`  ${label} profile (${profiled} steps): kernels ${fmt(total / 1000 / profiled)} ms/step, run ${fmt(runMs)} ms/step, ${Math.round(perRun)} kernels per step`);
  console.log('  op                      ms/step   share   nodes/step');
  for (const [op, o] of [...byOp].sort((a, b) => b[1].us - a[1].us).slice(0, top)) {
    console.log(`  ${op.padEnd(22)} ${fmt(o.us / 1000 / profiled, 2).padStart(8)} ${fmt((100 * o.us) / total).padStart(6)}%  ${fmt(o.nodes / profiled, 0).padStart(6)}`);
  }
  console.log('  top nodes               ms/step   share   input shapes');
  for (const [, n] of [...byNode].sort((a, b) => b[1].us - a[1].us).slice(0, top)) {
    console.log(`  ${n.op.padEnd(22)} ${fmt(n.us / 1000 / profiled, 2).padStart(8)} ${fmt((100 * n.us) / total).padStart(6)}%  ${n.shape}`);
  }
}
