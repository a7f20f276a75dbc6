// No command overwrites its input or leaves a partial output: outputs go to
// a temporary beside the destination and are renamed into place only when
// complete; SIGINT or an error mid-way leaves the folder as it was.

import assert from "node:assert/strict";
import { abortAllSinks, fileSink, memorySink, onInterrupt } from "../lib/byte_sink.ts";
import { tensorFromBytes } from "../lib/tensor.ts";
import { writeSafetensors } from "../formats/safetensors/mod.ts";
import { listDir, REPO, runCli, tempDir } from "./_helpers.ts";

/** A safetensors file of `tensors` F32 tensors of `elements` each, after `small` tensors of 256. */
async function safetensorsBytes(tensors: number, elements: number, small = 0): Promise<Uint8Array> {
  const sink = memorySink();
  const sizes = [...Array(small).fill(256), ...Array(tensors).fill(elements)];
  const list = sizes.map((size, i) => {
    const values = new Float32Array(size).map((_, j) => (i * size + j) / 1000);
    return tensorFromBytes(`layer.${i}.weight`, "F32", [size], new Uint8Array(values.buffer));
  });
  await writeSafetensors({ metadata: { made: "output_safety_test" }, tensors: list }, sink);
  await sink.close();
  return sink.bytes();
}

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Serve `bytes` with Range support. The first request (the size probe for
 * the first 64 KiB) is answered; later ones get `mode`: held open until the
 * server closes, or answered with HTTP 500.
 */
