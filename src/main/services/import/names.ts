// File and folder names are data. A name that could hide what it is (control characters such as
// a newline, bidirectional overrides such as U+202E that reverse how it reads, bytes that are not
// UTF-8) is refused with a reason instead of being imported, and it is shown escaped.

import { isUtf8 } from 'node:buffer';

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const ODD = /[\u0000-\u001f\u007f-\u009f]|[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|\p{Cs}/u;
const ODD_ALL = new RegExp(ODD.source, 'gu');

const hex4 = (c: string) => 'U+' + c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');

/** What is odd about a name, as a phrase ("a control character (U+000A)"), or null. */
export function oddCharacters(name: string): string | null {
  const m = ODD.exec(name);
  if (!m) return null;
  const c = m[0];
  const code = c.codePointAt(0)!;
  if (code <= 0x9f) return `a control character (${hex4(c)})`;
  if (code >= 0xd800 && code <= 0xdfff) return 'text that is not valid Unicode';
  return `a bidirectional text control (${hex4(c)}) that can disguise a name`;
}

export type NameKind = 'file' | 'folder';

export function oddNameReason(kind: NameKind, what: string): string {
  return `The ${kind} name contains ${what}; rename the ${kind} to import it.`;
}

/** A name as people may safely see it: odd characters written as \u{XXXX}. */
export function escapeName(name: string): string {
  return name.replace(ODD_ALL, (c) => `\\u{${c.codePointAt(0)!.toString(16).toUpperCase()}}`);
}

/** A file-system name read as bytes: its text if it is UTF-8, else an escaped form for display. */
export function decodeName(bytes: Buffer): { name: string; valid: boolean } {
  if (isUtf8(bytes)) return { name: bytes.toString('utf8'), valid: true };
  return { name: escapeInvalidUtf8(bytes), valid: false };
}

/** Decodes what is valid UTF-8 and writes each stray byte as \xNN. */
function escapeInvalidUtf8(bytes: Buffer): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    const len = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    const seq = len > 0 ? bytes.subarray(i, i + len) : null;
    if (seq && seq.length === len && isUtf8(seq)) {
      out += escapeName(seq.toString('utf8'));
      i += len;
    } else {
      out += `\\x${b.toString(16).toUpperCase().padStart(2, '0')}`;
      i += 1;
    }
  }
  return out;
}
