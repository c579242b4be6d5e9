// The one ONNX graph builder, under the options its two main callers use: readable names without
// shared constants (the exporter) and counter names with shared constants (the training compiler).

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/main/services/onnx/graph-builder';
import { onnx } from '../../../src/main/services/onnx/proto';

describe('GraphBuilder', () => {
  it('readable names: hints become names, made unique; reserved and input names stay exact', () => {
    const g = new GraphBuilder({ name: 'm', names: 'readable', dedupeConstants: false });
    const x = g.input('pixels', ['N', 2]);
    g.reserve('probabilities');
    // A layer named like the output does not take the output's name.
    const a = g.node('Relu', [x], {}, 'probabilities');
    const b = g.node('Relu', [a], {}, 'dense 1');
    const c = g.node('Sigmoid', [b]);
    const one = g.scalar(1, 'dense 1/one');
    const oneAgain = g.scalar(1, 'dense 1/one');
    // An exact name is kept as it is (another model's input name, spliced in).
    const exact = g.nodeAs('input:0 [x]', 'Identity', [c]);
    g.output('probabilities', g.node('Mul', [exact, one]), ['N', 2]);
    expect([a, b, c, one, oneAgain, exact]).toEqual(['probabilities_1', 'dense_1', 'sigmoid', 'dense_1/one', 'dense_1/one_1', 'input:0 [x]']);
    expect(() => g.nodeAs('sigmoid', 'Relu', [c])).toThrow('ONNX name sigmoid is taken');
    const graph = g.graph();
    expect(graph.name).toBe('m');
    expect(graph.node!.at(-1)).toMatchObject({ opType: 'Identity', input: ['mul'], output: ['probabilities'] });
    expect(graph.initializer).toHaveLength(2);
    expect(() => g.input('pixels', [1])).toThrow('ONNX name pixels is taken');
  });

  it('counter names and shared constants: equal small constants are one initializer, larger ones are not', () => {
    const g = new GraphBuilder({ name: 't', names: 'counter', dedupeConstants: true });
    const x = g.input('x', ['B', 3]);
    expect(g.scalar(0.5)).toBe(g.scalar(0.5));
    expect(g.ints([1, -1])).toBe(g.ints([1, -1]));
    expect(g.floats([1, -1])).not.toBe(g.ints([1, -1]));
    const big = Array.from({ length: 17 }, (_, i) => i);
    expect(g.floats(big)).not.toBe(g.floats(big));
    const [values, indices] = g.nodeN('TopK', [x, g.ints([1])], 2, { axis: 1 });
    expect(values).toMatch(/^topk_\d+$/);
    expect(indices).toMatch(/^topk_\d+$/);
    expect(values).not.toBe(indices);
    expect(g.graph().initializer).toHaveLength(6);
  });

  it('encodes a model onnxruntime runs, with the IR version of its opset', async () => {
    for (const opset of [13, 17]) {
      const g = new GraphBuilder({ name: 'affine', names: 'counter', dedupeConstants: true });
      const x = g.input('x', ['B', 3]);
      const y = g.node('Add', [g.node('Mul', [x, g.floats([1, 2, 3])]), g.scalar(0.5)]);
      g.output('y', y, ['B', 3]);
      const bytes = g.encode({ opset, producerVersion: 'test', metadata: { labels: 'a,b,c' } });
      const model = onnx.ModelProto.decode(bytes);
      expect(Number(model.irVersion)).toBe(opset === 13 ? 7 : 8);
      expect(model.metadataProps).toEqual([expect.objectContaining({ key: 'labels', value: 'a,b,c' })]);
      const session = await ort.InferenceSession.create(bytes);
      const out = await session.run({ x: new ort.Tensor('float32', Float32Array.of(1, 1, 1, 2, 2, 2), [2, 3]) });
      await session.release();
      expect(Array.from(out.y.data as Float32Array)).toEqual([1.5, 2.5, 3.5, 2.5, 4.5, 6.5]);
    }
    expect(() => new GraphBuilder({ names: 'counter', dedupeConstants: false }).encode({ opset: 12 })).toThrow('No IR version is known for opset 12');
  });
});
