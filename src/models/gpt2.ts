/**
 * GPT-2: learned positions, LayerNorm pre-norm blocks, Conv1D weights ([in, out]) with [Q|K|V] blocks in c_attn,
 * gelu_new MLP, tied head. Follows transformers' modeling_gpt2.py.
 */
import type { Tensor } from '../graph/graph.js';
import { add, gather, layerNorm, split } from '../graph/ops.js';
import type { ArchitectureBuilder, AuxTensors, KvCache } from './architecture.js';
import { attention, conv1d, geluTanh, linear, mergeHeads, splitHeads, withCache } from './layers.js';

export const gpt2: ArchitectureBuilder = (cfg, p) => {
  const H = cfg.hiddenSize;
  const nh = cfg.numHeads;
  const hd = cfg.headDim;
  const I = cfg.intermediateSize;
  const eps = cfg.normEps;
  const wte = () => p('transformer.wte.weight', [cfg.vocabSize, H]);
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
    const h = geluTanh(conv1d(x, p(m + 'c_fc.weight', [H, I]), p(m + 'c_fc.bias', [I])));
    return conv1d(h, p(m + 'c_proj.weight', [I, H]), p(m + 'c_proj.bias', [H]));
  }

  return {
    embed: (ids) => gather(wte(), ids, 0),
    forward(x, aux, cache) {
      x = add(x, gather(p('transformer.wpe.weight', [cfg.maxPositions!, H]), aux.positionIds!, 0));
      for (let i = 0; i < cfg.numLayers; i++) {
        x = add(x, attn(ln(x, `transformer.h.${i}.ln_1`), i, aux, cache));
        x = add(x, mlp(ln(x, `transformer.h.${i}.ln_2`), i));
      }
      return ln(x, 'transformer.ln_f');
    },
    headWeight: () => wte(),
    head(h) {
      return linear(h, this.headWeight());
    },
  };
};
