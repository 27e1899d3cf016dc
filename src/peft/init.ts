/**
 * The initial soft prompt, as PEFT's PromptEmbedding builds it: RANDOM = N(0, 1) (torch nn.Embedding's default),
 * SAMPLE_VOCAB = embedding rows at ids drawn uniformly from the whole table, TEXT = embedding rows of the init text's
 * token ids (special tokens included), repeated and truncated to num_virtual_tokens. Rows are what the input embedding
 * module returns: raw table rows, except where the module scales them itself (Architecture.embeddingModuleScale);
 * BLOOM's embedding LayerNorm and Gemma's sqrt(H) are applied later, in the forward pass, to prompt and tokens alike.
 */
import { Generator } from '../random.js';
import { OptionError, ShapeError } from '../errors.js';
import { architectureOf, promptWidth } from '../models/architectures.js';
import type { ModelConfig } from '../models/config.js';
import type { PretrainedModel } from '../models/model.js';
import type { PromptTuningConfig } from './config.js';

/** Rows of the input embedding table at `ids`, concatenated: [ids.length, H]. */
export type EmbeddingRows = (ids: number[]) => Float32Array;

/**
 * The prompt [n, token_dim] for `config`. `seed` drives RANDOM and SAMPLE_VOCAB through softprompt's own generator:
 * reproducible here, but not the bits torch (Mersenne Twister) or numpy would draw for the same seed.
 */
export function initPrompt(
  config: PromptTuningConfig,
  embeddings: EmbeddingRows,
  vocabSize: number,
  encode: ((text: string) => number[]) | null,
  seed: number,
): Float32Array {
  const n = config.num_virtual_tokens;
  switch (config.prompt_tuning_init) {
    case 'RANDOM': {
      const normal = normals(seed);
      return Float32Array.from({ length: n * config.token_dim }, normal);
    }
    case 'SAMPLE_VOCAB': {
      const uniform = uniforms(seed);
      return checked(embeddings(Array.from({ length: n }, () => Math.floor(uniform() * vocabSize))), config);
    }
    case 'TEXT': {
      const text = config.prompt_tuning_init_text;
      if (!text) throw new OptionError('is required for TEXT init', 'prompt_tuning_init_text');
      if (!encode) throw new OptionError('TEXT init needs a tokenizer to encode prompt_tuning_init_text', 'tokenizer');
      const ids = encode(text);
      if (ids.length === 0) throw new OptionError('encodes to no tokens', 'prompt_tuning_init_text');
      // PEFT: truncate, or repeat ceil(n / len) times and truncate.
      return checked(embeddings(Array.from({ length: n }, (_, i) => ids[i % ids.length])), config);
    }
  }
}

function checked(rows: Float32Array, config: PromptTuningConfig): Float32Array {
  const want = config.num_virtual_tokens * config.token_dim;
  if (rows.length !== want) {
    const columns = rows.length / config.num_virtual_tokens;
    throw new ShapeError(`embedding rows have ${columns} columns but token_dim is ${config.token_dim}`, 'token_dim');
  }
  return rows;
}

/** The canonical checkpoint name of the input embedding table (what the architecture files' `embed` reads). */
export function inputEmbeddingName(cfg: ModelConfig): string {
  return architectureOf(cfg).embeddingWeight;
}

/**
 * Rows of `model`'s input embeddings as float32 (converting fp16/bf16 checkpoints), as its embedding module returns
 * them (scaled in fp32 where the module scales).
 */
export function embeddingRows(model: PretrainedModel): EmbeddingRows {
  const { vocabSize } = model.config;
  const H = promptWidth(model.config);
  const name = model.resolveWeight(inputEmbeddingName(model.config), [vocabSize, H]);
  const scale = architectureOf(model.config).embeddingModuleScale?.(model.config) ?? 1;
  return (ids) => {
    const table = model.weights.float32(name);
    const out = new Float32Array(ids.length * H);
    ids.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new ShapeError(`token id ${id} is outside the embedding table [0, ${vocabSize})`, name);
      }
      out.set(table.subarray(id * H, (id + 1) * H), i * H);
    });
    if (scale !== 1) for (let i = 0; i < out.length; i++) out[i] = Math.fround(out[i] * scale);
    return out;
  };
}

/** Uniform doubles in [0, 1) from softprompt's seeded generator. */
function uniforms(seed: number): () => number {
  if (!Number.isSafeInteger(seed)) throw new OptionError(`is ${seed}; expected an integer`, 'seed');
  const generator = Generator.seeded(seed);
  return () => generator.uniform();
}

/** Standard normals by Box–Muller, both values of each pair used. */
export function normals(seed: number): () => number {
  const uniform = uniforms(seed);
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const z = spare;
      spare = null;
      return z;
    }
    const r = Math.sqrt(-2 * Math.log(1 - uniform())); // 1 - u is in (0, 1]: log never sees 0
    const theta = 2 * Math.PI * uniform();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
}
