// The fixture models of the families added on the fam-a branch (Qwen3, OLMo2, Granite, SmolLM3, Phi3); the golden
// tests iterate over them after FIXTURE_MODELS.
export const FAM_A_MODELS = ['qwen3-tiny', 'olmo2-tiny', 'granite-tiny', 'smollm3-tiny', 'phi3-tiny'];
