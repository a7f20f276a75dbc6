import assert from "node:assert/strict";
import { elementCount } from "../lib/dtype.ts";
import { sizeReport, tensorRole } from "../lib/size_report.ts";
import { openTensorFile } from "../formats/open_tensor_file.ts";
import { DATA, runCli, runPython, skipUnlessPython, tempDir } from "./_helpers.ts";

async function reportOf(path: string) {
  const file = await openTensorFile(path);
  try {
    return { report: sizeReport(file.tensors, file.fileBytes), tensors: [...file.tensors] };
  } finally {
    await file.close();
  }
}

Deno.test("tensorRole() tells weights, optimizer state, buffers and other apart by name", async (t) => {
  const cases: [string, string, string][] = [
    ["model.layer1.0.conv1.weight", "F32", "weights"],
    ["fc.bias", "BF16", "weights"],
    ["optimizer.state.3.exp_avg", "F32", "optimizer"],
    ["optimizer.state.3.exp_avg_sq", "F32", "optimizer"],
    ["optimizer.state.3.step", "F32", "optimizer"],
    ["opt.state.0.max_exp_avg_sq", "F32", "optimizer"],
    ["state.0.momentum_buffer", "F32", "optimizer"],
    ["dense/kernel/Adam", "F32", "optimizer"],
    ["dense/kernel/Adam_1", "F32", "optimizer"],
    ["dense/bias/Momentum", "F32", "optimizer"],
    ["beta1_power", "F32", "optimizer"],
    ["bn1.running_mean", "F32", "buffers"],
    ["bn1.running_var", "F32", "buffers"],
    ["bn1.num_batches_tracked", "I64", "buffers"],
    ["batch_normalization/moving_variance", "F32", "buffers"],
    ["embeddings.position_ids", "I64", "other"],
    ["global_step", "I64", "other"],
    ["adamant.weight", "F32", "weights"],
  ];
  for (const [name, dtype, role] of cases) {
    await t.step(`${name} is ${role}`, () => assert.equal(tensorRole(name, dtype), role));
  }
});

Deno.test("sizeReport() on torch's Adam checkpoint: the optimizer group is twice the weights plus step counters", async () => {
  const path = `${DATA}/torch/checkpoint.pt`;
  const { report, tensors } = await reportOf(path);
  const steps = tensors.filter((t) => t.name.endsWith(".step"));
  assert.equal(
    report.groups.optimizer.bytes,
    2 * report.groups.weights.bytes + steps.reduce((n, t) => n + t.byteLength, 0),
  );
  assert.equal(report.fileBytes, (await Deno.stat(path)).size);
  assert.equal(report.overheadBytes, report.fileBytes! - report.lowerBoundBytes);
  assert.equal(report.savings.stripOptimizer, report.groups.optimizer.bytes);
  assert.equal(report.savings.F16, report.groups.weights.bytes / 2);
  assert.equal(report.groups.optimizer.share, report.groups.optimizer.bytes / report.fileBytes!);
});

Deno.test("sizeReport() on safetensors: the overhead is exactly the 8-byte length and the JSON header", async (t) => {
  for (const name of ["small_model", "mixed", "casts"]) {
    await t.step(name, async () => {
      const path = `${DATA}/safetensors/${name}.safetensors`;
      const bytes = await Deno.readFile(path);
      const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      const { report, tensors } = await reportOf(path);
      assert.equal(report.overheadBytes, 8 + headerLength);
      assert.equal(report.lowerBoundBytes, bytes.length - 8 - headerLength);
      assert.equal(report.parameters, tensors.reduce((n, t) => n + elementCount(t.shape), 0));
      const byDtype = Object.values(report.byDtype);
      assert.equal(byDtype.reduce((n, d) => n + d.tensors, 0), tensors.length);
      assert.equal(byDtype.reduce((n, d) => n + d.bytes, 0), report.lowerBoundBytes);
    });
  }
});

Deno.test("sizeReport() without a file size leaves the overhead and shares unknown", () => {
  const r = sizeReport([{ name: "w", dtype: "F16", shape: [4, 4], byteLength: 32 }]);
  assert.equal(r.fileBytes, null);
  assert.equal(r.overheadBytes, null);
  assert.equal(r.overheadPercent, null);
  assert.equal(r.groups.weights.share, null);
  assert.equal(r.savings.F16, 0);
  assert.equal(r.savings.int8, 32 - 17);
  assert.equal(r.savings["4bit"], 32 - 9);
});

Deno.test({
  name:
    "ckpt inspect --json on a torch.save checkpoint with Adam state and BatchNorm buffers adds the size fields",
  ignore: skipUnlessPython("torch"),
  async fn() {
    await using dir = await tempDir();
    const path = `${dir.path}/train.pt`;
    await runPython(
      `
import sys, torch
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
    torch.nn.Flatten(), torch.nn.Linear(32 * 14 * 14, 64), torch.nn.BatchNorm1d(64), torch.nn.Linear(64, 10))
opt = torch.optim.Adam(net.parameters())
net(torch.randn(4, 3, 16, 16)).sum().backward()
opt.step()
torch.save({"model": net.state_dict(), "optimizer": opt.state_dict()}, sys.argv[1])
`,
      [path],
    );
    const result = await runCli(["inspect", path, "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const r = JSON.parse(result.stdout);
    const weights = r.tensors.filter((t: { name: string }) =>
      /\.(weight|bias)$/.test(t.name) && t.name.startsWith("model.")
    );
    const weightBytes = weights.reduce((n: number, t: { bytes: number }) => n + t.bytes, 0);
    assert.deepEqual(r.groups.weights, {
      tensors: weights.length,
      bytes: weightBytes,
      share: weightBytes / r.fileBytes,
    });
    // Adam: exp_avg and exp_avg_sq per parameter, plus a 4-byte step counter each.
    assert.equal(r.groups.optimizer.bytes, 2 * weightBytes + 4 * weights.length);
    // Two BatchNorms: running_mean, running_var (F32) and num_batches_tracked (I64).
    assert.equal(r.groups.buffers.tensors, 6);
    assert.equal(r.groups.buffers.bytes, (32 + 32 + 64 + 64) * 4 + 2 * 8);
    assert.equal(r.byDtype.I64.tensors, 2);
    assert.equal(r.byDtype.F32.tensors, r.tensors.length - 2);
    assert.equal(r.overheadBytes, r.fileBytes - r.lowerBoundBytes);
    assert.ok(r.overheadPercent > 0 && r.overheadPercent < 5, String(r.overheadPercent));
    const text = await runCli(["inspect", path]);
    assert.match(
      text.stdout,
      /savings: stripping the optimizer saves [\d.]+ MiB; casting weights to F16\/BF16 saves [\d.]+ KiB; int8 /,
    );
  },
});
