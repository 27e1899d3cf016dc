/**
 * GET /metrics in Prometheus' text format (prom-client, one registry per server): requests by model and status,
 * tokens in and out, batch occupancy, queue depth, time to first token and time per output token, and what the prompt
 * prefix cache saved.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'softprompt_requests_total',
    help: 'HTTP requests to the API, by model and status code',
    labelNames: ['model', 'status'] as const,
    registers: [this.registry],
  });
  readonly promptTokens = new Counter({
    name: 'softprompt_prompt_tokens_total',
    help: 'Prompt tokens read (virtual tokens not counted)',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  readonly generationTokens = new Counter({
    name: 'softprompt_generation_tokens_total',
    help: 'Tokens generated',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  readonly batchRows = new Gauge({ name: 'softprompt_batch_rows', help: 'Rows in the running decode batch', registers: [this.registry] });
  readonly batchOccupancy = new Gauge({
    name: 'softprompt_batch_occupancy_ratio',
    help: 'Rows in the running decode batch / max_batch_size',
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({ name: 'softprompt_queue_depth', help: 'Sequences waiting to join the batch', registers: [this.registry] });
  readonly timeToFirstToken = new Histogram({
    name: 'softprompt_time_to_first_token_seconds',
    help: 'From a sequence entering the queue to its first token',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly timePerOutputToken = new Histogram({
    name: 'softprompt_time_per_output_token_seconds',
    help: 'Mean time between a sequence\'s tokens after the first',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly prefixHits = new Counter({
    name: 'softprompt_prefix_cache_hits_total',
    help: 'Rows started from an adapter\'s cached prompt keys/values',
    registers: [this.registry],
  });
  readonly prefixTokensSaved = new Counter({
    name: 'softprompt_prefix_cache_tokens_saved_total',
    help: 'Virtual-token positions not run through the model thanks to the prefix cache',
    registers: [this.registry],
  });
  readonly adaptersLoaded = new Gauge({ name: 'softprompt_adapters_loaded', help: 'Adapters loaded', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'softprompt_process_' });
  }

  observeBatch(rows: number, waiting: number, maxBatchSize: number): void {
    this.batchRows.set(rows);
    this.batchOccupancy.set(rows / maxBatchSize);
    this.queueDepth.set(waiting);
  }
}
