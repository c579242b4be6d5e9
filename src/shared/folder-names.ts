// A new folder's name, as typed in a folder picker: one plain name that every common file
// system takes, so "New folder" can never create something outside the folder being listed,
// a hidden folder, or a name another OS cannot copy. Shared: the picker disables Create with
// the same sentence the core refuses with.

const FORBIDDEN = /[\\/:*?"<>|]/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what we refuse
const CONTROL = /[\u0000-\u001f\u007f]/;
const RESERVED = /^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$/i;

/** Why `name` cannot be a new folder's name, or null when it can. */
export function folderNameProblem(name: string): string | null {
  if (name.trim() === '') return 'Give the folder a name.';
  if (name !== name.trim()) return 'A folder name cannot start or end with a space.';
  if (name.startsWith('.')) return 'A folder name cannot start with a dot.';
  if (name.endsWith('.')) return 'A folder name cannot end with a dot.';
  if (CONTROL.test(name)) return 'A folder name cannot hold control characters.';
  if (FORBIDDEN.test(name)) return 'A folder name cannot hold any of \\ / : * ? " < > |.';
  if (RESERVED.test(name)) return `${name} is a name Windows reserves.`;
  if (new TextEncoder().encode(name).length > 255) return 'That folder name is too long.';
  return null;
}
