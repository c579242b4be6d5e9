// The layout maths the exporter and the training compiler share: TensorFlow's windows (with
// dilation) as ONNX pads, and the NHWC/NCHW and kernel permutations.

import { describe, expect, it } from 'vitest';
import { HWCM_TO_CMHW, HWIO_TO_OIHW, NCHW_TO_NHWC, NHWC_TO_NCHW, permute, window, window2d } from '../../../src/main/services/onnx/layout';

describe('layout maths', () => {
  it('pads a dilated window by its span: a 3-tap kernel at dilation 2 covers 5 pixels', () => {
    // TF: out = ceil(in / stride); total padding = (out - 1) * stride + span - in.
    expect(window(10, 3, 1, 2, 'same')).toEqual({ out: 10, begin: 2, end: 2 });
    expect(window(10, 3, 2, 2, 'same')).toEqual({ out: 5, begin: 1, end: 2 });
    expect(window(10, 3, 1, 2, 'valid')).toEqual({ out: 6, begin: 0, end: 0 });
    expect(window(4, 2, 1, 3, 'same')).toEqual({ out: 4, begin: 1, end: 2 });
  });

  it('gives ONNX pads in [top, left, bottom, right] order with each axis its own sizes', () => {
    expect(window2d([19, 23], [3, 5], [2, 1], [1, 1], 'same')).toEqual({ height: 10, width: 23, pads: [1, 2, 1, 2] });
    expect(window2d([19, 23], [3, 5], [2, 1], [1, 1], 'valid')).toEqual({ height: 9, width: 19, pads: [0, 0, 0, 0] });
    // A window larger than the input leaves no output ('valid'); 'same' still gives ceil(in / stride).
    expect(window2d([2, 2], [3, 3], [1, 1], [1, 1], 'valid').height).toBe(0);
  });

  it('moves NHWC to NCHW and back, and Keras kernels to ONNX order', () => {
    const shape = [1, 2, 3, 4]; // N, H, W, C
    const data = Float32Array.from({ length: 24 }, (_, i) => i);
    const nchw = permute(data, shape, NHWC_TO_NCHW);
    // Element (n=0, c=1, h=1, w=2) of NCHW is element (0, 1, 2, 1) of NHWC: ((1 * 3) + 2) * 4 + 1.
    expect(nchw[((1 * 2 + 1) * 3 + 2)]).toBe(21);
    expect(Array.from(permute(nchw, NHWC_TO_NCHW.map((a) => shape[a]), NCHW_TO_NHWC))).toEqual(Array.from(data));
    // [kh, kw, in, out] -> [out, in, kh, kw]; [kh, kw, channels, multiplier] -> [channels, multiplier, kh, kw].
    expect(HWIO_TO_OIHW.map((a) => ['kh', 'kw', 'in', 'out'][a])).toEqual(['out', 'in', 'kh', 'kw']);
    expect(HWCM_TO_CMHW.map((a) => ['kh', 'kw', 'c', 'm'][a])).toEqual(['c', 'm', 'kh', 'kw']);
  });
});
