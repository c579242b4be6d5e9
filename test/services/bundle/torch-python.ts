// The Python the bundle tests run train.py with (Debian's python3-torch; LOUPE_TORCH_PYTHON for
// another), and why they skip where it cannot import torch.

import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import net from 'node:net';

export const PYTHON = process.env.LOUPE_TORCH_PYTHON ?? '/usr/bin/python3';

/** Null where PYTHON imports torch; else why not, and how to get it. */
export function torchMissing(): string | null {
  try {
    execFileSync(PYTHON, ['-c', 'import torch'], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `${PYTHON} cannot import torch (${(err as Error).message.split('\n')[0]}); on Debian: apt install python3-torch`;
  }
}

/** A TCP port free on this machine now (the kernel's pick). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, 'localhost', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * torchrun's arguments for one machine with `processes` processes, on a rendezvous port of its
 * own. `--standalone` always binds port 29400, so two test files running torchrun at once (the
 * unit tests run files in parallel) failed with "Address already in use".
 */
export async function torchrunArgs(processes: number): Promise<string[]> {
  // --redirects/--tee: torch 1.13's torchrun fails on Python 3.11 without them (its Std.from_str("0") is None there).
  return [
    '-m',
    'torch.distributed.run',
    '--nnodes=1',
    '--rdzv_backend=c10d',
    `--rdzv_endpoint=localhost:${await freePort()}`,
    `--rdzv_id=${randomUUID()}`,
    `--nproc_per_node=${processes}`,
    '--redirects',
    '1',
    '--tee',
    '1',
  ];
}
