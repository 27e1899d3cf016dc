// A tiny stand-in for a PeftModel (a quadratic objective on a 2x2 prompt, checkpointed as PEFT adapter files) and an
// in-memory checkpoint store, so the Trainer's loop, schedule, logging and checkpoints can be tested exactly and fast.
import type { ModelConfig } from '../src/models/config.js';
import type { ForwardBatch, ForwardResult } from '../src/models/model.js';
import { adapterFiles, parseAdapterFiles } from '../src/peft/adapter.js';
import { promptTuningConfig, type PromptTuningConfig } from '../src/peft/config.js';
import type { CheckpointStore } from '../src/train/checkpoint.js';
import type { TrainableModel, TrainForwardOptions } from '../src/train/trainable.js';

/** loss = mean over rows of 0.5 * |prompt - t|^2 with t = the row's first token id (each prompt value). */
export class QuadraticModel implements TrainableModel {
  readonly batches: ForwardBatch[] = [];
  private readonly p = Float32Array.of(0.5, -0.5, 1, 2);
  private readonly config: PromptTuningConfig = promptTuningConfig(
    { num_virtual_tokens: 2 },
    { arch: 'llama', hiddenSize: 2, numHeads: 1, numLayers: 1 } as ModelConfig,
  );
  /** Called before each forward; may throw (an injected failure) or return a loss to report instead. */
  hook: (batch: ForwardBatch, call: number) => number | void = () => {};

  parameters(): Float32Array {
    return this.p;
  }

  /** The parameters under PeftModel's name for them. */
  prompt(): Float32Array {
    return this.p;
  }

  checkpointFiles(): Record<string, Uint8Array | string> {
    return adapterFiles(this.config, this.p);
  }

  parametersFrom(files: Record<string, Uint8Array>, where: string): Float32Array {
    return parseAdapterFiles(files, where).prompt;
  }

  async forward(batch: ForwardBatch, opts: TrainForwardOptions = {}): Promise<ForwardResult> {
    const override = this.hook(batch, this.batches.length);
    this.batches.push(batch);
    const grad = new Float32Array(this.p.length);
    let loss = 0;
    for (const row of batch.input_ids) {
      for (let i = 0; i < this.p.length; i++) {
        const d = this.p[i] - row[0];
        loss += (0.5 * d * d) / batch.input_ids.length;
        grad[i] += d / batch.input_ids.length;
      }
    }
    return { loss: override ?? loss, grad: opts.grad ? grad : undefined };
  }
}

/** Examples [k, 1] for k in 0..n-1: the first id tells which example a row is. */
export function examples(n: number): number[][] {
  return Array.from({ length: n }, (_, k) => [k, 1]);
}

export class MemoryStore implements CheckpointStore {
  readonly checkpoints = new Map<string, Record<string, Uint8Array>>();

  async write(name: string, files: Record<string, Uint8Array | string>): Promise<void> {
    const bytes = Object.entries(files).map(([k, v]) => [k, typeof v === 'string' ? new TextEncoder().encode(v) : v.slice()]);
    this.checkpoints.set(name, Object.fromEntries(bytes));
  }

  async read(name: string): Promise<Record<string, Uint8Array>> {
    const files = this.checkpoints.get(name);
    if (!files) throw new Error(`no checkpoint ${name}`);
    return files;
  }

  async list(): Promise<string[]> {
    return [...this.checkpoints.keys()];
  }

  describe(name: string): string {
    return `memory/${name}`;
  }
}
