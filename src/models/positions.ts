/**
 * Per-batch inputs that depend only on the attention mask and positions, computed here rather than in the graph:
 * the additive attention bias (causal + padding mask, plus ALiBi), RoPE tables, and learned-position ids: whichever
 * the architecture's position scheme asks for.
 * Values follow transformers 4.40's eager attention exactly, including what fully masked rows see, since the
 * goldens compare logits at pad positions too.
 */
import { architectureOf } from './architectures.js';
import type { LayerAttention, ModelConfig } from './config.js';
import type { TensorData } from '../runtime/protocol.js';

/** torch.finfo(torch.float32).min, the value transformers writes into masked scores. */
export const FP32_MIN = -3.4028234663852886e38;

export interface AuxRequest {
  /** Attention mask over all key positions, [B][Sk] of 0/1 (soft-prompt slots included). */
  mask: number[][];
  /** Index of the first query position within the keys; queries are positions queryStart..Sk-1. */
  queryStart: number;
  /** Position ids of the queries, [B][Sq] (RoPE and learned positions). */
  positions: number[][];
  /**
   * Rows of a mixed-task batch, each to come out as if generated alone: a sliding window then counts only the row's
   * attended keys. Otherwise it counts slots, as transformers does: pads and virtual tokens use up window slots.
   */
  alone?: boolean;
}

/** ALiBi slopes as transformers' build_alibi_tensor computes them (non-power-of-2 head counts included). */
export function alibiSlopes(heads: number): number[] {
  const closest = 2 ** Math.floor(Math.log2(heads));
  const base = Math.fround(2 ** -(2 ** -(Math.log2(closest) - 3)));
  const slopes = Array.from({ length: closest }, (_, i) => Math.fround(base ** (i + 1)));
  if (closest !== heads) {
    const extraBase = Math.fround(2 ** -(2 ** -(Math.log2(2 * closest) - 3)));
    const remaining = Math.min(closest, heads - closest);
    for (let i = 0; i < remaining; i++) slopes.push(Math.fround(extraBase ** (2 * i + 1)));
  }
  return slopes;
}

/**
 * [B, Hb, Sq, Sk] additive bias. With a sliding `window` W, query i also masks keys j <= i - W (it sees W keys, itself
 * included), as transformers >= 4.42 does; a row left with no key gets the fp32 minimum everywhere (a uniform softmax).
 */
export function attentionBias(cfg: ModelConfig, req: AuxRequest, window: number | null = null): TensorData {
  const B = req.mask.length;
  const Sk = req.mask[0]?.length ?? 0;
  const Sq = Sk - req.queryStart;
  const { positions, mask: combination } = architectureOf(cfg);
  const alibi = positions === 'alibi';
  const Hb = alibi ? cfg.numHeads : 1;
  const slopes = alibi ? alibiSlopes(cfg.numHeads) : [0];
  const out = new Float32Array(B * Hb * Sq * Sk);
  for (let b = 0; b < B; b++) {
    const mask = req.mask[b];
    // ALiBi's position of a key (BLOOM's build_alibi_tensor): the number of attended keys before it (pads do not count).
    const alibiPos = new Array<number>(Sk);
    let seen = 0;
    for (let j = 0; j < Sk; j++) alibiPos[j] = mask[j] ? seen++ : 0;
    // Where a key stands for the sliding window: its slot, or (rows standing alone) its rank among attended keys.
    const slot = (j: number) => (req.alone ? alibiPos[j] : j);
    for (let h = 0; h < Hb; h++) {
      for (let qi = 0; qi < Sq; qi++) {
        const i = req.queryStart + qi;
        const row = ((b * Hb + h) * Sq + qi) * Sk;
        for (let j = 0; j < Sk; j++) {
          const future = j > i;
          const pad = !mask[j] || (window !== null && slot(i) - slot(j) >= window);
          let v: number;
          // 'sum' (GPT-2): a future pad gets both minima, i.e. -inf (see MaskCombination).
          if (combination === 'sum') v = (future ? FP32_MIN : 0) + (pad ? FP32_MIN : 0);
          else if (future || pad) v = FP32_MIN;
          else v = alibi ? slopes[h] * alibiPos[j] : 0;
          out[row + j] = v;
        }
      }
    }
  }
  return { dtype: 'float32', dims: [B, Hb, Sq, Sk], data: out };
}

/** The dims of each head that RoPE rotates: all of them, or the leading ones under partial rotary. */
export function rotaryDim(cfg: ModelConfig): number {
  return cfg.rotaryDim ?? cfg.headDim;
}

/**
 * longrope's multiplier of cos and sin (Phi-3): the attention_factor given, else sqrt(1 + ln(factor) / ln(original))
 * when the context was extended (factor > 1), else 1.
 */
function ropeAttentionFactor(cfg: ModelConfig, s: RopeSettings['scaling']): number {
  if (s?.type !== 'longrope') return 1;
  if (s.attentionFactor !== undefined) return s.attentionFactor;
  const original = s.originalMaxPositionEmbeddings ?? cfg.maxPositions ?? 1;
  return s.factor <= 1 ? 1 : Math.sqrt(1 + Math.log(s.factor) / Math.log(original));
}

/** A RoPE base and scaling: the config's, or a layer's own (LayerAttention.rope). */
export type RopeSettings = NonNullable<LayerAttention['rope']>;

