// The CLI's numeric options are the API's schema entries: the same values pass, the same values
// fail, with the API's words, and the help shows the API's ranges.

import { describe, expect, it } from 'vitest';
import { trainOverrides } from '../../src/shared/api';
import { SchemaError } from '../../src/shared/schema';
import { main } from '../../src/main/cli/index';
import { schemaOption, UsageError } from '../../src/main/cli/command';
import { tempDir } from '../helpers';

function apiError(params: unknown): string {
  try {
    trainOverrides.parse(params);
  } catch (err) {
    if (err instanceof SchemaError) return err.expected;
    throw err;
  }
  return 'accepted';
}

function cliError(value: string, flag: string, schema: Parameters<typeof schemaOption>[2]): string {
  try {
    schemaOption(value, flag, schema);
  } catch (err) {
    if (err instanceof UsageError) return err.message;
    throw err;
  }
  return 'accepted';
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t), json: () => {}, interrupted: new Promise<void>(() => {}) } };
}

describe('CLI options from the API schema', () => {
  it('accepts and refuses exactly what the API does, in its words', () => {
    const e = trainOverrides.shape;
    for (const [field, flag, schema, values] of [
      ['epochs', 'epochs', e.epochs, ['0', '1', '1000', '1001', '2.5', 'ten']],
      ['batchSize', 'batch-size', e.batchSize, ['0', '4096', '4097']],
      ['learningRate', 'lr', e.learningRate, ['0', '1e-7', '10', '10.5']],
      ['seed', 'seed', e.seed, ['-1', '0', String(2 ** 31 - 1), String(2 ** 31)]],
      ['workers', 'workers', e.workers, ['0', '16', '17']],
      ['width', 'size', e.width, ['7', '8', '512', '513']],
    ] as const) {
      for (const value of values) {
        const api = apiError({ [field]: Number(value) });
        const cli = cliError(value, flag, schema);
        if (api === 'accepted') expect(cli, `--${flag} ${value}`).toBe('accepted');
        else expect(cli, `--${flag} ${value}`).toBe(`Invalid parameters: --${flag}: expected ${api}.`);
      }
    }
  });

  it('refuses an out-of-range value with exit code 2 before opening the project, and lists the ranges in --help', async () => {
    const bad = capture();
    expect(await main(['train', tempDir(), '--epochs', '1001'], bad.io)).toBe(2);
    expect(bad.err.join('\n')).toBe('Invalid parameters: --epochs: expected a number from 1 to 1000.');
    const help = capture();
    expect(await main(['train', '--help'], help.io)).toBe(0);
    expect(help.out.join('\n')).toMatch(/--batch-size N +images per step \(1 to 4096\)/);
  });

  it('reads choice options (eval --split, export --format, train --fine-tune) with the API schema too', async () => {
    for (const [argv, said] of [
      [['eval', tempDir(), '--split', 'train'], 'Invalid parameters: --split: expected one of "val", "test".'],
      [['export', tempDir(), '--format', 'pt', '--out', tempDir()], 'Invalid parameters: --format: expected one of'],
      [['train', tempDir(), '--fine-tune', 'some'], 'Invalid parameters: --fine-tune: expected one of "head", "blocks", "all".'],
    ] as const) {
      const bad = capture();
      expect(await main([...argv], bad.io), argv.join(' ')).toBe(2);
      expect(bad.err.join('\n')).toContain(said);
    }
  });
});
