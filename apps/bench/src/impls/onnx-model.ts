/**
 * Builds the ONNX graph of scaled dot-product attention in JS, the way an exporter writes it
 * (MatMul → Mul(scale) → Add(mask bias) → Softmax → MatMul), so onnxruntime can run it with
 * no model file, no Python and no download. Encoded with the `onnx-proto` message classes.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export interface OnnxAttentionShape {
  B: number;
  H: number;
  T: number;
  d: number;
  scale: number;
  /** Additive bias [T, T] (0 = attend, large negative = masked), or null for no mask. */
  bias: Float32Array | null;
}

const FLOAT = onnx.TensorProto.DataType.FLOAT;

function tensorInput(name: string, dims: number[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: FLOAT,
        shape: onnx.TensorShapeProto.create({
          dim: dims.map((dimValue) => onnx.TensorShapeProto.Dimension.create({ dimValue })),
        }),
      }),
    }),
  });
}

function floatTensor(name: string, dims: number[], values: Float32Array) {
  return onnx.TensorProto.create({
    name,
    dims,
    dataType: FLOAT,
    rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  });
}

function node(opType: string, input: string[], output: string[], attribute: onnxProto.onnx.IAttributeProto[] = []) {
  return onnx.NodeProto.create({ opType, input, output, name: output[0], attribute });
}

function intsAttr(name: string, ints: number[]) {
  return onnx.AttributeProto.create({ name, ints, type: onnx.AttributeProto.AttributeType.INTS });
}

function intAttr(name: string, i: number) {
  return onnx.AttributeProto.create({ name, i, type: onnx.AttributeProto.AttributeType.INT });
}

/** Serialized ModelProto (opset 17): inputs q, k, v [B, H, T, d] → output y [B, H, T, d]. */
export function attentionModel(shape: OnnxAttentionShape): Uint8Array {
  const { B, H, T, d, scale, bias } = shape;
  const dims = [B, H, T, d];
  const nodes = [
    node('Transpose', ['k'], ['kT'], [intsAttr('perm', [0, 1, 3, 2])]), // [B, H, d, T]
    node('MatMul', ['q', 'kT'], ['qk']), // [B, H, T, T]
    node('Mul', ['qk', 'scale'], ['logits']),
    ...(bias ? [node('Add', ['logits', 'bias'], ['masked'])] : []),
    node('Softmax', [bias ? 'masked' : 'logits'], ['weights'], [intAttr('axis', -1)]),
    node('MatMul', ['weights', 'v'], ['y']), // [B, H, T, d]
  ];
  const initializer = [floatTensor('scale', [], new Float32Array([scale]))];
  if (bias) initializer.push(floatTensor('bias', [T, T], bias));
  const graph = onnx.GraphProto.create({
    name: 'attention',
    node: nodes,
    initializer,
    input: ['q', 'k', 'v'].map((n) => tensorInput(n, dims)),
    output: [tensorInput('y', dims)],
  });
  return modelOf(graph);
}

/** Serialized ModelProto: a = [N, N], b = [N, N] → c = a·b; the matmul ceiling of an engine. */
export function matmulModel(N: number): Uint8Array {
  const graph = onnx.GraphProto.create({
    name: 'matmul',
    node: [node('MatMul', ['a', 'b'], ['c'])],
    input: [tensorInput('a', [N, N]), tensorInput('b', [N, N])],
    output: [tensorInput('c', [N, N])],
  });
  return modelOf(graph);
}

function modelOf(graph: onnxProto.onnx.IGraphProto): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: '@attnkit/bench',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 17 })],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}
