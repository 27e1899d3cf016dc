/**
 * `node dist/bench/profile.js [--layers 4 --hidden 1024 --vocab 8192 --batch 4 --seq 128 --virtual 8]`: one
 * prompt-gradient step of a BLOOM-shaped random model run in-process with onnxruntime's profiler, printing time per
 * op type, the slowest nodes, and the largest set of tensors alive at once in the order onnxruntime ran the nodes —
 * where to look before optimising the engine's time or memory.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { parseModelConfig } from '../src/models/config.js';
import { buildGraph } from '../src/models/graphs.js';
import { shiftedTargets } from '../src/models/model.js';
import { auxFeeds } from '../src/models/positions.js';
import { parseRowView } from '../src/runtime/protocol.js';
import { randomFloats, randomWeights } from './util.js';
import { elementCount } from '../src/shape.js';

const { values } = parseArgs({
  options: Object.fromEntries(
    ['layers:4', 'hidden:1024', 'vocab:8192', 'batch:4', 'seq:128', 'virtual:8', 'runs:3'].map((s) => {
      const [k, v] = s.split(':');
      return [k, { type: 'string' as const, default: v }];
    }),
  ),
});
const [L, H, V, B, T, n, runs] = ['layers', 'hidden', 'vocab', 'batch', 'seq', 'virtual', 'runs'].map((k) => Number(values[k]));
const cfg = parseModelConfig(
  { architectures: ['BloomForCausalLM'], hidden_size: H, n_head: H / 64, n_layer: L, vocab_size: V, layer_norm_epsilon: 1e-5 },
  'profile config',
);
const random = randomWeights(cfg);
const made = new Map<string, Float32Array>();
// Each read makes the tensor anew; the head's vocabulary views all read the same one.
const weights = { has: random.has, shape: random.shape, float32: (name: string) => made.get(name) ?? made.set(name, random.float32(name)).get(name)! };
const OPTIMIZED = '/tmp/softprompt-profile-optimized.onnx';
const session = await ort.InferenceSession.create(
  buildGraph(cfg, { prompt: true, logits: false, loss: true, grad: true }, (name) => name),
  { enableProfiling: true, profileFilePrefix: '/tmp/softprompt-profile', optimizedModelFilePath: OPTIMIZED, logSeverityLevel: 3, executionMode: 'sequential', intraOpNumThreads: availableParallelism(), extra: { session: { intra_op: { allow_spinning: '0' }, set_denormal_as_zero: process.env.DAZ ?? '0' } }, enableMemPattern: process.env.PATTERN !== '0' },
);
const feeds: Record<string, ort.Tensor> = {};
for (const name of session.inputNames) {
  const view = parseRowView(name);
  if (view) feeds[name] = new ort.Tensor('float32', weights.float32(view.weight).subarray(view.start * H, view.end * H), [view.end - view.start, H]);
  else if (weights.has(name)) feeds[name] = new ort.Tensor('float32', weights.float32(name), weights.shape(name));
}
const ids = Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (b * 7919 + t * 104729 + 13) % V));
const mask = ids.map((r) => [...new Array(n).fill(1), ...r.map(() => 1)]);
const positions = mask.map((r) => r.map((_, i) => i));
const extra = { ...auxFeeds(cfg, { mask, positions, queryStart: 0 }), ...shiftedTargets(ids, n) };
for (const [k, v] of Object.entries(extra)) feeds[k] = new ort.Tensor(v.dtype, v.data, v.dims);
feeds.input_ids = new ort.Tensor('int64', BigInt64Array.from(ids.flat(), BigInt), [B, T]);
feeds.prompt = new ort.Tensor('float32', randomFloats(B * n * H, 5, 1), [B, n, H]);
for (let i = 0; i < runs; i++) await session.run(feeds);
// onnxruntime-node's endProfiling() returns nothing; the file is the newest with our prefix.
session.endProfiling();
const dir = readdirSync('/tmp').filter((f) => f.startsWith('softprompt-profile')).sort();

interface Event { cat?: string; name: string; dur: number; ts: number; args?: { op_name?: string; output_type_shape?: Array<Record<string, number[]>> } }
const path = `/tmp/${dir.at(-1)}`;
const events: Event[] = JSON.parse(readFileSync(path, 'utf8'));
rmSync(path);
const lastRun = events.filter((e) => e.name === 'model_run').at(-1)!;
const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.ts >= lastRun.ts);
const byOp = new Map<string, number>();
for (const e of kernels) byOp.set(e.args!.op_name!, (byOp.get(e.args!.op_name!) ?? 0) + e.dur);
console.log(`last run ${(lastRun.dur / 1000).toFixed(0)} ms; by op type:`);
for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${op.padEnd(24)} ${(us / 1000).toFixed(1)} ms`);
console.log('slowest nodes:');
const shape = (e: Event) => JSON.stringify(e.args?.output_type_shape ?? '').replace(/"float"|[{}"]/g, '');
for (const e of kernels.sort((a, b) => b.dur - a.dur).slice(0, 12)) console.log(`  ${(e.dur / 1000).toFixed(1)} ms  ${e.name.replace('_kernel_time', '')} ${shape(e)}`);
const elementwise = kernels.filter((e) => ['Mul', 'Add', 'Sub'].includes(e.args!.op_name!)).sort((a, b) => b.dur - a.dur);
console.log('slowest elementwise nodes:');
for (const e of elementwise.slice(0, 10)) console.log(`  ${(e.dur / 1000).toFixed(1)} ms  ${e.name.replace('_kernel_time', '')} ${shape(e)}`);

// Liveness in the order onnxruntime ran the nodes (its own graph after optimisation): a tensor lives from its node
// to its last reader. Ops that alias their input (Reshape, Unsqueeze, ...) are counted as copies, so this is an upper
// bound on what the allocator must hold besides the weights.
const optimized = onnxProto.onnx.ModelProto.decode(readFileSync(OPTIMIZED)).graph!;
rmSync(OPTIMIZED);
const byName = new Map(optimized.node!.map((node) => [node.name!, node]));
const ran = [...kernels].sort((a, b) => a.ts - b.ts).map((e) => ({ e, node: byName.get(e.name.replace('_kernel_time', ''))! }));
const outputs = new Set(optimized.output!.map((o) => o.name!));
const lastRead = new Map<string, number>();
ran.forEach(({ node }, i) => node.input!.forEach((t) => lastRead.set(t, i)));
const live = new Map<string, { bytes: number; op: string }>();
let now = 0;
let peak = { bytes: 0, at: '', live: [] as Array<[string, { bytes: number; op: string }]> };
ran.forEach(({ e, node }, i) => {
  node.output!.forEach((name, j) => {
    const [type, dims] = Object.entries(e.args?.output_type_shape?.[j] ?? {})[0] ?? [];
    if (!dims) return;
    const bytes = elementCount(dims) * (type === 'int64' ? 8 : 4);
    live.set(name, { bytes, op: node.opType! });
    now += bytes;
  });
  if (now > peak.bytes) peak = { bytes: now, at: `${node.opType} ${node.name}`, live: [...live] };
  for (const t of [...node.input!, ...node.output!]) {
    if ((lastRead.get(t) ?? i) <= i && live.has(t) && !outputs.has(t)) {
      now -= live.get(t)!.bytes;
      live.delete(t);
    }
  }
});
const mb = (bytes: number) => (bytes / 1e6).toFixed(0);
console.log(`most tensors alive at once: ${mb(peak.bytes)} MB, at ${peak.at}; by producing op:`);
const byProducer = new Map<string, number>();
for (const [, t] of peak.live) byProducer.set(t.op, (byProducer.get(t.op) ?? 0) + t.bytes);
for (const [op, bytes] of [...byProducer].sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(`  ${op.padEnd(24)} ${mb(bytes)} MB`);