function serve(bytes: Uint8Array, mode: "stall" | "fail") {
  const controller = new AbortController();
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let requests = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen: () => {} },
    async (request) => {
      requests++;
      const range = /bytes=(\d+)-(\d+)/.exec(request.headers.get("range") ?? "");
      if (!range) return new Response("Range required", { status: 416 });
      const start = Number(range[1]);
      const end = Math.min(Number(range[2]), bytes.length - 1);
      if (start !== 0) {
        if (mode === "fail") return new Response("boom", { status: 500 });
        await released;
        return new Response("gone", { status: 503 });
      }
      return new Response(bytes.slice(start, end + 1), {
        status: 206,
        headers: { "content-range": `bytes ${start}-${end}/${bytes.length}` },
      });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/model.safetensors`,
    requests: () => requests,
    async [Symbol.asyncDispose]() {
      release();
      controller.abort();
      await server.finished;
    },
  };
}

async function waitFor(check: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

Deno.test("ckpt convert interrupted by SIGINT exits 130 and leaves the folder as it was", async (t) => {
  // 640 KiB of data, past the 64 KiB probe; the small tensors first are read from the probe's bytes.
  const bytes = await safetensorsBytes(5, 32 * 1024, 4);
  const cases: [string, string[]][] = [
    ["out.safetensors", []],
    ["out.npy", ["--include", "^layer\\.4\\."]],
    // A shard of small tensors is finished and staged before the stall.
    ["out.safetensors with --max-shard-size", ["--max-shard-size", "2KiB"]],
  ];
  for (const [label, extra] of cases) {
    await t.step(`while writing ${label}`, async () => {
      await using dir = await tempDir();
      await using server = serve(bytes, "stall");
      await Deno.writeFile(`${dir.path}/in.safetensors`, bytes);
      const args = ["convert", server.url, `${dir.path}/${label.split(" ")[0]}`, ...extra];
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--quiet",
          "--allow-read",
          "--allow-write",
          "--allow-net=127.0.0.1",
          `${REPO}/cli/ckpt.ts`,
          ...args,
        ],
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).spawn();
      // The temporary output exists once the command is writing and waiting for tensor bytes.
      const staged = extra[0] === "--max-shard-size" ? 2 : 1;
      await waitFor(
        async () =>
          (await listDir(dir.path)).filter((n) => n.endsWith(".partial")).length >= staged &&
          server.requests() >= 2,
        "the temporary output",
      );
      child.kill("SIGINT");
      const { code, stderr } = await child.output();
      assert.equal(code, 130);
      assert.match(new TextDecoder().decode(stderr), /^ckpt: interrupted; no output was written$/m);
      assert.deepEqual(await listDir(dir.path), ["in.safetensors"]);
    });
  }
});

Deno.test("ckpt convert that fails mid-way leaves no output behind", async () => {
  const bytes = await safetensorsBytes(8, 32 * 1024);
  await using dir = await tempDir();
  await using server = serve(bytes, "fail");
  await Deno.writeFile(`${dir.path}/in.safetensors`, bytes);
  const result = await runCli(["convert", server.url, `${dir.path}/out.safetensors`], {
    permissions: ["--allow-read", "--allow-write", "--allow-net=127.0.0.1"],
  });
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /^ckpt convert: Cannot read http:\/\/127\.0\.0\.1:\d+\/model\.safetensors at \d+: HTTP 500 to a Range request$/m,
  );
  assert.equal(result.stderr.trim().split("\n").length, 1);
  assert.deepEqual(await listDir(dir.path), ["in.safetensors"]);
});

Deno.test("ckpt convert and quantize refuse to write over their input, however it is spelled", async (t) => {
  const bytes = await safetensorsBytes(2, 64);
  await using dir = await tempDir();
  const input = `${dir.path}/model.safetensors`;
  await Deno.writeFile(input, bytes);
  await Deno.symlink(input, `${dir.path}/link.safetensors`);
  await Deno.mkdir(`${dir.path}/sub`);
  const before = await sha256(input);
  const spellings = [
    ["the same path", "model.safetensors"],
    ["a ./ prefix", "./model.safetensors"],
    ["a detour through a folder", "sub/../model.safetensors"],
    ["an absolute path", input],
    ["a symlink to the input", "link.safetensors"],
  ];
  const commands = [
    ["convert", []],
    ["convert", ["--dtype", "F16"]],
    ["quantize", ["--scheme", "F16", "--device", "cpu"]],
    ["quantize", ["--scheme", "int8", "--quiet", "--device", "cpu"]],
  ] as const;
  for (const [command, extra] of commands) {
    for (const [label, output] of spellings) {
      await t.step(`${command} ${extra.join(" ")} with ${label}`.replace(/\s+/g, " "), async () => {
        const result = await runCli([command, "model.safetensors", output, ...extra], { cwd: dir.path });
        assert.equal(result.code, 2, result.stderr);
        assert.match(
          result.stderr,
          /Refusing to write .*: it is also (the|an) input; choose another output path/,
        );
        assert.equal(result.stderr.trim().split("\n").length, 1);
        assert.equal(await sha256(input), before);
        assert.deepEqual(await listDir(dir.path), ["link.safetensors", "model.safetensors", "sub"]);
      });
    }
  }
});

Deno.test("abortAllSinks() removes every open file sink's temporary and runs interrupt cleanups", async () => {
  await using dir = await tempDir();
  const a = await fileSink(`${dir.path}/a.bin`);
  const b = await fileSink(`${dir.path}/b.bin`);
  await a.write(new Uint8Array(100));
  await b.write(new Uint8Array(10));
  const done = await fileSink(`${dir.path}/done.bin`);
  await done.write(new Uint8Array([1]));
  await done.close();
  await Deno.writeFile(`${dir.path}/staged.partial`, new Uint8Array(1));
  let ran = 0;
  onInterrupt(() => {
    ran++;
    Deno.removeSync(`${dir.path}/staged.partial`);
  });
  const unregistered = onInterrupt(() => {
    ran += 100;
  });
  unregistered();
  assert.equal((await listDir(dir.path)).filter((n) => n.endsWith(".partial")).length, 3);
  await abortAllSinks();
  assert.equal(ran, 1);
  assert.deepEqual(await listDir(dir.path), ["done.bin"]);
  await assert.rejects(a.write(new Uint8Array(1)), { name: "TypeError", message: /the sink is aborted$/ });
  await abortAllSinks(); // nothing left: a no-op
  assert.equal(ran, 1);
});

Deno.test("ckpt convert and quantize never replace the shards of a sharded input", async (t) => {
  await using dir = await tempDir();
  const bytes = await safetensorsBytes(4, 256);
  await Deno.writeFile(`${dir.path}/one.safetensors`, bytes);
  // model-0000N-of-00004.safetensors and model.safetensors.index.json
  const split = await runCli(
    ["convert", "one.safetensors", "model.safetensors", "--max-shard-size", "1KiB", "--quiet"],
    { cwd: dir.path },
  );
  assert.equal(split.code, 0, split.stderr);
  await Deno.remove(`${dir.path}/one.safetensors`);
  // Renamed so that only the shards, not the index, share names with the outputs.
  await Deno.rename(`${dir.path}/model.safetensors.index.json`, `${dir.path}/in.safetensors.index.json`);
  const before = await listDir(dir.path);
  const digests = await Promise.all(before.map((name) => sha256(`${dir.path}/${name}`)));
  const commands: [string, string[]][] = [
    // Output shards would take the input shards' names.
    ["convert", ["in.safetensors.index.json", "model.safetensors", "--max-shard-size", "1KiB"]],
    ["convert", ["in.safetensors.index.json", "model-00002-of-00004.safetensors"]],
    ["quantize", ["in.safetensors.index.json", "model-00001-of-00004.safetensors", "--scheme", "F16"]],
    [
      "quantize",
      [
        "in.safetensors.index.json",
        "q.safetensors",
        "--scheme",
        "F16",
        "--report",
        "model-00003-of-00004.safetensors",
      ],
    ],
    ["quantize", [
      "in.safetensors.index.json",
      "q.safetensors",
      "--scheme",
      "F16",
      "--report",
      "q.safetensors",
    ]],
  ];
  for (const [command, args] of commands) {
    await t.step(`${command} ${args.join(" ")}`, async () => {
      const device = command === "quantize" ? ["--device", "cpu"] : [];
      const result = await runCli([command, ...args, ...device], { cwd: dir.path });
      assert.equal(result.code, 2, result.stderr);
      assert.match(
        result.stderr,
        /Refusing to write .*: it is also (the|an) input; choose another output path/,
      );
      assert.equal(result.stderr.trim().split("\n").length, 1);
      assert.deepEqual(await listDir(dir.path), before);
      assert.deepEqual(await Promise.all(before.map((name) => sha256(`${dir.path}/${name}`))), digests);
    });
  }
});
