/**
 * Adam whose update runs as ONE kernel over every variable where `ADAM_KERNEL` is registered
 * for the active backend (@attnkit/kernels registers it for wasm), and as tf.train.adam's own
 * ops elsewhere. tf.train.adam issues about a dozen kernels per variable per step: for a
 * small transformer that is over 600 kernels, each paying the engine's fixed cost.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Kernel contract: inputs value{i}, m{i}, v{i}, grad{i} for i < count; attrs { count, lr,
 * beta1, beta2, epsilon, correction1 = 1 - β1^t, correction2 = 1 - β2^t } -> outputs
 * [value'0, m'0, v'0, value'1, …]: m' = β1·m + (1-β1)·g, v' = β2·v + (1-β2)·g²,
 * value' = value - lr·(m'/c1) / (sqrt(v'/c2) + ε), in float32 as tf.train.adam.
 */
export const ADAM_KERNEL = 'AttnkitAdam';

type Slot = { originalName: string; variable: tf.Variable };
interface AdamInternals {
  accumulatedFirstMoment: Slot[];
  accumulatedSecondMoment: Slot[];
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  incrementIterations(): void;
}

/**
 * tf.train.adam with the same constructor, state, `getWeights`/`setWeights` layout and
 * numbers (equal within float32 rounding; tested), fused where the backend has the kernel.
 */
export class Adam extends tf.AdamOptimizer {
  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    if (tf.getKernel(ADAM_KERNEL, tf.getBackend()) == null) {
      super.applyGradients(variableGradients);
      return;
    }
    const self = this as unknown as AdamInternals;
    const list = Array.isArray(variableGradients)
      ? variableGradients.map((v) => ({ name: v.name, grad: v.tensor }))
      : Object.keys(variableGradients).map((name) => ({ name, grad: variableGradients[name] as tf.Tensor }));
    tf.tidy(() => {
      const inputs: tf.NamedTensorMap = {};
      const targets: tf.Variable[][] = [];
      let count = 0;
      list.forEach(({ name, grad }, i) => {
        const value = tf.engine().registeredVariables[name]!;
        self.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        self.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        if (grad == null) return;
        const m = self.accumulatedFirstMoment[i]!.variable;
        const v = self.accumulatedSecondMoment[i]!.variable;
        Object.assign(inputs, { [`value${count}`]: value, [`m${count}`]: m, [`v${count}`]: v, [`grad${count}`]: grad });
        targets.push([value, m, v]);
        count++;
      });
      const [acc1, acc2] = [self.accBeta1.dataSync()[0]!, self.accBeta2.dataSync()[0]!];
      const attrs = {
        count,
        lr: this.learningRate,
        beta1: this.beta1,
        beta2: this.beta2,
        epsilon: this.epsilon,
        correction1: Math.fround(1 - acc1),
        correction2: Math.fround(1 - acc2),
      };
      const outs = tf.engine().runKernel(ADAM_KERNEL, inputs, attrs) as tf.Tensor[];
      targets.forEach((vars, i) => {
        for (const [k, variable] of vars.entries()) variable.assign(outs[3 * i + k]!);
      });
      self.accBeta1.assign(tf.mul(self.accBeta1, this.beta1));
      self.accBeta2.assign(tf.mul(self.accBeta2, this.beta2));
    });
    self.incrementIterations();
  }
}
