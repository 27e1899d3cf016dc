/**
 * Llama: RMSNorm pre-norm blocks, RoPE attention with grouped-query heads, SwiGLU MLP. Follows transformers'
 * modeling_llama.py. Its config reader and blocks take the few switches by which the Llama-like families (Qwen2/3,
 * Mistral, OLMo 2, Granite, SmolLM3, Phi-3, StableLM, Gemma) differ; each of those files says which it flips.
 */
import type { Tensor } from '../graph/graph.js';
import { add, split, unsqueeze } from '../graph/ops.js';
import { checkActivation, gatedActivation } from './activations.js';
import type { Architecture, AuxTensors, CausalLM, KvCache, Param } from './architecture.js';
import { evenSplit, parseRopeScaling, type ConfigFields } from './config-fields.js';
import type { FamilyConfig, ModelConfig } from './config.js';
import { attention, embeddingsAndHead, linear, mergeHeads, partialRope, rmsNorm, splitHeads, withCache } from './layers.js';

const EMBED_TOKENS = 'model.embed_tokens.weight';
const LM_HEAD = 'lm_head.weight';

/** What a Llama-like config class defaults (when the key is absent) or spells differently from LlamaConfig. */
export interface LlamaDefaults {
  /** Absent: the attention heads (MHA). */
  numKvHeads?: number;
  /** Absent: hidden size / heads. */
  headDim?: number;
  /** Absent: intermediate_size is required. */
  intermediateSize?: number;
  normEps?: number;
  ropeTheta?: number;
  tieWordEmbeddings?: boolean;
  activation?: string;
  /** Keys the class spells otherwise; null where it has no such key (head_dim: always hidden / heads; no biases). */
  keys?: { headDim?: null; normEps?: string; activation?: string; attentionBias?: string | null };
}

/** LlamaConfig: GQA heads, an explicit head_dim may break hidden = heads × head_dim; `d` holds a family's changes. */
export function llamaConfig(f: ConfigFields, numHeads: number, d: LlamaDefaults = {}): FamilyConfig {
  const keys = { headDim: 'head_dim', normEps: 'rms_norm_eps', activation: 'hidden_act', attentionBias: 'attention_bias', ...d.keys };
  const hiddenSize = f.int('hidden_size');
  return {
    hiddenSize,
    numKvHeads: f.optionalInt('num_key_value_heads') ?? d.numKvHeads ?? numHeads,
    headDim: (keys.headDim === null ? null : f.optionalInt(keys.headDim)) ?? d.headDim ?? evenSplit(hiddenSize, numHeads, f.source),
    intermediateSize: d.intermediateSize === undefined ? f.int('intermediate_size') : f.optionalInt('intermediate_size') ?? d.intermediateSize,
    normEps: f.optionalNumber(keys.normEps) ?? d.normEps ?? 1e-6,
    ropeTheta: f.optionalNumber('rope_theta') ?? d.ropeTheta ?? 10000,
    ropeScaling: parseRopeScaling(f.raw.rope_scaling, f.source),
    tieWordEmbeddings: f.optionalBool('tie_word_embeddings') ?? d.tieWordEmbeddings ?? false,
    activation: checkActivation(f.optionalString(keys.activation) ?? d.activation ?? 'silu', keys.activation, f.source, true),
    attentionBias: (keys.attentionBias === null ? null : f.optionalBool(keys.attentionBias)) ?? false,
  };
}

/** What a Llama-like family changes in the attention and MLP blocks; absent: Llama's. */
export interface LlamaBlockOptions {
  /** Biases on the q/k/v projections, on o_proj, on the MLP's three projections. */
  qkvBias?: boolean;
  outBias?: boolean;
  mlpBias?: boolean;
  /** Fused projections (Phi-3): `qkv_proj` rows [q; k; v] and `gate_up_proj` rows [gate; up]. */
  fused?: boolean;
  /**
   * q_norm/k_norm: applied to q and k per head [B, heads, S, d] before RoPE (Qwen3, Gemma3, StableLM), or with
   * `qkNormBeforeSplit` to the whole projection [B, S, heads × d] (OLMo 2). `attn` is the layer's `…self_attn.` prefix.
   */
  qkNorm?: (x: Tensor, attn: string, which: 'q' | 'k', heads: number) => Tensor;
  qkNormBeforeSplit?: boolean;
  /** Whether layer i rotates q and k (SmolLM3's NoPE layers do not); absent: every layer. */
  rotates?: (layer: number) => boolean;
  /** Attention score scale (absent: 1/sqrt(head_dim)) and soft-cap before the mask (Gemma2). */
  scale?: number;
  softcap?: number | null;
}

