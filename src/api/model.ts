/**
 * transformers' AutoModelForCausalLM / PreTrainedModel over softprompt's engine: `forward` gives logits (and a loss
 * with labels) as a transformers.js-shaped Tensor, `generate` gives input ids + new ids as transformers does.
 */
import type { BlockQuantization, WeightDtype } from '../weights/quantize.js';
import { generate, type GenerateRequest } from '../generate/generate.js';
import type { GenerationOptions } from '../generate/options.js';
import type { PretrainedModel } from '../models/model.js';
import { modelFromPretrained, readGenerationConfig } from '../models/pretrained.js';
import type { InferenceEngine } from '../runtime/engine-api.js';
import { hubOptions, type FromPretrainedOptions } from './hub-options.js';
import type { PreTrainedTokenizer } from './tokenizer.js';

/** A dense tensor as transformers.js returns it: row-major `data` of shape `dims`. */
export class Tensor {
  readonly type = 'float32';
  constructor(
    readonly data: Float32Array,
    readonly dims: number[],
  ) {}

  get size(): number {
    return this.data.length;
  }
}

/** A batch for `forward`: rows of equal length (pad them with the tokenizer). */
export interface ModelInputs {
  input_ids: number[][];
  attention_mask?: number[][];
  /** Same shape as input_ids; -100 marks positions without a label. The loss is HF's shifted mean cross-entropy. */
  labels?: number[][];
}

/** What `forward` returns, as transformers' CausalLMOutput. */
export interface CausalLMOutput {
  /** [batch, (virtual tokens +) tokens, vocab] */
  logits: Tensor;
  loss?: number;
}

/** `generate`'s inputs and transformers' GenerationConfig options (defaults: transformers', then generation_config.json). */
export interface GenerateOptions extends GenerationOptions {
  input_ids: number[][];
  attention_mask?: number[][];
  /** Needed only for stop_strings (transformers takes it as generate's `tokenizer` argument too). */
  tokenizer?: PreTrainedTokenizer;
}

/** Options of `AutoModelForCausalLM.from_pretrained`. */
export interface ModelFromPretrainedOptions extends FromPretrainedOptions {
  /** @internal Share one engine (worker thread) between models; default: a new one. */
  engine?: InferenceEngine;
  /** onnxruntime intra-op threads; default: the number of cores. */
  threads?: number;
  /**
   * How the frozen weights are held, as in transformers.js: 'fp32' (default); 'fp16', the matrices held as float16
   * (half their memory) and cast to fp32 where read, so compute stays fp32 (decoding is slower, not faster); or 'q8' /
   * 'q4', quantized on load block-wise along the reduction axis and run with onnxruntime's quantized kernels
   * (MatMulNBits), the quantized copy cached in the HF cache folder so the second load is fast. Prompt tuning works
   * through fp16 and quantized weights; full fine-tuning needs fp32.
   */
  dtype?: WeightDtype;
  /** Block size (32 or 64), `symmetric` (false: zero points) and MatMulNBits `accuracyLevel`; measured defaults. */
  quantization?: Partial<BlockQuantization>;
}

/** A loaded causal LM. Call `dispose()` when done: it holds a worker thread. */
export class PreTrainedModel {
  /** @internal */
  constructor(
    /** @internal The engine-level model (config, weights bound in the worker). */
    readonly model: PretrainedModel,
    /** The model's generation_config.json, read as defaults beneath generate's options. */
    readonly generation_config: Record<string, unknown> | null,
  ) {}

  /** config.json as read. */
  get config(): Record<string, unknown> {
    return this.model.config.raw;
  }

  /** The directory the model was loaded from (a hub id's cache snapshot). */
  get name_or_path(): string {
    return this.model.source;
  }

  /** Logits for every position, and with labels HF's shifted mean cross-entropy. */
  async forward(inputs: ModelInputs): Promise<CausalLMOutput> {
    const out = await this.model.forward(inputs);
    return { logits: new Tensor(out.logits!.data as Float32Array, out.logits!.dims), ...(out.loss === undefined ? {} : { loss: out.loss }) };
  }

  /** Greedy or sampled decoding with transformers' option names; returns each row's input ids then its new ids. */
  async generate(opts: GenerateOptions): Promise<number[][]> {
    return (await generate(this.model, opts.tokenizer?.text_tokenizer ?? null, this.request(opts))).sequences;
  }

  /** @internal The engine-level request for `opts`, with this model's generation_config beneath it. */
  request({ tokenizer: _tokenizer, ...opts }: GenerateOptions): GenerateRequest {
    return { ...opts, generation_config: this.generation_config };
  }

  /** Stops the engine's worker thread. */
  async dispose(): Promise<void> {
    await this.model.engine.close();
  }
}

/** Loads a causal LM by the architecture its config.json names (transformers' AutoModelForCausalLM). */
export const AutoModelForCausalLM = {
  /**
   * A model directory (config.json + safetensors) or a hub id (`org/name`), fetched into the cache shared with
   * Python. Architectures: see the README's table.
   */
  async from_pretrained(pretrained_model_name_or_path: string, opts: ModelFromPretrainedOptions = {}): Promise<PreTrainedModel> {
    const model = await modelFromPretrained(pretrained_model_name_or_path, { ...hubOptions(opts), engine: opts.engine, threads: opts.threads, dtype: opts.dtype, quantization: opts.quantization });
    return new PreTrainedModel(model, await readGenerationConfig(model.source));
  },
};
