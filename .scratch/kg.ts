import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../src/main/services/onnx/graph-builder';
import { NCHWC_DOMAIN, nchwcBlock } from '../src/main/services/onnx/nchwc';

const [B, CI, CO, H, W] = (process.argv[2] ?? '64,16,16,32,32').split(',').map(Number);
const blk = await nchwcBlock();
console.log('block', blk, 'B,cin,cout,H,W', B, CI, CO, H, W);
const opts = { graphOptimizationLevel: 'basic', intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: 'sequential', extra: { session: { 'intra_op.allow_spinning': '0' } } } as never;
async function time(name: string, build: (g: GraphBuilder) => void, feeds: Record<string, ort.Tensor>) {
  const g = new GraphBuilder({ names: 'counter', dedupeConstants: false });
  build(g);
  const s = await ort.InferenceSession.create(g.encode({ opset: 17 }), opts);
  let out: ort.InferenceSession.ReturnType | null = null;
  for (let i = 0; i < 2; i++) out = await s.run(feeds);
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    for (let i = 0; i < 10; i++) out = await s.run(feeds);
    best = Math.min(best, (performance.now() - t) / 10);
  }
  console.log(name.padEnd(40), best.toFixed(2), 'ms');
  return out!;
}
const rnd = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
const x = new ort.Tensor('float32', rnd(B * CI * H * W), [B, CI, H, W]);
const dz = new ort.Tensor('float32', rnd(B * CO * H * W), [B, CO, H, W]);
// current per-image: 9 taps, FusedMatMul per image, sum over batch
const a = await time('per-image taps + FusedMatMul', (g) => {
  const xi = g.input('x', ['B', CI, H, W]); const di = g.input('dz', ['B', CO, H, W]);
  const xp = g.node('Pad', [xi, g.ints([0, 0, 1, 1, 0, 0, 1, 1])]);
  const dzr = g.node('Reshape', [di, g.ints([-1, CO, H * W])]);
  const parts: string[] = [];
  for (let u = 0; u < 3; u++) for (let v = 0; v < 3; v++) {
    const tap = g.node('Slice', [xp, g.ints([u, v]), g.ints([u + H, v + W]), g.ints([2, 3])]);
    const prod = g.nodeIn('com.microsoft', 'FusedMatMul', [g.node('Reshape', [tap, g.ints([-1, CI, H * W])]), dzr], { transB: 1 });
    parts.push(g.node('ReduceSum', [prod, g.ints([0])], { keepdims: 1 }));
  }
  g.output('dw', g.node('Reshape', [g.node('Concat', parts, { axis: 0 }), g.ints([3, 3, CI, CO])]), [3, 3, CI, CO]);
}, { x, dz });
const S = W + 2;
const b2 = await time('wide NCHWc (NCHW input, 1 channel)', (g) => {
  const xi = g.input('x', ['B', CI, H, W]); const di = g.input('dz', ['B', CO, H, W]);
  const xp = g.node('Pad', [xi, g.ints([0, 0, 1, 1, 0, 0, 1, 1])]);
  const xw = g.node('Reshape', [g.node('Transpose', [xp], { perm: [1, 2, 0, 3] }), g.ints([CI, 1, H + 2, -1])]);
  const dp = g.node('Pad', [di, g.ints([0, 0, 0, 0, 0, 0, 0, 2])]);
  const dr = g.node('Reshape', [g.nodeIn(NCHWC_DOMAIN, 'ReorderInput', [dp]), g.ints([-1, CO / blk, H, S * blk])]);
  const filt = g.node('Reshape', [g.node('Transpose', [dr], { perm: [1, 2, 0, 3] }), g.ints([CO, 1, H, -1])]);
  const y = g.nodeIn(NCHWC_DOMAIN, 'Conv', [xw, filt], { pads: [0, 0, 0, 2] });
  const o = g.nodeIn(NCHWC_DOMAIN, 'ReorderOutput', [y], { channels: CO }); // [CI, CO, 3, 3]
  g.output('dw', g.node('Transpose', [o], { perm: [2, 3, 0, 1] }), [3, 3, CI, CO]);
}, { x, dz });
const p = a.dw.data as Float32Array, q = b2.dw.data as Float32Array;
let e = 0, m = 0; for (let i = 0; i < p.length; i++) { e = Math.max(e, Math.abs(p[i] - q[i])); m = Math.max(m, Math.abs(p[i])); }
console.log('  max diff', e, 'of', m);
