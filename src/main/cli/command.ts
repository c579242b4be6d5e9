import { parseArgs, type ParseArgsConfig } from 'node:util';
import { LoupeError } from '../../shared/errors';
import { SchemaError, type NumberLimits, type Schema } from '../../shared/schema';

export type Options = NonNullable<ParseArgsConfig['options']>;
export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface Command {
  name: string;
  usage: string;
  summary: string;
  options: Options;
  /** Lines `loupe <command> --help` adds after the summary (the options and their ranges). */
  help?: string[];
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

/**
 * An option read with the API's own schema entry, so the CLI accepts exactly what the API does:
 * a number option's text becomes a number, and a value the API would refuse is refused in the
 * API's words ("--epochs: expected a number from 1 to 1000"), as a usage error (exit code 2).
 */
export function schemaOption<T>(value: OptionValues[string], flag: string, schema: Schema<T> & { limits?: NumberLimits }): T | undefined {
  if (value === undefined) return undefined;
  try {
    return schema.parse(schema.limits && typeof value === 'string' ? Number(value) : value, `--${flag}`);
  } catch (err) {
    if (err instanceof SchemaError) throw new UsageError(`Invalid parameters: ${err.message}.`);
    throw err;
  }
}

/** "1 to 1000", "1 or more": a number schema's range for help text. */
export function rangeText({ min, max }: NumberLimits): string {
  if (max === Infinity) return min === -Infinity ? 'any number' : `${min} or more`;
  return `${min} to ${max}`;
}

/** One help line of a number option: `  --epochs N      epochs to train (1 to 1000)`. */
export function optionHelp(option: string, about: string, limits?: NumberLimits): string {
  return `  ${option.padEnd(18)} ${about}${limits ? ` (${rangeText(limits)})` : ''}`;
}

export { LoupeError };
