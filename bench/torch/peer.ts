// Runs bench/torch/peer.py (PyTorch's side of `npm run bench:train -- --peer torch`) with
// Debian's /usr/bin/python3, whose python3-torch the peer needs (the python3 on PATH may be
// another one without torch). Shared by the bench and the test of its parameter counts.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** LOUPE_TORCH_PYTHON picks another interpreter (one without torch shows the skip). */
export const PYTHON = process.env.LOUPE_TORCH_PYTHON ?? '/usr/bin/python3';
const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'peer.py');

let missing: string | null | undefined;

/** Why the PyTorch peer cannot run here, or null when `import torch` works. */
export function torchMissing(): string | null {
  if (missing === undefined) {
    try {
      execFileSync(PYTHON, ['-c', 'import torch, numpy'], { stdio: ['ignore', 'ignore', 'pipe'] });
      missing = null;
    } catch (err) {
      const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim().split('\n').pop();
      missing = `${PYTHON} cannot import torch (${stderr || (err as Error).message}); on Debian: apt install python3-torch`;
    }
  }
  return missing;
}

/**
 * How PyTorch's OpenMP threads wait at a barrier: passive (sleep) unless the environment says
 * otherwise. With libgomp's default spinning, 2 threads on a 2-core machine that other jobs also
 * use ran the MLP at 1,400-1,700 images/s against 6,000-6,600 passive (and 7,300 with 1 thread),
 * a peer so weakened by load that beating it would mean nothing.
 */
export const OMP_WAIT_POLICY = process.env.OMP_WAIT_POLICY ?? 'passive';

/** Runs peer.py with these arguments and returns the JSON objects it printed, one per line. */
export function runPeer<T>(args: (string | number)[], timeoutMs = 30 * 60_000): T[] {
  const out = execFileSync(PYTHON, [SCRIPT, ...args.map(String)], {
    encoding: 'utf8',
    timeout: timeoutMs,
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 24,
    env: { ...process.env, OMP_WAIT_POLICY },
  });
  return out
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as T);
}