/** inv_freq as transformers computes it in fp32, with rope_scaling applied. */
export function ropeInvFreq(cfg: ModelConfig, seqLen: number, rope: RopeSettings = configRope(cfg)): Float32Array {
  const d = rotaryDim(cfg);
  let base = rope.theta;
  const s = rope.scaling;
  if (s?.type === 'dynamic' && cfg.maxPositions && seqLen > cfg.maxPositions) {
    base = base * ((s.factor * seqLen) / cfg.maxPositions - (s.factor - 1)) ** (d / (d - 2));
  }
  const inv = Float32Array.from({ length: d / 2 }, (_, i) => 1 / Math.fround(base ** Math.fround((2 * i) / d)));
  if (s?.type === 'longrope') {
    // The short factors while the sequence (max position + 1) fits the original context, the long ones beyond it.
    const original = s.originalMaxPositionEmbeddings ?? cfg.maxPositions ?? Infinity;
    const ext = seqLen > original ? s.longFactor! : s.shortFactor!;
    for (let i = 0; i < inv.length; i++) inv[i] = 1 / Math.fround(Math.fround(ext[i]) * Math.fround(base ** Math.fround((2 * i) / d)));
  }
  if (s?.type === 'llama3') {
    const old = s.originalMaxPositionEmbeddings ?? 8192;
    const low = s.lowFreqFactor ?? 1;
    const high = s.highFreqFactor ?? 4;
    const lowWavelen = old / low;
    const highWavelen = old / high;
    for (let i = 0; i < inv.length; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen > lowWavelen) inv[i] = inv[i] / s.factor;
      else if (wavelen >= highWavelen) {
        const smooth = (old / wavelen - low) / (high - low);
        inv[i] = (1 - smooth) * (inv[i] / s.factor) + smooth * inv[i];
      }
    }
  }
  return inv;
}

/** RoPE cos/sin tables [B, Sq, rotary dims] for the given positions (linear scaling divides the positions). */
export function ropeTables(
  cfg: ModelConfig,
  positions: number[][],
  rope: RopeSettings = configRope(cfg),
): { cos: TensorData; sin: TensorData } {
  const B = positions.length;
  const Sq = positions[0]?.length ?? 0;
  const d = rotaryDim(cfg);
  const factor = ropeAttentionFactor(cfg, rope.scaling);
  const maxPos = positions.reduce((m, row) => row.reduce((a, p) => Math.max(a, p), m), 0) + 1;
  const inv = ropeInvFreq(cfg, maxPos, rope);
  const scale = rope.scaling?.type === 'linear' ? rope.scaling.factor : 1;
  const cos = new Float32Array(B * Sq * d);
  const sin = new Float32Array(B * Sq * d);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < Sq; t++) {
      const pos = Math.fround(positions[b][t] / scale);
      const row = (b * Sq + t) * d;
      for (let i = 0; i < d / 2; i++) {
        const angle = Math.fround(pos * inv[i]);
        cos[row + i] = cos[row + i + d / 2] = Math.fround(Math.cos(angle)) * factor;
        sin[row + i] = sin[row + i + d / 2] = Math.fround(Math.sin(angle)) * factor;
      }
    }
  }
  const dims = [B, Sq, d];
  return { cos: { dtype: 'float32', dims, data: cos }, sin: { dtype: 'float32', dims, data: sin } };
}

function configRope(cfg: ModelConfig): RopeSettings {
  return { theta: cfg.ropeTheta, scaling: cfg.ropeScaling };
}

/**
 * Graph input names of each layer's attention bias and RoPE tables, for configs whose layers differ
 * (ModelConfig.layers): `attn_bias` for full attention, `attn_bias.window<W>` per window; `rope_cos`/`rope_sin` for the
 * config's RoPE, with a suffix for a layer's own base. Layers of one kind share an input.
 */
export function layerInputNames(cfg: ModelConfig): Array<{ bias: string; cos: string; sin: string }> | null {
  return (
    cfg.layers?.map(({ window, rope }) => {
      const suffix = rope ? `.theta${rope.theta}${rope.scaling ? `.${rope.scaling.type}${rope.scaling.factor}` : ''}` : '';
      return { bias: window === null ? 'attn_bias' : `attn_bias.window${window}`, cos: `rope_cos${suffix}`, sin: `rope_sin${suffix}` };
    }) ?? null
  );
}

/** The graph inputs an architecture needs besides ids and embeddings, keyed by graph input name. */
export function auxFeeds(cfg: ModelConfig, req: AuxRequest): Record<string, TensorData> {
  const { positions, maskPositions } = architectureOf(cfg);
  if (maskPositions) req = { ...req, positions: req.mask.map((row) => maskPositions(row).slice(req.queryStart)) };
  const feeds: Record<string, TensorData> = {};
  const layers = cfg.layers ?? [{ window: null }];
  const names = layerInputNames(cfg) ?? [{ bias: 'attn_bias', cos: 'rope_cos', sin: 'rope_sin' }];
  layers.forEach(({ window, rope }, i) => {
    feeds[names[i].bias] ??= attentionBias(cfg, req, window);
    if (positions === 'rope' && !feeds[names[i].cos]) {
      const { cos, sin } = ropeTables(cfg, req.positions, rope);
      feeds[names[i].cos] = cos;
      feeds[names[i].sin] = sin;
    }
  });
  if (positions === 'learned') {
    const B = req.positions.length;
    const Sq = req.positions[0]?.length ?? 0;
    feeds.position_ids = { dtype: 'int64', dims: [B, Sq], data: BigInt64Array.from(req.positions.flat(), BigInt) };
  }
  return feeds;
}
