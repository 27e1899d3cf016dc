// The fixture models of the Mistral and Gemma families (see ../shared/fixtures/README.md, "More architectures"); the
// golden tests iterate over these beside FIXTURE_MODELS.
export const FIXTURE_MODELS_FAM_B = ['mistral-tiny', 'gemma-tiny', 'gemma2-tiny', 'gemma3-tiny'];
