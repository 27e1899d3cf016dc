/**
 * Falcon: LayerNorm blocks, attention and MLP in parallel (or sequential in the old architecture without
 * parallel_attn), a fused query_key_value in one of three layouts, RoPE, or ALiBi when `alibi` is set, a GELU MLP,
 * tied head by default.
 * - new_decoder_architecture (Falcon-40B/180B, Falcon2): kv heads from num_kv_heads, qkv grouped per kv head as
 *   [q x heads/kv, k, v]; ln_attn and ln_mlp (one shared input_layernorm when num_ln_in_parallel_attn is 1).
 * - old, multi_query (Falcon-7B): [q (all heads); k; v], one kv head; input_layernorm shared by both branches.
 * - old, not multi_query (Falcon-RW): [q | k | v] per head, as BLOOM; often sequential with post_attention_layernorm.
 * Follows transformers' modeling_falcon.py (4.40; num_ln_in_parallel_attn as later versions read it).
 */
import { FormatError, UnsupportedError } from '../errors.js';
import type { Tensor } from '../graph/graph.js';
import { add, concat, layerNorm, mul, reshape, split, transpose, unsqueeze } from '../graph/ops.js';
import { activation, checkActivation } from './activations.js';
import type { Architecture, ArchitectureBuilder, AuxTensors, KvCache } from './architecture.js';
import { evenSplit, parseRopeScaling, type ConfigFields } from './config-fields.js';
import type { FamilyConfig, ModelConfig } from './config.js';
import { attention, embeddingsAndHead, linear, mergeHeads, rope, splitHeads, splitQkvPerHead, withCache } from './layers.js';

const WORD_EMBEDDINGS = 'transformer.word_embeddings.weight';
const LM_HEAD = 'lm_head.weight';

/** FalconConfig's switches with its defaults (multi_query and parallel_attn on, the rest off). */
function switches(raw: Record<string, unknown>) {
  const newArch = raw.new_decoder_architecture === true;
  return {
    newArch,
    multiQuery: raw.multi_query !== false,
    parallel: newArch || raw.parallel_attn !== false,
    alibi: raw.alibi === true,
    /** LayerNorms in a new-architecture block: 2 (ln_attn, ln_mlp) unless num_ln_in_parallel_attn says 1. */
    twoNorms: newArch && raw.num_ln_in_parallel_attn !== 1,
  };
}

/** FalconConfig: n_embed overrides hidden_size, ffn_hidden_size (4 x hidden), activation (gelu), bias (false), tied. */
function config(f: ConfigFields, numHeads: number): FamilyConfig {
  const hiddenSize = f.int('n_embed', 'hidden_size');
  for (const key of ['new_decoder_architecture', 'multi_query', 'parallel_attn', 'alibi']) f.optionalBool(key);
  const { newArch, multiQuery } = switches(f.raw);
  const numLn = f.optionalInt('num_ln_in_parallel_attn');
  if (numLn !== null && numLn !== 1 && numLn !== 2) {
    throw new UnsupportedError(`num_ln_in_parallel_attn is ${numLn}; expected 1 or 2`, f.source);
  }
  const kvHeads = f.optionalInt('num_kv_heads') ?? numHeads;
  if (!newArch && !multiQuery && kvHeads !== numHeads) {
    throw new FormatError(`num_kv_heads ${kvHeads} needs new_decoder_architecture (the old fused layout has one k/v per head)`, f.source);
  }
  return {
    hiddenSize,
    numKvHeads: newArch ? kvHeads : multiQuery ? 1 : numHeads,
    headDim: evenSplit(hiddenSize, numHeads, f.source),
    intermediateSize: f.optionalInt('ffn_hidden_size') ?? 4 * hiddenSize,
    normEps: f.optionalNumber('layer_norm_epsilon') ?? 1e-5,
    ropeTheta: f.optionalNumber('rope_theta') ?? 10000,
    ropeScaling: parseRopeScaling(f.raw.rope_scaling, f.source),
    tieWordEmbeddings: f.optionalBool('tie_word_embeddings') ?? true,
    activation: checkActivation(f.optionalString('activation') ?? 'gelu', 'activation', f.source, false),
    attentionBias: f.optionalBool('bias') ?? false,
  };
}

