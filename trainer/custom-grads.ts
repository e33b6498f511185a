/**
 * The model's hand-written gradients (tf.customGrad): where tfjs's own are missing on a backend or
 * measured slow. Each forward is the plain tf op; only the backward differs.
 */
import * as tf from '@tensorflow/tfjs';

type GradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];

/** tf.customGrad with the inputs as an array and the save function passed separately. */
function custom(
  f: (inputs: tf.Tensor[], save: tf.GradSaveFunc) => { value: tf.Tensor; gradFunc: GradFunc },
  inputs: tf.Tensor[],
): tf.Tensor {
  const g = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) =>
    f(args.slice(0, -1) as tf.Tensor[], args[args.length - 1] as tf.GradSaveFunc),
  );
  return g(...inputs);
}

/**
 * Rows of `x` [n, w] picked by `idx`. tf.gather's gradient needs UnsortedSegmentSum, which the wasm
 * backend lacks; scatterND sums repeated indices on every backend.
 */
export function gatherRows(x: tf.Tensor2D, idx: tf.Tensor1D): tf.Tensor2D {
  const shape = x.shape;
  return custom(([table], save) => {
    // Tensors a gradFunc closes over are disposed by the caller's tidy before backprop; save() keeps them.
    save([idx]);
    return {
      value: tf.gather(table, idx),
      gradFunc: (dy, saved) => tf.scatterND(tf.expandDims(saved[0], 1), dy, shape),
    };
  }, [x]) as tf.Tensor2D;
}

/**
 * a [.., n, k] @ b [.., k, m] (2-D, or 3-D batched). tf.matMul's own gradient uses transposeA/transposeB
 * matMuls, which measured ~10× slower on wasm than an explicit transpose followed by a plain matMul.
 */
export function matmul<T extends tf.Tensor2D | tf.Tensor3D>(x: T, w: T): T {
  const perm = x.rank === 2 ? [1, 0] : [0, 2, 1];
  return custom(([a, b], save) => {
    save([a, b]);
    return {
      value: tf.matMul(a as T, b as T),
      gradFunc: (dy, [sa, sb]) => [
        tf.matMul(dy as T, tf.transpose(sb, perm) as T),
        tf.matMul(tf.transpose(sa, perm) as T, dy as T),
      ],
    };
  }, [x, w]) as T;
}

/**
 * Summed cross-entropy of `logits` [n, V] against `targets` [n] without materialising a one-hot in the
 * forward pass: logSumExp minus the picked logit; the backward is softmax minus 1 at the target.
 */
export function crossEntropySum(logits: tf.Tensor2D, targets: Int32Array): tf.Scalar {
  const n = targets.length;
  const pairs = new Int32Array(n * 2);
  for (let i = 0; i < n; i++) {
    pairs[2 * i] = i;
    pairs[2 * i + 1] = targets[i];
  }
  const idx = tf.tensor2d(pairs, [n, 2], 'int32');
  const out = custom(([z], save) => {
    const lse = tf.logSumExp(z, 1, true);
    save([z, lse, idx]);
    const picked = tf.gatherND(z, idx);
    return {
      value: tf.sub(tf.sum(lse), tf.sum(picked)),
      // dy stays on the device: a GPU backend cannot read it back without stalling (WebGPU in Node
      // cannot read synchronously at all).
      gradFunc: (dy, [sz, slse, sidx]) => {
        const scaledSoft = tf.mul(tf.exp(tf.sub(sz, slse)), dy);
        const hit = tf.scatterND(sidx, tf.broadcastTo(tf.reshape(dy, [1]), [n]), sz.shape);
        return tf.sub(scaledSoft, hit);
      },
    };
  }, [logits]) as tf.Scalar;
  idx.dispose();
  return out;
}
