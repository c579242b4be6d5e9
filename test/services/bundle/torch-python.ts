// The Python the bundle tests run train.py with (Debian's python3-torch; LOUPE_TORCH_PYTHON for
// another), and why they skip where it cannot import torch.

import { execFileSync } from 'node:child_process';

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
