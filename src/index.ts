/**
 * softprompt: prompt tuning for frozen causal language models, in TypeScript, on ONNX Runtime, with the names Python
 * (transformers, PEFT, 🤗 datasets) and transformers.js users already know.
 *
 * ```ts
 * import { AutoModelForCausalLM, AutoTokenizer, PromptTuningConfig, get_peft_model } from 'softprompt';
 * const model = await AutoModelForCausalLM.from_pretrained('bigscience/bloomz-560m');
 * const peft = await get_peft_model(model, new PromptTuningConfig({ task_type: 'CAUSAL_LM', num_virtual_tokens: 8 }));
 * ```
 * @packageDocumentation
 */
export { AutoModelForCausalLM, PreTrainedModel, Tensor } from './api/model.js';
export type { CausalLMOutput, GenerateOptions, ModelFromPretrainedOptions, ModelInputs } from './api/model.js';
export { AutoTokenizer, PreTrainedTokenizer } from './api/tokenizer.js';
export type { ApplyChatTemplateOptions, BatchEncoding, ChatMessage, DecodeOptions, TokenizeOptions } from './api/tokenizer.js';
export type { FromPretrainedOptions } from './api/hub-options.js';
export { BASE_ADAPTER, get_peft_model, PeftModel, PromptTuningConfig, PromptTuningInit, TaskType } from './api/peft.js';
export type { LoadAdapterOptions, PeftModelInputs, PeftModelOptions, PromptTuningConfigOptions, VirtualTokensPosition } from './api/peft.js';
export {
  MultitaskPromptTuningConfig, PrefixTuningConfig, PromptEncoderConfig, PromptEncoderReparameterizationType, PromptLearningConfig,
} from './api/peft-methods.js';
export type {
  EncoderType, MultitaskInit, MultitaskPromptTuningConfigOptions, PrefixTuningConfigOptions, PromptEncoderConfigOptions, PromptLearningConfigOptions,
} from './api/peft-methods.js';
export { Dataset, load_dataset, range } from './api/datasets.js';
export type { Batch, BatchFunction, DatasetDict, DatasetDictMethods, LoadDatasetOptions, MapOptions, Row, RowFunction } from './api/datasets.js';
export { DataCollatorForLanguageModeling, Trainer, TrainingArguments } from './api/trainer.js';
export type { Features, PaddedFeatures, TrainerOptions, TrainingArgumentsOptions, TrainOutput } from './api/trainer.js';
export type { IntervalStrategy, TrainingArguments as TrainingArgumentsFields } from './train/args.js';
export type { SchedulerType } from './train/schedule.js';
export type { BlockQuantization, WeightDtype } from './weights/quantize.js';
export type { TrainerCallbacks } from './train/trainer.js';
export type { LogEntry, RunFingerprint, TrainerState } from './train/checkpoint.js';
export type { ProgressCallback, ProgressInfo } from './hub/progress.js';
export {
  DivergenceError, FileSystemError, FormatError, HubError, MissingError, OptionError, ShapeError, SoftpromptError, UnsupportedError,
} from './errors.js';
export { inspect_prompt, tokenize_messages, tokenize_prompt_completion } from './api/tasks.js';
export type { CompletionFeatures, ConversationalPromptCompletion, Neighbour, PromptCompletion, PromptReport, VirtualTokenReport } from './api/tasks.js';
