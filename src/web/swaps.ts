/**
 * package.json's "browser" field swaps these Node modules for their twins here when the library is bundled for a
 * browser. Each twin must export what the Node module exports, with types the Node module's importers accept, or a
 * browser build breaks at bundle time: this file makes that a type error instead.
 */
import type * as NodeEngine from '../runtime/engine.js';
import type { InferenceEngine } from '../runtime/engine-api.js';
import type * as NodePretrained from '../models/pretrained.js';
import type * as NodeTokenizerFiles from '../tokenizer/pretrained.js';
import type * as NodeAdapterFiles from '../peft/adapter-files.js';
import type { CheckpointStore } from '../train/checkpoint.js';
import type * as WebEngine from './engine.js';
import type * as WebPretrained from './pretrained.js';
import type * as WebTokenizerFiles from './tokenizer-files.js';
import type * as WebAdapterFiles from './adapter-files.js';
import type * as WebCheckpointFiles from './checkpoint-files.js';

/** true when the twin `W` has every export of `N` with a type usable where N's is; else what is missing or differs. */
type Covers<N, W> = { [K in keyof N]: K extends keyof W ? (W[K] extends N[K] ? true : { differs: K }) : { missing: K } }[keyof N];
type Check<N, W> = [Exclude<Covers<N, W>, true>] extends [never] ? true : Exclude<Covers<N, W>, true>;

export type SwapsMatch = [
  // The Node Engine class has private fields no other class can match; what its importers call is create().
  Check<{ Engine: { create(options?: NodeEngine.EngineOptions): InferenceEngine } }, typeof WebEngine>,
  Check<typeof NodePretrained, typeof WebPretrained>,
  Check<typeof NodeTokenizerFiles, typeof WebTokenizerFiles>,
  Check<typeof NodeAdapterFiles, typeof WebAdapterFiles>,
  Check<{ DirectoryCheckpointStore: new (dir: string) => CheckpointStore }, typeof WebCheckpointFiles>,
];
const swapsMatch: SwapsMatch = [true, true, true, true, true];
export default swapsMatch;
