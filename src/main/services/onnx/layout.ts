// Layout maths, once for the exporter (layers.ts, context.ts) and the training compiler
// (training-graph.ts): TensorFlow's "same" and "valid" windows (kernel, stride, dilation) as
// ONNX pads, and the permutations between Keras' layouts (NHWC images, HWIO kernels) and ONNX's
// (NCHW, OIHW). A permutation `perm` is what ONNX Transpose takes: output axis i is input axis perm[i].

export type Padding = 'valid' | 'same';

export const NHWC_TO_NCHW = [0, 3, 1, 2];
/** Also the NCHW axis of each Keras (NHWC) axis. */
export const NCHW_TO_NHWC = [0, 2, 3, 1];
/** A Keras conv kernel [kh, kw, in, out] as an ONNX Conv weight [out, in, kh, kw]. */
export const HWIO_TO_OIHW = [3, 2, 0, 1];
/** A Keras depthwise kernel [kh, kw, channels, multiplier] as [channels, multiplier, kh, kw]. */
export const HWCM_TO_CMHW = [2, 3, 0, 1];

/**
 * Output size and padding of a sliding window along one axis, as TensorFlow computes them:
 * `same` pads (total) so the output is ceil(in / stride), the smaller half before; a dilated
 * kernel spans (kernel - 1) * dilation + 1 pixels.
 */
export function window(size: number, kernel: number, stride: number, dilation: number, pad: Padding): { out: number; begin: number; end: number } {
  const span = (kernel - 1) * dilation + 1;
  if (pad === 'valid') return { out: Math.floor((size - span) / stride) + 1, begin: 0, end: 0 };
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + span - size, 0);
  return { out, begin: Math.floor(total / 2), end: total - Math.floor(total / 2) };
}

/** A 2-D window over [H, W]: the output size and ONNX pads [top, left, bottom, right]. */
export function window2d(
  size: [number, number],
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number],
  pad: Padding,
): { height: number; width: number; pads: number[] } {
  const h = window(size[0], kernel[0], strides[0], dilations[0], pad);
  const w = window(size[1], kernel[1], strides[1], dilations[1], pad);
  return { height: h.out, width: w.out, pads: [h.begin, w.begin, h.end, w.end] };
}

/** Reorders a dense row-major array: `perm[i]` is the source axis of output axis i. */
export function permute(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]);
  const strides = new Array<number>(rank);
  strides[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  const srcStride = perm.map((p) => strides[p]);
  const out = new Float32Array(data.length);
  const index = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let i = 0; i < rank; i++) src += index[i] * srcStride[i];
    out[o] = data[src];
    for (let i = rank - 1; i >= 0; i--) {
      if (++index[i] < outShape[i]) break;
      index[i] = 0;
    }
  }
  return out;
}
