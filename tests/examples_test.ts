import assert from "node:assert/strict";
import { runCli } from "./_helpers.ts";

const RW = ["--allow-read", "--allow-write"];

Deno.test("examples/demo.ts writes a model, reads it back and reports the BF16 cast", async () => {
  const { code, stdout, stderr } = await runCli([], { script: "examples/demo.ts", permissions: RW });
  assert.equal(code, 0, stderr);
  assert.match(stdout, /9 tensors, 90\.8K parameters/);
  assert.match(stdout, /position_ids\s+\[128\]\s+I64 1\.00 KiB\s+I64 1\.00 KiB\s+exact/);
  assert.match(stdout, /file: 356\.05 KiB → 178\.92 KiB/);
});

Deno.test("examples/sharded_checkpoint.ts opens shards through the index, merges and reshards", async () => {
  const { code, stdout, stderr } = await runCli([], {
    script: "examples/sharded_checkpoint.ts",
    permissions: RW,
  });
  assert.equal(code, 0, stderr);
  assert.match(stdout, /wrote 5 shards and model\.safetensors\.index\.json/);
  assert.match(stdout, /opened 9 tensors \(1\.13 MiB\) through the index/);
  // BF16 halves the 1.13 MiB of F32 tensors (plus a header).
  assert.match(stdout, /merged: model-bf16\.safetensors 576\.\d+ KiB/);
  assert.match(stdout, /resharded into 9 files/);
});

Deno.test("examples/strip_optimizer.ts finds Adam's two slots and keeps a third of the file", async () => {
  const { code, stdout, stderr } = await runCli([], {
    script: "examples/strip_optimizer.ts",
    permissions: RW,
  });
  assert.equal(code, 0, stderr);
  assert.match(stdout, /weights\s+3 tensors\s+139\.00 KiB/);
  assert.match(stdout, /optimizer\s+6 tensors\s+278\.00 KiB/);
  assert.match(stdout, /weights only: 139\.\d+ KiB \(33\.3% of the checkpoint\)/);
});
