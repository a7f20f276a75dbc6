// Loads GGUF files with node-llama-cpp (llama.cpp's CPU build) and continues a
// prompt greedily: node llama_generate.mjs NODE_MODULES PROMPT MAX_TOKENS FILE...
// Prints one JSON array: [{ file, tokens, text }] in argument order.
const [modules, prompt, maxTokens, ...files] = process.argv.slice(2);
const { getLlama, LlamaCompletion } = await import(`${modules}/node-llama-cpp/dist/index.js`);
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const results = [];
for (const file of files) {
  const model = await llama.loadModel({ modelPath: file });
  // One thread: on a busy machine more threads only wait for each other.
  const context = await model.createContext({ contextSize: 64, batchSize: 16, threads: 1 });
  const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
  const tokens = [];
  const text = await completion.generateCompletion(prompt, {
    maxTokens: Number(maxTokens),
    temperature: 0,
    onToken: (chunk) => tokens.push(...chunk),
  });
  results.push({ file, tokens, text, trainContextSize: model.trainContextSize });
  await context.dispose();
  await model.dispose();
}
console.log(JSON.stringify(results));
