// Typed arrays through JSON: the browser's WebSocket carries text, so the map's 100,000-point
// arrays travel as base64 of their little-endian bytes (a third larger than binary, a fifth of
// the same numbers written as JSON), decoded here without a package on either side.

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const LOOKUP = new Uint8Array(128);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

/** The bytes of a base64 string (standard alphabet, with or without padding). */
export function fromBase64(text: string): Uint8Array {
  let end = text.length;
  while (end > 0 && text[end - 1] === '=') end--;
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  let o = 0;
  let i = 0;
  for (; i + 4 <= end; i += 4) {
    const n = (LOOKUP[text.charCodeAt(i)] << 18) | (LOOKUP[text.charCodeAt(i + 1)] << 12) | (LOOKUP[text.charCodeAt(i + 2)] << 6) | LOOKUP[text.charCodeAt(i + 3)];
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 255;
    out[o++] = n & 255;
  }
  const rest = end - i;
  if (rest >= 2) {
    const n = (LOOKUP[text.charCodeAt(i)] << 18) | (LOOKUP[text.charCodeAt(i + 1)] << 12) | (rest === 3 ? LOOKUP[text.charCodeAt(i + 2)] << 6 : 0);
    out[o++] = n >> 16;
    if (rest === 3) out[o] = (n >> 8) & 255;
  }
  return out;
}

/** Base64 of bytes (standard alphabet, padded). */
export function toBase64(bytes: Uint8Array): string {
  const parts: string[] = [];
  let line = '';
  let i = 0;
  for (; i + 3 <= bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    line += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + ALPHABET[n & 63];
    if (line.length >= 65536) {
      parts.push(line);
      line = '';
    }
  }
  const rest = bytes.length - i;
  if (rest > 0) {
    const n = (bytes[i] << 16) | (rest === 2 ? bytes[i + 1] << 8 : 0);
    line += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + (rest === 2 ? ALPHABET[(n >> 6) & 63] : '=') + '=';
  }
  parts.push(line);
  return parts.join('');
}

/** Views of decoded bytes as the typed array they were packed from (copied: base64 bytes may not be aligned). */
export const unpackInt32 = (text: string): Int32Array => new Int32Array(fromBase64(text).slice().buffer);
export const unpackFloat32 = (text: string): Float32Array => new Float32Array(fromBase64(text).slice().buffer);
export const unpackUint8 = (text: string): Uint8Array => fromBase64(text);

/** Base64 of a typed array's bytes. */
export function pack(array: Int32Array | Float32Array | Uint8Array): string {
  return toBase64(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
}