const build: ArchitectureBuilder = (cfg, p) => {
  const H = cfg.hiddenSize;
  const nh = cfg.numHeads;
  const nkv = cfg.numKvHeads;
  const hd = cfg.headDim;
  const I = cfg.intermediateSize;
  const { newArch, multiQuery, parallel, alibi, twoNorms } = switches(cfg.raw);
  const ln = (x: Tensor, name: string) => layerNorm(x, p(name + '.weight', [H]), p(name + '.bias', [H]), cfg.normEps);
  const dense = (x: Tensor, name: string, out: number, inp: number) =>
    linear(x, p(name + '.weight', [out, inp]), cfg.attentionBias ? p(name + '.bias', [out]) : undefined);

  /** The fused projection's q [B, heads, S, d] and k, v [B, kvHeads, S, d], in the layout the config implies. */
  function qkv(x: Tensor, a: string): Tensor[] {
    const fused = dense(x, a + 'query_key_value', (nh + 2 * nkv) * hd, H);
    if (!newArch && !multiQuery) return splitQkvPerHead(fused, nh, hd);
    if (!newArch) return split(fused, [nh * hd, hd, hd], -1).map((t, i) => splitHeads(t, i === 0 ? nh : 1, hd));
    const group = nh / nkv;
    const grouped = split(reshape(fused, [0, 0, nkv, group + 2, hd]), [group, 1, 1], 3); // [B, S, kv, *, d]
    return grouped.map((t, i) => transpose(reshape(t, [0, 0, i === 0 ? nh : nkv, hd]), [0, 2, 1, 3]));
  }

  /** k/v heads repeated for every query head (repeat_kv), for ALiBi's per-head bias. */
  const repeatKv = (t: Tensor) => (nkv === nh ? t : reshape(concat(new Array(nh / nkv).fill(unsqueeze(t, [2])), 2), [0, nh, -1, hd]));

  function selfAttention(x: Tensor, i: number, aux: AuxTensors, cache?: KvCache): Tensor {
    const a = `transformer.h.${i}.self_attention.`;
    let [q, k, v] = qkv(x, a);
    const scale = 1 / Math.sqrt(hd);
    let out: Tensor;
    if (alibi) {
      // (q k^T + alibi) / sqrt(d) + mask: the ALiBi bias is scaled with the scores (BLOOM adds it after).
      [k, v] = withCache(cache, i, k, v);
      out = attention(q, repeatKv(k), repeatKv(v), mul(aux.bias, scale), scale);
    } else {
      const cos = unsqueeze(aux.cos!, [1]);
      const sin = unsqueeze(aux.sin!, [1]);
      [k, v] = withCache(cache, i, rope(k, cos, sin), v);
      out = attention(rope(q, cos, sin), k, v, aux.bias, scale);
    }
    return dense(mergeHeads(out, nh, hd), a + 'dense', H, H);
  }

  function mlp(x: Tensor, i: number): Tensor {
    const m = `transformer.h.${i}.mlp.`;
    return dense(activation(cfg.activation)(dense(x, m + 'dense_h_to_4h', I, H)), m + 'dense_4h_to_h', H, I);
  }

  return {
    ...embeddingsAndHead(cfg, p, WORD_EMBEDDINGS, LM_HEAD),
    forward(x, aux, cache) {
      for (let i = 0; i < cfg.numLayers; i++) {
        const l = `transformer.h.${i}.`;
        if (twoNorms) x = add(add(mlp(ln(x, l + 'ln_mlp'), i), selfAttention(ln(x, l + 'ln_attn'), i, aux, cache)), x);
        else if (parallel) {
          const h = ln(x, l + 'input_layernorm');
          x = add(add(mlp(h, i), selfAttention(h, i, aux, cache)), x);
        } else {
          x = add(selfAttention(ln(x, l + 'input_layernorm'), i, aux, cache), x);
          x = add(mlp(ln(x, l + 'post_attention_layernorm'), i), x);
        }
      }
      return ln(x, 'transformer.ln_f');
    },
  };
};

export const falcon: Architecture = {
  name: 'falcon',
  classes: ['FalconForCausalLM'],
  modelTypes: ['falcon'],
  config,
  tokenDefaults: { bos: 11, eos: 11 },
  unsupported: [],
  positions: 'rope',
  mask: 'either',
  positionLimit: { key: 'max_position_embeddings', default: 2048 },
  embeddingWeight: WORD_EMBEDDINGS,
  headWeight: LM_HEAD,
  gatedMlp: false,
  build,
  forConfig: (cfg: ModelConfig) => (switches(cfg.raw).alibi ? { ...falcon, positions: 'alibi', positionLimit: null } : falcon),
};
