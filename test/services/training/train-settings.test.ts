// The Advanced training settings are kept with the project: a reload, another window or the
// next opening shows them again. What a project folder holds is untrusted, so only valid fields
// are read back, and a backbone path is never kept.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createApi } from '../../../src/main/api/create-api';
import { parseParams } from '../../../src/shared/api';
import { SchemaError } from '../../../src/shared/schema';
import { Project } from '../../../src/main/store/project';
import { makeFixtureProject } from '../../fixtures';
import { makeStudio, tempDir } from '../../helpers';

async function fixture(): Promise<string> {
  const dir = path.join(tempDir(), 'settings.loupe');
  await makeFixtureProject(dir, { count: 12, classes: ['cat', 'dog'], label: (i) => ['cat', 'dog'][i % 2] });
  return dir;
}

const window = (studio = makeStudio()) => createApi(studio.createSession(() => {}));
const stored = (dir: string) => {
  const project = Project.open(dir);
  try {
    return project.db.prepare("SELECT value FROM meta WHERE key = 'train_settings'").pluck().get() as string | undefined;
  } finally {
    project.close();
  }
};

describe('Advanced settings kept with the project', () => {
  it('are shown again in another window and when the project opens again; Reset forgets them', async () => {
    const dir = await fixture();
    const studio = makeStudio();
    const a = window(studio);
    const b = window(studio);
    await a.openProject({ path: dir });
    await b.openProject({ path: dir });
    expect(await a.trainSettings()).toEqual({});

    const settings = { arch: 'mlp' as const, width: 16, epochs: 7, patience: null, augmentation: { flip: false }, schedule: { kind: 'step' as const, stepSize: 3 }, backbone: null };
    expect(await a.saveTrainSettings({ overrides: settings })).toEqual(settings);
    expect(await b.trainSettings()).toEqual(settings);
    // The plan follows them only when asked to: the settings are what the Train view sends.
    expect((await b.trainPlan({ overrides: await b.trainSettings() })).config).toMatchObject({ arch: 'mlp', width: 16, epochs: 7, patience: null });
    await a.closeProject();
    await b.closeProject();
    await studio.close();

    const laterStudio = makeStudio();
    const later = window(laterStudio);
    await later.openProject({ path: dir });
    expect(await later.trainSettings()).toEqual(settings);
    expect(await later.saveTrainSettings({ overrides: {} })).toEqual({});
    expect(await later.trainSettings()).toEqual({});
    await later.closeProject();
    await laterStudio.close();
    expect(stored(dir)).toBeUndefined();
  });

  it('never keeps a backbone given as a path, and refuses what the API refuses', async () => {
    const dir = await fixture();
    const api = window();
    await api.openProject({ path: dir });
    expect(await api.saveTrainSettings({ overrides: { backbone: '/home/someone/models/net', epochs: 3 } })).toEqual({ epochs: 3 });
    expect(await api.saveTrainSettings({ overrides: { backbone: 'mobilenet-v1-0.25-128', epochs: 3 } })).toEqual({ backbone: 'mobilenet-v1-0.25-128', epochs: 3 });
    // Every transport checks parameters against the contract: unknown fields and bad values are refused.
    expect(() => parseParams('saveTrainSettings', { overrides: { epochs: 3, command: 'rm -rf' } })).toThrow(SchemaError);
    expect(() => parseParams('saveTrainSettings', { overrides: { epochs: 0 } })).toThrow(SchemaError);
    expect(await api.trainSettings()).toEqual({ backbone: 'mobilenet-v1-0.25-128', epochs: 3 });
    await api.closeProject();
  });

  it('reads back only the valid fields of what a crafted project holds', async () => {
    const dir = await fixture();
    const put = (value: string) => {
      const project = Project.open(dir);
      try {
        project.db.prepare("INSERT INTO meta (key, value) VALUES ('train_settings', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(value);
      } finally {
        project.close();
      }
    };
    const read = async () => {
      const studio = makeStudio();
      const api = window(studio);
      await api.openProject({ path: dir });
      try {
        return await api.trainSettings();
      } finally {
        await api.closeProject();
        await studio.close();
      }
    };
    put(JSON.stringify({ epochs: 5, seed: 3, width: 100_000, backbone: '../../../etc/model', evil: '<script>', augmentation: { flip: 'yes' } }));
    expect(await read()).toEqual({ epochs: 5, seed: 3 });
    put('{ not json');
    expect(await read()).toEqual({});
    put('[1, 2, 3]');
    expect(await read()).toEqual({});
  });
});
