/**
 * Full fine-tuning: every weight of the model is trainable. The Trainer trains one flat float32 array in place (for
 * prompt tuning, the soft prompt); here that array holds every weight back to back, and its gradient is the weight
 * gradients in the same layout, so the same loop, optimizer, schedule, clipping, logging and checkpoints serve both
 * methods. A checkpoint holds the model as Hugging Face lays it out (config.json, model.safetensors in F32, so a
 * resumed run continues from exactly the weights it stopped at).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MissingError, ShapeError } from '../errors.js';
import { orFileSystemError, writeFileAtomic } from '../hub/local.js';
import type { ModelConfig } from '../models/config.js';
import { trainingPositionLimit } from '../models/architectures.js';
import { PretrainedModel, type ForwardBatch, type ForwardResult } from '../models/model.js';
import type { InferenceEngine } from '../runtime/engine-api.js';
import { flatWeights, type FlatWeights } from '../weights/memory.js';
import { Safetensors, checkFinite, serializeSafetensors } from '../weights/safetensors.js';
import type { TrainableModel, TrainForwardOptions } from './trainable.js';

const CONFIG = 'config.json';
const WEIGHTS = 'model.safetensors';

export class FullFineTuning implements TrainableModel {
  /** Its weights are views of `parameters()`; use trainedModel() to generate with it. */
  readonly model: PretrainedModel;

  private constructor(
    readonly weights: FlatWeights,
    config: ModelConfig,
    engine: InferenceEngine,
    source: string,
  ) {
    this.model = new PretrainedModel(config, weights, engine, source);
  }

  /** A trainable copy of `model`'s weights, sharing its engine. */
  static of(model: PretrainedModel): FullFineTuning {
    const tensors = model.weightNames().map((name) => ({ name, shape: model.weights.shape(name), data: model.weights.float32(name) }));
    return new FullFineTuning(flatWeights(tensors, model.source), model.config, model.engine, model.source);
  }

  /** A model from fresh weights (pretraining), in the order given. */
  static fromWeights(
    config: ModelConfig,
    tensors: Array<{ name: string; shape: number[]; data: Float32Array }>,
    engine: InferenceEngine,
    source: string,
  ): FullFineTuning {
    return new FullFineTuning(flatWeights(tensors, source), config, engine, source);
  }

  /** The model with the weights as trained so far bound (the Trainer's last step came after the last forward). */
  async trainedModel(): Promise<PretrainedModel> {
    await this.model.rebindWeights();
    return this.model;
  }

  /** Every weight, flat: what the Trainer updates in place. */
  parameters(): Float32Array {
    return this.weights.flat;
  }

  /** With `grad`, d(loss)/d(every weight) in the layout of `parameters()`. */
  async forward(batch: ForwardBatch, opts: TrainForwardOptions = {}): Promise<ForwardResult> {
    // The Trainer changed the weights in place since the last call.
    await this.model.rebindWeights();
    const out = await this.model.forward(batch, { logits: opts.logits, weightGrads: opts.grad });
    if (!out.weightGrads) return out;
    const grad = new Float32Array(this.weights.flat.length);
    for (const { name, offset } of this.weights.layout) grad.set(out.weightGrads.get(name)!, offset);
    return { logits: out.logits, loss: out.loss, grad };
  }

  checkSequenceLength(tokens: number): void {
    const limit = trainingPositionLimit(this.model.config);
    if (limit !== null && tokens > limit.max) {
      throw new ShapeError(`an example of ${tokens} tokens is beyond the model's ${limit.key} ${limit.max} (truncate examples with max_length)`, 'train_dataset');
    }
  }

  /** The checkpoint as Hugging Face lays it out: config.json and model.safetensors (F32 or F16). */
  checkpointFiles(dtype: 'F32' | 'F16' = 'F32'): Record<string, Uint8Array | string> {
    const tensors = this.weights.layout.map(({ name, shape }) => ({ name, shape, data: this.weights.float32(name), dtype }));
    const torchDtype = dtype === 'F16' ? 'float16' : 'float32';
    return {
      [CONFIG]: `${JSON.stringify({ ...this.model.config.raw, torch_dtype: torchDtype }, null, 2)}\n`,
      [WEIGHTS]: serializeSafetensors(tensors, { format: 'pt' }),
    };
  }

  /** Every weight of this model from a checkpoint's model.safetensors, flat in the layout of `parameters()`. */
  parametersFrom(files: Record<string, Uint8Array>, where: string): Float32Array {
    const bytes = files[WEIGHTS];
    if (!bytes) throw new MissingError(`checkpoint has no ${WEIGHTS}`, where);
    const path = `${where}/${WEIGHTS}`;
    const file = Safetensors.parse(bytes, path);
    const flat = new Float32Array(this.weights.flat.length);
    for (const { name, shape, offset } of this.weights.layout) {
      const saved = file.entry(name).shape;
      if (saved.join() !== shape.join()) throw new ShapeError(`${name} has shape [${saved}]; this model's is [${shape}]`, path);
      const data = file.float32(name);
      checkFinite(name, data, 'not a usable checkpoint', path);
      flat.set(data, offset);
    }
    return flat;
  }

  async savePretrained(dir: string, dtype: 'F32' | 'F16' = 'F32'): Promise<void> {
    await orFileSystemError(dir, () => mkdir(dir, { recursive: true }));
    for (const [name, data] of Object.entries(this.checkpointFiles(dtype))) await writeFileAtomic(join(dir, name), data);
  }
}
