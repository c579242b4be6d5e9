// Typed arrays through JSON: base64 both ways agrees with Node's own, at every length's padding.

import { describe, expect, it } from 'vitest';
import { fromBase64, pack, toBase64, unpackFloat32, unpackInt32 } from '../../src/shared/packed';

describe('packed arrays', () => {
  it('encodes and decodes base64 as Node does, for every padding', () => {
    for (let n = 0; n < 10; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 97 + 13) & 255);
      expect(toBase64(bytes)).toBe(Buffer.from(bytes).toString('base64'));
      expect([...fromBase64(Buffer.from(bytes).toString('base64'))]).toEqual([...bytes]);
    }
  });

  it('round-trips typed arrays larger than one encoding chunk', () => {
    const floats = Float32Array.from({ length: 70_000 }, (_, i) => Math.sin(i) * 1e3);
    const ints = Int32Array.from({ length: 70_000 }, (_, i) => i * 7919 - 1);
    expect(unpackFloat32(pack(floats))).toEqual(floats);
    expect(unpackInt32(pack(ints))).toEqual(ints);
    expect(pack(ints)).toBe(Buffer.from(ints.buffer).toString('base64'));
  });
});
