import { parseArgs, type ParseArgsConfig } from 'node:util';
import { LoupeError } from '../../shared/errors';

export type Options = NonNullable<ParseArgsConfig['options']>;
export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface Command {
  name: string;
  usage: string;
  summary: string;
  options: Options;
  /** Returns the exit code. */
  run(positionals: string[], values: OptionValues, io: CliIO): Promise<number>;
}

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /** One JSON object on stdout: what `--json` promises scripts. */
  json(value: unknown): void;
  /** Resolves when the user interrupts (Ctrl-C) or the process is asked to stop. */
  interrupted: Promise<void>;
}

export class UsageError extends Error {}

export function parseCommandArgs(command: Command, argv: string[]) {
  try {
    return parseArgs({ args: argv, options: command.options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\nUsage: ${command.usage}`);
  }
}

export function requirePositional(positionals: string[], index: number, what: string, usage: string): string {
  const value = positionals[index];
  if (value === undefined || value === '') throw new UsageError(`Missing ${what}.\nUsage: ${usage}`);
  return value;
}

export function intOption(value: OptionValues[string], name: string, min = 0, max = 65535): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}.`);
  }
  return n;
}

export { LoupeError };
