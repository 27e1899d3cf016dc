/**
 * StableLM (StableLM-2, StableLM-3B-4E1T, StableLM-Zephyr): LayerNorm blocks (with bias), sequential or parallel
 * residual (x + attn(ln(x)) + mlp(ln(x)), one LayerNorm), RoPE on the first partial_rotary_factor of each head,
 * optional q/k/v biases (never on o_proj), optional per-head q/k LayerNorm (a weight per head, no bias), a gated MLP,
 * GQA heads. Follows transformers' modeling_stablelm.py.
 */
import type { Tensor } from '../graph/graph.js';
import { add, concat, gather, layerNorm, mul, reshape, unsqueeze } from '../graph/ops.js';
import { checkActivation, gatedActivation } from './activations.js';
import type { Architecture, ArchitectureBuilder, AuxTensors, KvCache } from './architecture.js';
import { evenSplit, parseRopeScaling, rotaryDims, type ConfigFields } from './config-fields.js';
import type { FamilyConfig } from './config.js';
import { attention, linear, mergeHeads, partialRope, splitHeads, withCache } from './layers.js';

const EMBED_TOKENS = 'model.embed_tokens.weight';
const LM_HEAD = 'lm_head.weight';

/** StableLmConfig: partial_rotary_factor (0.25), use_qkv_bias, qk_layernorm, use_parallel_residual (all false), untied. */
function config(f: ConfigFields, numHeads: number): FamilyConfig {
  const hiddenSize = f.int('hidden_size');
  const headDim = evenSplit(hiddenSize, numHeads, f.source);
  f.optionalBool('qk_layernorm');
  f.optionalBool('use_parallel_residual');
  return {
    hiddenSize,
    numKvHeads: f.optionalInt('num_key_value_heads') ?? 32,
    headDim,
    rotaryDim: rotaryDims(headDim, f.optionalNumber('partial_rotary_factor') ?? 0.25, 'partial_rotary_factor', f.source),
    intermediateSize: f.optionalInt('intermediate_size') ?? 6912,
    normEps: f.optionalNumber('layer_norm_eps') ?? 1e-5,
    ropeTheta: f.optionalNumber('rope_theta') ?? 10000,
    ropeScaling: parseRopeScaling(f.raw.rope_scaling, f.source),
    tieWordEmbeddings: f.optionalBool('tie_word_embeddings') ?? false,
    activation: checkActivation(f.optionalString('hidden_act') ?? 'silu', 'hidden_act', f.source, true),
    attentionBias: f.optionalBool('use_qkv_bias') ?? false,
  };
}

const build: ArchitectureBuilder = (cfg, p) => {
  const H = cfg.hiddenSize;
  const nh = cfg.numHeads;
  const nkv = cfg.numKvHeads;
  const hd = cfg.headDim;
  const I = cfg.intermediateSize;
  const eps = cfg.normEps;
  const qkNorm = cfg.raw.qk_layernorm === true;
  const parallel = cfg.raw.use_parallel_residual === true;
  const embedTokens = () => p(EMBED_TOKENS, [cfg.vocabSize, H]);
  const ln = (x: Tensor, name: string) => layerNorm(x, p(name + '.weight', [H]), p(name + '.bias', [H]), eps);

  /** StableLmLayerNormPerHead: heads [B, heads, S, d] each normed over d with its own weight `name.norms.<h>.weight`. */
  function perHeadNorm(x: Tensor, name: string, heads: number): Tensor {
    const ones = x.graph.constant(new Float32Array(hd).fill(1), [hd]);
    const normed = layerNorm(x, ones, x.graph.constant(new Float32Array(hd), [hd]), eps);
    const weights = Array.from({ length: heads }, (_, h) => unsqueeze(p(`${name}.norms.${h}.weight`, [hd]), [0]));
    return mul(normed, reshape(concat(weights, 0), [heads, 1, hd]));
  }

  function selfAttention(x: Tensor, i: number, aux: AuxTensors, cache?: KvCache): Tensor {
    const a = `model.layers.${i}.self_attn.`;
    const proj = (name: string, heads: number) => {
      const bias = cfg.attentionBias ? p(a + name + '.bias', [heads * hd]) : undefined;
      return splitHeads(linear(x, p(a + name + '.weight', [heads * hd, H]), bias), heads, hd);
    };
    const norm = (t: Tensor, name: string, heads: number) => (qkNorm ? perHeadNorm(t, a + name, heads) : t);
    const cos = unsqueeze(aux.cos!, [1]);
    const sin = unsqueeze(aux.sin!, [1]);
    const q = partialRope(norm(proj('q_proj', nh), 'q_layernorm', nh), cos, sin, cfg.rotaryDim!);
    const k = partialRope(norm(proj('k_proj', nkv), 'k_layernorm', nkv), cos, sin, cfg.rotaryDim!);
    const [kc, vc] = withCache(cache, i, k, proj('v_proj', nkv));
    const out = attention(q, kc, vc, aux.bias, 1 / Math.sqrt(hd));
    return linear(mergeHeads(out, nh, hd), p(a + 'o_proj.weight', [H, nh * hd]));
  }

  function mlp(x: Tensor, i: number): Tensor {
    const m = `model.layers.${i}.mlp.`;
    const gate = linear(x, p(m + 'gate_proj.weight', [I, H]));
    const up = linear(x, p(m + 'up_proj.weight', [I, H]));
    return linear(gatedActivation(cfg.activation, gate, up), p(m + 'down_proj.weight', [H, I]));
  }

  return {
    embed: (ids) => gather(embedTokens(), ids, 0),
    forward(x, aux, cache) {
      for (let i = 0; i < cfg.numLayers; i++) {
        const l = `model.layers.${i}.`;
        const h = ln(x, l + 'input_layernorm');
        if (parallel) x = add(add(x, selfAttention(h, i, aux, cache)), mlp(h, i));
        else {
          x = add(x, selfAttention(h, i, aux, cache));
          x = add(x, mlp(ln(x, l + 'post_attention_layernorm'), i));
        }
      }
      return ln(x, 'model.norm');
    },
    headWeight: () => (cfg.tieWordEmbeddings ? embedTokens() : p(LM_HEAD, [cfg.vocabSize, H])),
    head(h) {
      return linear(h, this.headWeight());
    },
  };
};

export const stablelm: Architecture = {
  name: 'stablelm',
  classes: ['StableLmForCausalLM'],
  modelTypes: ['stablelm'],
  config,
  tokenDefaults: { bos: 0, eos: 0 },
  unsupported: [],
  positions: 'rope',
  mask: 'either',
  positionLimit: { key: 'max_position_embeddings', default: 4096 },
  embeddingWeight: EMBED_TOKENS,
  headWeight: LM_HEAD,
  gatedMlp: true,
  build,
};