/** Llama's attention and MLP of layer `i`, with a family's changes; RoPE turns cfg.rotaryDim dims when set. */
export function llamaBlocks(cfg: ModelConfig, p: Param, o: LlamaBlockOptions = {}) {
  const H = cfg.hiddenSize;
  const hd = cfg.headDim;
  const nh = cfg.numHeads;
  const nkv = cfg.numKvHeads;
  const I = cfg.intermediateSize;
  const scale = o.scale ?? 1 / Math.sqrt(hd);

  function selfAttention(x: Tensor, i: number, aux: AuxTensors, cache?: KvCache): Tensor {
    const a = `model.layers.${i}.self_attn.`;
    const { bias: mask, cos: c, sin: s } = aux.layers?.[i] ?? aux;
    const bias = (name: string, size: number) => (o.qkvBias ? p(a + name, [size]) : undefined);
    let [q, k, v] = o.fused
      ? split(linear(x, p(a + 'qkv_proj.weight', [(nh + 2 * nkv) * hd, H])), [nh * hd, nkv * hd, nkv * hd], -1)
      : [
          linear(x, p(a + 'q_proj.weight', [nh * hd, H]), bias('q_proj.bias', nh * hd)),
          linear(x, p(a + 'k_proj.weight', [nkv * hd, H]), bias('k_proj.bias', nkv * hd)),
          linear(x, p(a + 'v_proj.weight', [nkv * hd, H]), bias('v_proj.bias', nkv * hd)),
        ];
    const norm = (t: Tensor, which: 'q' | 'k', heads: number) => (o.qkNorm ? o.qkNorm(t, a, which, heads) : t);
    if (o.qkNormBeforeSplit) [q, k] = [norm(q, 'q', nh), norm(k, 'k', nkv)];
    let [qh, kh] = [splitHeads(q, nh, hd), splitHeads(k, nkv, hd)];
    if (!o.qkNormBeforeSplit) [qh, kh] = [norm(qh, 'q', nh), norm(kh, 'k', nkv)];
    if (o.rotates?.(i) ?? true) {
      const cos = unsqueeze(c!, [1]);
      const sin = unsqueeze(s!, [1]);
      [qh, kh] = [partialRope(qh, cos, sin, cfg.rotaryDim ?? hd), partialRope(kh, cos, sin, cfg.rotaryDim ?? hd)];
    }
    const [kc, vc] = withCache(cache, i, kh, splitHeads(v, nkv, hd));
    const out = attention(qh, kc, vc, mask, scale, o.softcap ?? null);
    return linear(mergeHeads(out, nh, hd), p(a + 'o_proj.weight', [H, nh * hd]), o.outBias ? p(a + 'o_proj.bias', [H]) : undefined);
  }

  function mlp(x: Tensor, i: number): Tensor {
    const m = `model.layers.${i}.mlp.`;
    const bias = (name: string, size: number) => (o.mlpBias ? p(m + name, [size]) : undefined);
    const [gate, up] = o.fused
      ? split(linear(x, p(m + 'gate_up_proj.weight', [2 * I, H])), [I, I], -1)
      : [linear(x, p(m + 'gate_proj.weight', [I, H]), bias('gate_proj.bias', I)), linear(x, p(m + 'up_proj.weight', [I, H]), bias('up_proj.bias', I))];
    return linear(gatedActivation(cfg.activation, gate, up), p(m + 'down_proj.weight', [H, I]), bias('down_proj.bias', H));
  }

  return { selfAttention, mlp };
}

/** The token embedding table and the head (that table when tied, else lm_head) of every Llama-like family. */
export const llamaEmbeddings = (cfg: ModelConfig, p: Param) => embeddingsAndHead(cfg, p, EMBED_TOKENS, LM_HEAD);

export function buildLlama(cfg: ModelConfig, p: Param, o: LlamaBlockOptions = {}): CausalLM {
  const H = cfg.hiddenSize;
  const eps = cfg.normEps;
  const { selfAttention, mlp } = llamaBlocks(cfg, p, o);

  return {
    ...llamaEmbeddings(cfg, p),
    forward(x, aux, cache) {
      for (let i = 0; i < cfg.numLayers; i++) {
        const l = `model.layers.${i}.`;
        x = add(x, selfAttention(rmsNorm(x, p(l + 'input_layernorm.weight', [H]), eps), i, aux, cache));
        x = add(x, mlp(rmsNorm(x, p(l + 'post_attention_layernorm.weight', [H]), eps), i));
      }
      return rmsNorm(x, p('model.norm.weight', [H]), eps);
    },
  };
}

export const llama: Architecture = {
  name: 'llama',
  classes: ['LlamaForCausalLM'],
  modelTypes: ['llama'],
  config: llamaConfig,
  tokenDefaults: { bos: 1, eos: 2 },
  unsupported: [['mlp_bias', true]],
  positions: 'rope',
  mask: 'either',
  positionLimit: { key: 'max_position_embeddings', default: 2048 },
  embeddingWeight: EMBED_TOKENS,
  headWeight: LM_HEAD,
  gatedMlp: true,
  build: (cfg, p) => buildLlama(cfg, p, { qkvBias: cfg.attentionBias, outBias: cfg.attentionBias }),
};
