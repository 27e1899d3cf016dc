/**
 * Llama (and, with q/k/v biases, Qwen2): RMSNorm pre-norm blocks, RoPE attention with grouped-query heads, SwiGLU MLP.
 * Follows transformers' modeling_llama.py.
 */
import type { Tensor } from '../graph/graph.js';
import { add, gather, swiGlu, unsqueeze } from '../graph/ops.js';
import type { ArchitectureBuilder, AuxTensors, KvCache, Param } from './architecture.js';
import type { ModelConfig } from './config.js';
import { attention, linear, mergeHeads, rmsNorm, rope, splitHeads, withCache } from './layers.js';

export interface LlamaBiases {
  qkv: boolean;
  out: boolean;
}

export function buildLlama(cfg: ModelConfig, p: Param, biases: LlamaBiases): ReturnType<ArchitectureBuilder> {
  const H = cfg.hiddenSize;
  const hd = cfg.headDim;
  const nh = cfg.numHeads;
  const nkv = cfg.numKvHeads;
  const I = cfg.intermediateSize;
  const eps = cfg.normEps;
  const embedTokens = () => p('model.embed_tokens.weight', [cfg.vocabSize, H]);

  function selfAttention(x: Tensor, i: number, aux: AuxTensors, cache?: KvCache): Tensor {
    const a = `model.layers.${i}.self_attn.`;
    const bias = (name: string, size: number) => (biases.qkv ? p(a + name, [size]) : undefined);
    const q = linear(x, p(a + 'q_proj.weight', [nh * hd, H]), bias('q_proj.bias', nh * hd));
    const k = linear(x, p(a + 'k_proj.weight', [nkv * hd, H]), bias('k_proj.bias', nkv * hd));
    const v = linear(x, p(a + 'v_proj.weight', [nkv * hd, H]), bias('v_proj.bias', nkv * hd));
    const cos = unsqueeze(aux.cos!, [1]);
    const sin = unsqueeze(aux.sin!, [1]);
    const qh = rope(splitHeads(q, nh, hd), cos, sin);
    const [kh, vh] = withCache(cache, i, rope(splitHeads(k, nkv, hd), cos, sin), splitHeads(v, nkv, hd));
    const out = attention(qh, kh, vh, aux.bias, 1 / Math.sqrt(hd));
    return linear(mergeHeads(out, nh, hd), p(a + 'o_proj.weight', [H, nh * hd]), biases.out ? p(a + 'o_proj.bias', [H]) : undefined);
  }

  function mlp(x: Tensor, i: number): Tensor {
    const m = `model.layers.${i}.mlp.`;
    const gate = linear(x, p(m + 'gate_proj.weight', [I, H]));
    const up = linear(x, p(m + 'up_proj.weight', [I, H]));
    return linear(swiGlu(gate, up), p(m + 'down_proj.weight', [H, I]));
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
    headWeight: () => cfg.tieWordEmbeddings ? embedTokens() : p('lm_head.weight', [cfg.vocabSize, H]),
    head(h) {
      return linear(h, this.headWeight());
    },
  };
}

export const llama: ArchitectureBuilder = (cfg, p) => buildLlama(cfg, p, { qkv: cfg.attentionBias, out: cfg.attentionBias });
