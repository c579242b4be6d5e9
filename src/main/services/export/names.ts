// Export names and paths. An export writes <dir>/<name>/ and <dir>/<name>.zip, nothing else: a
// name a person typed must be one plain folder name (no separators, no "..", no control
// characters, nothing Windows reserves) or it is refused; names Loupe derives (from the project
// name) are cleaned instead.

import path from 'node:path';
import { LoupeError } from '../../../shared/errors';

const MAX_NAME = 100;
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[<>:"/\\|?*\u0000-\u001f\u007f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

/** Why `name` cannot be an export folder name, or null when it can. */
export function exportNameProblem(name: string): string | null {
  if (name.length === 0) return 'The export name is empty.';
  if (name.length > MAX_NAME) return `The export name is longer than ${MAX_NAME} characters.`;
  if (name === '.' || name === '..' || name.includes('..')) return `"${printable(name)}" would leave the chosen folder: an export name is one folder name, without "..".`;
  if (FORBIDDEN.test(name)) return `"${printable(name)}" is not a plain folder name: leave out / \\ : * ? " < > | and control characters.`;
  if (name.startsWith('.') || name.startsWith('-')) return `"${printable(name)}" starts with "${name[0]}"; start it with a letter or digit.`;
  if (/[. ]$/.test(name)) return `"${printable(name)}" ends with a dot or a space, which Windows cannot keep.`;
  if (WINDOWS_RESERVED.test(name)) return `"${printable(name)}" is a name Windows reserves for devices.`;
  return null;
}

/** Refuses a name that is not one plain folder name (INVALID_PATH, with why). */
export function requireExportName(name: string): string {
  const problem = exportNameProblem(name);
  if (problem) throw new LoupeError('INVALID_PATH', problem);
  return name;
}

/** A folder name made from anything (a project name): unsafe characters become dashes. */
export function cleanExportName(raw: string): string {
  const cleaned = raw
    .normalize('NFC')
    .replace(new RegExp(FORBIDDEN.source, 'g'), '-')
    .replace(/\.\.+/g, '.')
    .replace(/\s+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[.\-\s]+|[.\-\s]+$/g, '')
    .slice(0, MAX_NAME - 10);
  const name = WINDOWS_RESERVED.test(cleaned) ? `${cleaned}-model` : cleaned;
  return name || 'model';
}

/** `dir/rel`, refusing anything that would land outside `dir`. */
export function inside(dir: string, rel: string): string {
  const full = path.resolve(dir, rel);
  const back = path.relative(dir, full);
  if (back === '' || back.startsWith('..') || path.isAbsolute(back)) throw new LoupeError('INVALID_PATH', `${rel} would be written outside ${dir}.`);
  return full;
}

function printable(name: string): string {
  // eslint-disable-next-line no-control-regex
  return name.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 60);
}
