/**
 * StableLM (StableLM-2, StableLM-3B-4E1T, StableLM-Zephyr): LayerNorm blocks (with bias), sequential or parallel
 * residual (x + attn(ln(x)) + mlp(ln(x)), one LayerNorm), RoPE on the first partial_rotary_factor of each head,
 * optional q/k/v biases (never on o_proj), optional per-head q/k LayerNorm (a weight per head, no bias), a gated MLP,
 * GQA heads. Follows transformers' modeling_stablelm.py.
 */
import type { Tensor } from '../graph/graph.js';
import { add, concat, layerNorm, mul, reshape, unsqueeze } from '../graph/ops.js';
import type { Architecture, ArchitectureBuilder } from './architecture.js';
import { rotaryDims, type ConfigFields } from './config-fields.js';
import type { FamilyConfig } from './config.js';
import { llama, llamaBlocks, llamaConfig, llamaEmbeddings } from './llama.js';

/** StableLmConfig: partial_rotary_factor (0.25), use_qkv_bias, qk_layernorm, use_parallel_residual (all false), untied. */
function config(f: ConfigFields, numHeads: number): FamilyConfig {
  f.optionalBool('qk_layernorm');
  f.optionalBool('use_parallel_residual');
  const keys = { headDim: null, normEps: 'layer_norm_eps', attentionBias: 'use_qkv_bias' };
  const base = llamaConfig(f, numHeads, { numKvHeads: 32, intermediateSize: 6912, normEps: 1e-5, keys });
  const rotaryDim = rotaryDims(base.headDim, f.optionalNumber('partial_rotary_factor') ?? 0.25, 'partial_rotary_factor', f.source);
  return { ...base, rotaryDim };
}

const build: ArchitectureBuilder = (cfg, p) => {
  const H = cfg.hiddenSize;
  const hd = cfg.headDim;
  const eps = cfg.normEps;
  const parallel = cfg.raw.use_parallel_residual === true;
  const ln = (x: Tensor, name: string) => layerNorm(x, p(name + '.weight', [H]), p(name + '.bias', [H]), eps);

  /** StableLmLayerNormPerHead: heads [B, heads, S, d] each normed over d with its own weight `name.norms.<h>.weight`. */
  function perHeadNorm(x: Tensor, name: string, heads: number): Tensor {
    const ones = x.graph.constant(new Float32Array(hd).fill(1), [hd]);
    const normed = layerNorm(x, ones, x.graph.constant(new Float32Array(hd), [hd]), eps);
    const weights = Array.from({ length: heads }, (_, h) => unsqueeze(p(`${name}.norms.${h}.weight`, [hd]), [0]));
    return mul(normed, reshape(concat(weights, 0), [heads, 1, hd]));
  }

  const { selfAttention, mlp } = llamaBlocks(cfg, p, {
    qkvBias: cfg.attentionBias,
    qkNorm: cfg.raw.qk_layernorm === true ? (x, attn, which, heads) => perHeadNorm(x, `${attn}${which}_layernorm`, heads) : undefined,
  });

  return {
    ...llamaEmbeddings(cfg, p),
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
  };
};

export const stablelm: Architecture = {
  ...llama,
  name: 'stablelm',
  classes: ['StableLmForCausalLM'],
  modelTypes: ['stablelm'],
  config,
  tokenDefaults: { bos: 0, eos: 0 },
  unsupported: [],
  positionLimit: { key: 'max_position_embeddings', default: 4096 },
  build,
};
