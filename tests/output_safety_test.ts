// No command overwrites its input or leaves a partial output: outputs go to
// a temporary beside the destination and are renamed into place only when
// complete; SIGINT or an error mid-way leaves the folder as it was.

import assert from "node:assert/strict";
import { abortAllSinks, fileSink, memorySink, onInterrupt } from "../lib/byte_sink.ts";
import { tensorFromBytes } from "../lib/tensor.ts";
import { writeSafetensors } from "../formats/safetensors/mod.ts";
import { listDir, REPO, runCli, tempDir } from "./_helpers.ts";

async function safetensorsBytes(tensors: number, elements: number): Promise<Uint8Array> {
  const sink = memorySink();
  const list = Array.from({ length: tensors }, (_, i) => {
    const values = new Float32Array(elements).map((_, j) => (i * elements + j) / 1000);
    return tensorFromBytes(`layer.${i}.weight`, "F32", [elements], new Uint8Array(values.buffer));
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
  const bytes = await safetensorsBytes(8, 32 * 1024); // 1 MiB of data, past the 64 KiB probe
  for (const output of ["out.safetensors", "out.npy"]) {
    await t.step(`while writing ${output}`, async () => {
      await using dir = await tempDir();
      await using server = serve(bytes, "stall");
      await Deno.writeFile(`${dir.path}/in.safetensors`, bytes);
      const args = ["convert", server.url, `${dir.path}/${output}`];
      if (output.endsWith(".npy")) args.push("--include", "^layer\\.0\\.");
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
      await waitFor(
        async () => (await listDir(dir.path)).some((n) => n.endsWith(".partial")) && server.requests() >= 2,
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
