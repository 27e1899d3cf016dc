/** Qwen2: Llama's block with biases on the q/k/v projections (never on o_proj). */
import type { ArchitectureBuilder } from './architecture.js';
import { buildLlama } from './llama.js';

export const qwen2: ArchitectureBuilder = (cfg, p) => buildLlama(cfg, p, { qkv: true, out: false });
