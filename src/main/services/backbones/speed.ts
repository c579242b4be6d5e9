// Feature-extraction speeds measured on this machine, per backbone copy (by fingerprint) and
// resolution, kept in the app data folder (backbones/speeds.json) so the Backbones panel, the CLI
// and the plan show and use what this machine does, not a figure from somewhere else.
// measureSpeeds makes those figures.

import fs from 'node:fs';
import path from 'node:path';
import type { BackboneSpeed, BackboneSpeedResult } from '../../../shared/types';
import { throwIfCancelled } from '../../jobs/jobs';
import { seededRandom } from '../rng';
import { backboneOnnx, BATCH, FeatureExtractor } from './extract';
import { resolveBackbone, type ResolvedBackbone } from './locate';
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

export interface MeasureOptions {
  signal?: AbortSignal;
  /** Resolutions measured so far, of all asked for. */
  onProgress?: (done: number, total: number, phase: string) => void;
  /** Seconds timed per resolution, at least (after a warm-up call); default 3. */
  seconds?: number;
}

/**
 * Images per second through the backbone's features graph at each resolution, as extraction
 * runs it (a call of BATCH images; a model that takes one image at a time gets them one by
 * one), after a warm-up call, on seeded random pixels (no decoding: that is the project's). Each
 * figure is recorded for the backbone's fingerprint. A resolution the model cannot run at is
 * refused with the model's reason.
 */
export async function measureSpeeds(backbone: ResolvedBackbone, resolutions: number[], options: MeasureOptions = {}): Promise<BackboneSpeed[]> {
  const seconds = options.seconds ?? 3;
  const out: BackboneSpeed[] = [];
  for (const [i, resolution] of resolutions.entries()) {
    if (options.signal) throwIfCancelled(options.signal);
    options.onProgress?.(i, resolutions.length, `Measuring ${backbone.title} at ${resolution}x${resolution}`);
    const extractor = await FeatureExtractor.create(backbone, resolution);
    try {
      const random = seededRandom(resolution);
      const input = Float32Array.from({ length: BATCH * resolution * resolution * 3 }, () => Math.floor(random() * 256));
      await extractor.run(input, BATCH);
      let images = 0;
      const started = performance.now();
      do {
        if (options.signal) throwIfCancelled(options.signal);
        await extractor.run(input, BATCH);
        images += BATCH;
      } while (performance.now() - started < seconds * 1000);
      const speed: BackboneSpeed = {
        resolution,
        imagesPerSecond: images / ((performance.now() - started) / 1000),
        batch: (await backboneOnnx(backbone, resolution)).singly ? 1 : BATCH,
        measuredAt: Date.now(),
      };
      recordSpeed(backbone.fingerprint, speed);
      out.push(speed);
    } finally {
      await extractor.release();
    }
  }
  options.onProgress?.(resolutions.length, resolutions.length, `Measured ${backbone.title}`);
  return out;
}

/** Measures a backbone (registry id, added name or path) at one resolution, or at each it offers. */
export async function measureBackbone(name: string, resolution: number | undefined, options: MeasureOptions = {}): Promise<BackboneSpeedResult> {
  const backbone = resolveBackbone(name);
  const speeds = await measureSpeeds(backbone, resolution ? [resolution] : backbone.resolutions, options);
  return { backbone: backbone.name, speeds };
}
