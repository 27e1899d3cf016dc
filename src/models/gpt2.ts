/**
 * GPT-2: learned positions, LayerNorm pre-norm blocks, Conv1D weights ([in, out]) with [Q|K|V] blocks in c_attn,
 * gelu_new MLP, tied head. Follows transformers' modeling_gpt2.py.
 */
import type { Tensor } from '../graph/graph.js';
import { add, gather, layerNorm, split } from '../graph/ops.js';
import type { Architecture, ArchitectureBuilder, AuxTensors, KvCache } from './architecture.js';
import { evenSplit, type ConfigFields } from './config-fields.js';
import type { FamilyConfig } from './config.js';
import { activation, checkActivation } from './activations.js';
import { attention, conv1d, embeddingsAndHead, mergeHeads, splitHeads, withCache } from './layers.js';

const WTE = 'transformer.wte.weight';

/** GPT2Config: `n_embd`, `n_inner` (null means 4 × n_embd), `activation_function`. */
function config(f: ConfigFields, numHeads: number): FamilyConfig {
  const hiddenSize = f.int('n_embd', 'hidden_size');
  return {
    hiddenSize,
    numKvHeads: numHeads,
    headDim: evenSplit(hiddenSize, numHeads, f.source),
    intermediateSize: f.optionalInt('n_inner') ?? 4 * hiddenSize,
    normEps: f.optionalNumber('layer_norm_epsilon') ?? 1e-5,
    ropeTheta: 10000,
    ropeScaling: null,
    tieWordEmbeddings: true,
    activation: checkActivation(f.optionalString('activation_function') ?? 'gelu_new', 'activation_function', f.source, false),
    attentionBias: true,
  };
}

const build: ArchitectureBuilder = (cfg, p) => {
  const H = cfg.hiddenSize;
  const nh = cfg.numHeads;
  const hd = cfg.headDim;
  const I = cfg.intermediateSize;
  const eps = cfg.normEps;
  const ln = (x: Tensor, name: string) => layerNorm(x, p(name + '.weight', [H]), p(name + '.bias', [H]), eps);

  function attn(x: Tensor, i: number, aux: AuxTensors, cache?: KvCache): Tensor {
    const a = `transformer.h.${i}.attn.`;
    const qkv = conv1d(x, p(a + 'c_attn.weight', [H, 3 * H]), p(a + 'c_attn.bias', [3 * H]));
    const [q, k, v] = split(qkv, [H, H, H], -1).map((t) => splitHeads(t, nh, hd));
    const [kc, vc] = withCache(cache, i, k, v);
    const out = attention(q, kc, vc, aux.bias, 1 / Math.sqrt(hd));
    return conv1d(mergeHeads(out, nh, hd), p(a + 'c_proj.weight', [H, H]), p(a + 'c_proj.bias', [H]));
  }

  function mlp(x: Tensor, i: number): Tensor {
    const m = `transformer.h.${i}.mlp.`;
    const h = activation(cfg.activation)(conv1d(x, p(m + 'c_fc.weight', [H, I]), p(m + 'c_fc.bias', [I])));
    return conv1d(h, p(m + 'c_proj.weight', [I, H]), p(m + 'c_proj.bias', [H]));
  }

  return {
    ...embeddingsAndHead(cfg, p, WTE, null),
    forward(x, aux, cache) {
      x = add(x, gather(p('transformer.wpe.weight', [cfg.maxPositions!, H]), aux.positionIds!, 0));
      for (let i = 0; i < cfg.numLayers; i++) {
        x = add(x, attn(ln(x, `transformer.h.${i}.ln_1`), i, aux, cache));
        x = add(x, mlp(ln(x, `transformer.h.${i}.ln_2`), i));
      }
      return ln(x, 'transformer.ln_f');
    },
  };
};

export const gpt2: Architecture = {
  name: 'gpt2',
  classes: ['GPT2LMHeadModel'],
  modelTypes: ['gpt2'],
  config,
  tokenDefaults: { bos: 50256, eos: 50256 },
  unsupported: [['scale_attn_by_inverse_layer_idx', true], ['scale_attn_weights', false]],
  positions: 'learned',
  mask: 'sum',
  positionLimit: { key: 'n_positions', default: 1024 },
  embeddingWeight: WTE,
  headWeight: null,
  gatedMlp: false,
  build,
};
