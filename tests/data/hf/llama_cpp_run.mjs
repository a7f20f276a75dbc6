// Runs GGUF models through llama.cpp (node-llama-cpp's prebuilt CPU binary)
// for tests/hf_gguf_test.ts. Reads one JSON job from argv[2]:
//   { node_modules, jobs: [{ model, prompts: [text], steps, texts: [text] }] }
// and prints, for each job, the prompt ids, the greedy continuation ids and
// the token ids of each text (special tokens parsed), as JSON.
const { node_modules, jobs } = JSON.parse(process.argv[2]);
const { getLlama } = await import(`${node_modules}/node-llama-cpp/dist/index.js`);
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const results = [];
for (const job of jobs) {
  const model = await llama.loadModel({ modelPath: job.model });
  const context = await model.createContext({ contextSize: 256, sequences: 1, threads: 1 });
  const runs = [];
  for (const prompt of job.prompts ?? []) {
    const sequence = context.getSequence();
    let ids = model.tokenize(prompt, false);
    if (model.tokens.bos != null && model.tokens.shouldPrependBosToken) ids = [model.tokens.bos, ...ids];
    const out = [];
    for await (const token of sequence.evaluate(ids, { temperature: 0 })) {
      out.push(token);
      if (out.length >= job.steps) break;
    }
    runs.push({ ids, out });
    await sequence.clearHistory();
    sequence.dispose();
  }
  const texts = (job.texts ?? []).map((t) => model.tokenize(t, true));
  results.push({ runs, texts, vocab: model.tokens.bos ?? null });
  await context.dispose();
  await model.dispose();
}
console.log(JSON.stringify(results));
await llama.dispose();
