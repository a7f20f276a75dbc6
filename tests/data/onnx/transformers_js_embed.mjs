// Load a local transformers.js model folder with each dtype and print the
// embeddings (last_hidden_state) of a fixed sentence as JSON.
// Usage: node transformers_js_embed.mjs TRANSFORMERS_DIST_MJS MODELS_DIR MODEL_NAME DTYPE...
import { pathToFileURL } from "node:url";

const [dist, root, name, ...dtypes] = process.argv.slice(2);
const { AutoModel, AutoTokenizer, env } = await import(pathToFileURL(dist).href);
env.allowRemoteModels = false;
env.localModelPath = root.endsWith("/") ? root : `${root}/`;
const tokenizer = await AutoTokenizer.from_pretrained(name);
const inputs = tokenizer(["hello world the cat sat on a red mat"]);
const out = {};
for (const dtype of dtypes) {
  const model = await AutoModel.from_pretrained(name, { dtype });
  const result = await model(inputs);
  out[dtype] = Array.from(result.last_hidden_state.data);
  await model.dispose();
}
console.log(JSON.stringify(out));
