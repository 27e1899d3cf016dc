// Fixture models of the GPT-NeoX, OPT, Phi, StableLM and Falcon families, iterated by the golden tests beside FIXTURE_MODELS.
export const FIXTURE_MODELS_FAM_C = ['gpt-neox-tiny', 'opt-tiny', 'phi-tiny', 'stablelm-tiny', 'falcon-tiny'];
