/**
 * The seed article's script ("What is prompt tuning?"), ported line by line from Python to softprompt: load
 * bloomz-560m and its tokenizer, generate a baseline, tokenize awesome-chatgpt-prompts, prompt-tune 4 virtual tokens
 * with the Trainer, generate again.
 *
 *   node seed.js [model] [dataset] [max_steps]
 *
 * model and dataset default to the article's hub ids; a local model directory (e.g. softprompt's models/default)
 * and a local CSV/JSON file with a `prompt` column run it offline; max_steps > 0 shortens training.
 */
import {
  AutoModelForCausalLM, AutoTokenizer, DataCollatorForLanguageModeling, get_peft_model, load_dataset, PromptTuningConfig,
  PromptTuningInit, range, TaskType, Trainer, TrainingArguments,
  type PeftModel, type PreTrainedModel, type PreTrainedTokenizer,
} from 'softprompt';

const model_name = process.argv[2] ?? 'bigscience/bloomz-560m';
const dataset_prompt = process.argv[3] ?? 'fka/awesome-chatgpt-prompts';
const max_steps = Number(process.argv[4] ?? -1);

// 1. Loading the model and tokenizer
const tokenizer = await AutoTokenizer.from_pretrained(model_name);
const model = await AutoModelForCausalLM.from_pretrained(model_name);

// 2. Baseline inference with the foundational model
async function generate_text(model: PreTrainedModel | PeftModel, tokenizer: PreTrainedTokenizer, prompt_text: string, max_tokens: number): Promise<string[]> {
  const prompt_inputs = tokenizer(prompt_text);
  const outputs = await model.generate({
    input_ids: prompt_inputs.input_ids,
    attention_mask: prompt_inputs.attention_mask,
    max_length: max_tokens,
    repetition_penalty: 1.5,
    eos_token_id: tokenizer.eos_token_id,
  });
  return tokenizer.batch_decode(outputs, { skip_special_tokens: true });
}

const initial_output = await generate_text(model, tokenizer, 'I want you to act as a logistician. ', 100);
console.log('Initial model output:', initial_output);

// 3. Dataset preparation
let data_prompt = await load_dataset(dataset_prompt);
// Tokenize the dataset and prepare a small subset for training
data_prompt = data_prompt.map((x) => tokenizer(x['prompt']), { batched: true });
const train_prompts = data_prompt['train'].select(range(50));

// 4. Configuring and executing prompt tuning
const tuning_config = new PromptTuningConfig({
  task_type: TaskType.CAUSAL_LM, // Indicates the model will generate text.
  prompt_tuning_init: PromptTuningInit.RANDOM, // Virtual tokens are initialized randomly.
  num_virtual_tokens: 4, // Number of virtual tokens to add and train.
  tokenizer_name_or_path: model_name,
});
const peft_model = await get_peft_model(model, tuning_config);
peft_model.print_trainable_parameters();

const training_args = new TrainingArguments({
  use_cpu: true, // Necessary for CPU clusters.
  output_dir: './',
  auto_find_batch_size: true, // Automatically finds a suitable batch size.
  learning_rate: 0.005,
  num_train_epochs: 5,
  max_steps,
});

const trainer = new Trainer({
  model: peft_model, // The PEFT version of the foundation model.
  args: training_args, // Training arguments.
  train_dataset: train_prompts, // Dataset used for training.
  data_collator: new DataCollatorForLanguageModeling({ tokenizer, mlm: false }), // mlm: false for causal language modeling.
});
await trainer.train();

// 5. Inference with the tuned model
const tuned_output = await generate_text(trainer.model, tokenizer, 'I want you to act as a logistician. ', 100);
console.log('Tuned model output:', tuned_output);
await peft_model.dispose();
