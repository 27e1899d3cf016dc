/**
 * SmolLM3: Llama's block where `no_rope_layers[i]` = 0 marks a layer without RoPE (NoPE): its q and k are not rotated.
 * Tied head and rope_theta 2e6 by default. Follows transformers' modeling_smollm3.py.
 */
import type { Tensor } from '../graph/graph.js';
import { add, gather, unsqueeze } from '../graph/ops.js';
import { FormatError } from '../errors.js';
import { checkActivation, gatedActivation } from './activations.js';
import type { Architecture, ArchitectureBuilder, AuxTensors, KvCache } from './architecture.js';
import { evenSplit, parseRopeScaling, type ConfigFields } from './config-fields.js';
import type { FamilyConfig, ModelConfig } from './config.js';
import { attention, linear, mergeHeads, rmsNorm, rope, splitHeads, withCache } from './layers.js';

const EMBED_TOKENS = 'model.embed_tokens.weight';
const LM_HEAD = 'lm_head.weight';

/**
 * Which layers rotate q and k: config.json's `no_rope_layers` (1 = RoPE, 0 = NoPE), else every
 * `no_rope_layer_interval`-th layer (default 4) is NoPE, as SmolLM3Config fills it in.
 */
function ropeLayers(raw: Record<string, unknown>, numLayers: number, source: string): boolean[] {
  const listed = raw.no_rope_layers;
  if (listed === undefined || listed === null) {
    const interval = (raw.no_rope_layer_interval as number | undefined) ?? 4;
    return Array.from({ length: numLayers }, (_, i) => (i + 1) % interval !== 0);
  }
  if (!Array.isArray(listed) || listed.length !== numLayers || !listed.every((v) => v === 0 || v === 1)) {
    throw new FormatError(`no_rope_layers is ${JSON.stringify(listed)}; expected ${numLayers} values of 0 or 1`, source);
  }
  return listed.map((v) => v === 1);
}

/** SmolLM3Config: tied by default, rope_theta 2e6; mlp_bias adds biases to the MLP projections. */
function config(f: ConfigFields, numHeads: number): FamilyConfig {
  const hiddenSize = f.int('hidden_size');
  ropeLayers(f.raw, f.int('num_hidden_layers'), f.source);
  f.optionalInt('no_rope_layer_interval');
  f.optionalBool('mlp_bias');
  return {
    hiddenSize,
    numKvHeads: f.optionalInt('num_key_value_heads') ?? numHeads,
    headDim: f.optionalInt('head_dim') ?? evenSplit(hiddenSize, numHeads, f.source),
    intermediateSize: f.int('intermediate_size'),
    normEps: f.optionalNumber('rms_norm_eps') ?? 1e-6,
    ropeTheta: f.optionalNumber('rope_theta') ?? 2000000,
    ropeScaling: parseRopeScaling(f.raw.rope_scaling, f.source),
    tieWordEmbeddings: f.optionalBool('tie_word_embeddings') ?? true,
    activation: checkActivation(f.optionalString('hidden_act') ?? 'silu', 'hidden_act', f.source, true),
    attentionBias: f.optionalBool('attention_bias') ?? false,
  };
}

const build: ArchitectureBuilder = (cfg: ModelConfig, p) => {
  const H = cfg.hiddenSize;
  const hd = cfg.headDim;
  const nh = cfg.numHeads;
  const nkv = cfg.numKvHeads;
  const I = cfg.intermediateSize;
  const eps = cfg.normEps;
  const usesRope = ropeLayers(cfg.raw, cfg.numLayers, 'config.json');
  const mlpBias = cfg.raw.mlp_bias === true;
  const embedTokens = () => p(EMBED_TOKENS, [cfg.vocabSize, H]);

  function selfAttention(x: Tensor, i: number, aux: AuxTensors, cache?: KvCache): Tensor {
    const a = `model.layers.${i}.self_attn.`;
    const bias = (name: string, size: number) => (cfg.attentionBias ? p(a + name, [size]) : undefined);
    const q = linear(x, p(a + 'q_proj.weight', [nh * hd, H]), bias('q_proj.bias', nh * hd));
    const k = linear(x, p(a + 'k_proj.weight', [nkv * hd, H]), bias('k_proj.bias', nkv * hd));
    const v = linear(x, p(a + 'v_proj.weight', [nkv * hd, H]), bias('v_proj.bias', nkv * hd));
    const cos = unsqueeze(aux.cos!, [1]);
    const sin = unsqueeze(aux.sin!, [1]);
    const rotate = (t: Tensor) => (usesRope[i] ? rope(t, cos, sin) : t);
    const qh = rotate(splitHeads(q, nh, hd));
    const [kh, vh] = withCache(cache, i, rotate(splitHeads(k, nkv, hd)), splitHeads(v, nkv, hd));
    const out = attention(qh, kh, vh, aux.bias, 1 / Math.sqrt(hd));
    return linear(mergeHeads(out, nh, hd), p(a + 'o_proj.weight', [H, nh * hd]), bias('o_proj.bias', H));
  }

  function mlp(x: Tensor, i: number): Tensor {
    const m = `model.layers.${i}.mlp.`;
    const bias = (name: string, size: number) => (mlpBias ? p(m + name, [size]) : undefined);
    const gate = linear(x, p(m + 'gate_proj.weight', [I, H]), bias('gate_proj.bias', I));
    const up = linear(x, p(m + 'up_proj.weight', [I, H]), bias('up_proj.bias', I));
    return linear(gatedActivation(cfg.activation, gate, up), p(m + 'down_proj.weight', [H, I]), bias('down_proj.bias', H));
  }

  return {
    embed: (ids) => gather(embedTokens(), ids, 0),
    forward(x, aux, cache) {
      for (let i = 0; i < cfg.numLayers; i++) {
        const l = `model.layers.${i}.`;
        x = add(x, selfAttention(rmsNorm(x, p(l + 'input_layernorm.weight', [H]), eps), i, aux, cache));
        x = add(x, mlp(rmsNorm(x, p(l + 'post_attention_layernorm.weight', [H]), eps), i));
      }
      return rmsNorm(x, p('model.norm.weight', [H]), eps);
    },
    headWeight: () => (cfg.tieWordEmbeddings ? embedTokens() : p(LM_HEAD, [cfg.vocabSize, H])),
    head(h) {
      return linear(h, this.headWeight());
    },
  };
};

export const smollm3: Architecture = {
  name: 'smollm3',
  classes: ['SmolLM3ForCausalLM'],
  modelTypes: ['smollm3'],
  config,
  tokenDefaults: { bos: 128000, eos: 128001 },
  unsupported: [['use_sliding_window', true]],
  positions: 'rope',
  mask: 'either',
  positionLimit: { key: 'max_position_embeddings', default: 32768 },
  embeddingWeight: EMBED_TOKENS,
  headWeight: LM_HEAD,
  gatedMlp: true,
  build,
};
