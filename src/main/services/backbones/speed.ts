// Feature-extraction speeds measured on this machine, per backbone copy (by fingerprint) and
// resolution, kept in the app data folder (backbones/speeds.json) so the Backbones panel, the CLI
// and the plan show and use what this machine does, not a figure from somewhere else.

import fs from 'node:fs';
import path from 'node:path';
import type { BackboneSpeed } from '../../../shared/types';
import { backbonesHome } from './registry';

type SpeedFile = Record<string, BackboneSpeed[]>;

function speedsFile(): string {
  return path.join(backbonesHome(), 'speeds.json');
}

function readAll(): SpeedFile {
  try {
    const json = JSON.parse(fs.readFileSync(speedsFile(), 'utf8')) as unknown;
    return typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as SpeedFile) : {};
  } catch {
    return {};
  }
}

/** The speeds measured for a backbone copy (its fingerprint), one per resolution, smallest first. */
export function readSpeeds(fingerprint: string): BackboneSpeed[] {
  const list = readAll()[fingerprint];
  return Array.isArray(list) ? [...list].sort((a, b) => a.resolution - b.resolution) : [];
}

/** Records a measured speed (replacing the one at the same resolution). */
export function recordSpeed(fingerprint: string, speed: BackboneSpeed): void {
  const all = readAll();
  all[fingerprint] = [...(all[fingerprint] ?? []).filter((s) => s.resolution !== speed.resolution), speed];
  fs.mkdirSync(backbonesHome(), { recursive: true });
  const tmp = `${speedsFile()}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(all, null, 2));
  fs.renameSync(tmp, speedsFile());
}
