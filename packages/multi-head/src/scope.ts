/**
 * Stable weight names for composite layers. tfjs-layers names a weight by the stack of layer
 * names whose `apply()` is running (`encoder/self_attention/query/kernel`), but pushes a name
 * only from inside `Layer.apply`. A composite layer that builds its sublayers in `build()`
 * (Keras' rule, so that `compile()` sees every weight) needs the same scoping without applying
 * anything: {@link withNameScope} gives it with tfjs' public API only.
 */
import * as tf from '@tensorflow/tfjs';

/** A throwaway layer whose only job is to run `fn` inside tfjs' name scope of its name. */
class NameScope extends tf.layers.Layer {
  constructor(
    name: string,
    private readonly fn: () => void,
  ) {
    super({ name });
  }

  override build(): void {
    this.fn();
    this.built = true;
  }
}

/**
 * Runs `fn` with `name` pushed on tfjs-layers' name scope, so that weights created inside it
 * are named `<enclosing scopes>/<name>/<weight>`. Nothing is allocated; a throwaway layer is
 * applied to a placeholder SymbolicTensor that belongs to no graph.
 */
export function withNameScope<T>(name: string, fn: () => T): T {
  let result: T | undefined;
  const scope = new NameScope(name, () => {
    result = fn();
  });
  scope.apply(new tf.SymbolicTensor('float32', [1], null as unknown as tf.layers.Layer, [], {}));
  return result as T;
}

/**
 * Builds a sublayer that names its weights without its own name (tfjs' Dense, LayerNorm, …) under
 * the role name `scope`, and marks it built: `kernel` becomes `<enclosing>/<scope>/kernel`.
 * A no-op when the sublayer is already built.
 */
export function buildSublayer(layer: tf.layers.Layer, inputShape: tf.Shape | tf.Shape[], scope = layer.name): void {
  if (layer.built) return;
  withNameScope(scope, () => {
    layer.build(inputShape);
    layer.built = true;
  });
}

/** tfjs' protected reference count of a layer: null until `apply()` builds it, 0 once disposed. */
type Counted = { _refCount: number | null };

/**
 * Lets tfjs' `Layer.dispose()` dispose a layer built by `build()` (or by its parent) rather
 * than by `apply()`: tfjs counts references only from `apply()`, and refuses a layer whose count
 * is still null. Call it at the top of a layer's `dispose()` override; a no-op for a layer that
 * is unbuilt, applied or already disposed.
 */
export function countBuiltLayer(layer: tf.layers.Layer): void {
  const counted = layer as unknown as Counted;
  if (counted._refCount === null && layer.built) counted._refCount = 1;
}

/**
 * Disposes the weights of a sublayer that its parent built (tfjs' `dispose()` refuses a layer
 * built by `build()` rather than by a call); returns how many variables it disposed. Unbuilt
 * or already disposed layers are skipped.
 */
export function disposeSublayer(layer: tf.layers.Layer): number {
  const counted = layer as unknown as Counted;
  if (!layer.built || counted._refCount === 0) return 0;
  counted._refCount = 1;
  return layer.dispose().numDisposedVariables;
}
