/**
 * GPT-NeoX (Pythia): fused query_key_value laid out per head as [q | k | v], RoPE on the first rotary_pct of each
 * head, LayerNorm blocks with a parallel residual (x + attn(ln1(x)) + mlp(ln2(x))) or a sequential one, a GELU MLP and
 * an untied embed_out. Its eager attention adds the padding mask to already causally masked scores ('sum').
 * Follows transformers' modeling_gpt_neox.py.
 */
import type { Tensor } from '../graph/graph.js';
import { add, layerNorm, unsqueeze } from '../graph/ops.js';
import { activation, checkActivation } from './activations.js';
import type { Architecture, ArchitectureBuilder, AuxTensors, KvCache } from './architecture.js';
import { evenSplit, parseRopeScaling, rotaryDims, type ConfigFields } from './config-fields.js';
import type { FamilyConfig } from './config.js';
import { attention, embeddingsAndHead, linear, mergeHeads, partialRope, splitQkvPerHead, withCache } from './layers.js';

const EMBED_IN = 'gpt_neox.embed_in.weight';
const EMBED_OUT = 'embed_out.weight';

/** GPTNeoXConfig: rotary_pct (0.25), rotary_emb_base (later rope_theta), use_parallel_residual (true), untied. */
function config(f: ConfigFields, numHeads: number): FamilyConfig {
  const hiddenSize = f.int('hidden_size');
  const headDim = evenSplit(hiddenSize, numHeads, f.source);
  f.optionalBool('use_parallel_residual');
  return {
    hiddenSize,
    numKvHeads: numHeads,
    headDim,
    rotaryDim: rotaryDims(headDim, f.optionalNumber('rotary_pct') ?? 0.25, 'rotary_pct', f.source),
    intermediateSize: f.optionalInt('intermediate_size') ?? 24576,
    normEps: f.optionalNumber('layer_norm_eps') ?? 1e-5,
    ropeTheta: f.optionalNumber('rotary_emb_base') ?? f.optionalNumber('rope_theta') ?? 10000,
    ropeScaling: parseRopeScaling(f.raw.rope_scaling, f.source),
    tieWordEmbeddings: f.optionalBool('tie_word_embeddings') ?? false,
    activation: checkActivation(f.optionalString('hidden_act') ?? 'gelu', 'hidden_act', f.source, false),
    attentionBias: f.optionalBool('attention_bias') ?? true,
  };
}

const build: ArchitectureBuilder = (cfg, p) => {
  const H = cfg.hiddenSize;
  const nh = cfg.numHeads;
  const hd = cfg.headDim;
  const I = cfg.intermediateSize;
  const eps = cfg.normEps;
  const parallel = cfg.raw.use_parallel_residual !== false;
  const ln = (x: Tensor, name: string) => layerNorm(x, p(name + '.weight', [H]), p(name + '.bias', [H]), eps);
  const bias = (name: string, size: number) => (cfg.attentionBias ? p(name, [size]) : undefined);

  function selfAttention(x: Tensor, i: number, aux: AuxTensors, cache?: KvCache): Tensor {
    const a = `gpt_neox.layers.${i}.attention.`;
    const fused = linear(x, p(a + 'query_key_value.weight', [3 * H, H]), bias(a + 'query_key_value.bias', 3 * H));
    const [q, k, v] = splitQkvPerHead(fused, nh, hd);
    const cos = unsqueeze(aux.cos!, [1]);
    const sin = unsqueeze(aux.sin!, [1]);
    const [kc, vc] = withCache(cache, i, partialRope(k, cos, sin, cfg.rotaryDim!), v);
    const out = attention(partialRope(q, cos, sin, cfg.rotaryDim!), kc, vc, aux.bias, 1 / Math.sqrt(hd));
    return linear(mergeHeads(out, nh, hd), p(a + 'dense.weight', [H, H]), bias(a + 'dense.bias', H));
  }

  function mlp(x: Tensor, i: number): Tensor {
    const m = `gpt_neox.layers.${i}.mlp.`;
    const h = activation(cfg.activation)(linear(x, p(m + 'dense_h_to_4h.weight', [I, H]), p(m + 'dense_h_to_4h.bias', [I])));
    return linear(h, p(m + 'dense_4h_to_h.weight', [H, I]), p(m + 'dense_4h_to_h.bias', [H]));
  }

  return {
    ...embeddingsAndHead(cfg, p, EMBED_IN, EMBED_OUT),
    forward(x, aux, cache) {
      for (let i = 0; i < cfg.numLayers; i++) {
        const l = `gpt_neox.layers.${i}.`;
        const attn = selfAttention(ln(x, l + 'input_layernorm'), i, aux, cache);
        if (parallel) x = add(add(mlp(ln(x, l + 'post_attention_layernorm'), i), attn), x);
        else {
          x = add(attn, x);
          x = add(mlp(ln(x, l + 'post_attention_layernorm'), i), x);
        }
      }
      return ln(x, 'gpt_neox.final_layer_norm');
    },
  };
};

export const gptNeox: Architecture = {
  name: 'gpt-neox',
  classes: ['GPTNeoXForCausalLM'],
  modelTypes: ['gpt_neox'],
  config,
  tokenDefaults: { bos: 0, eos: 2 },
  unsupported: [],
  positions: 'rope',
  mask: 'sum',
  positionLimit: { key: 'max_position_embeddings', default: 2048 },
  embeddingWeight: EMBED_IN,
  headWeight: EMBED_OUT,
  gatedMlp: false,
  build,
};
