import assert from "node:assert/strict";
import { bytesSource, checkRange, fileSource, urlSource } from "../lib/byte_source.ts";
import { fileSink, memorySink, withSink } from "../lib/byte_sink.ts";
import { TruncatedError } from "../lib/errors.ts";
import { openTensorFile } from "../formats/open_tensor_file.ts";
import { encodeSafetensors } from "../formats/safetensors/encode_safetensors.ts";
import { tensorFromBytes } from "../lib/tensor.ts";
import { DATA, listDir, tempDir } from "./_helpers.ts";

const MODEL = `${DATA}/safetensors/small_model.safetensors`;

/** A local HTTP server for `bytes` that honours single Range requests and logs them. */
function serveRanges(bytes: Uint8Array, options: { ranges?: boolean } = {}) {
  const log: string[] = [];
  const controller = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen: () => {} },
    (request) => {
      const range = request.headers.get("range");
      log.push(range ?? "full");
      if (new URL(request.url).pathname !== "/model.safetensors") return new Response("no", { status: 404 });
      const match = range && options.ranges !== false ? /^bytes=(\d+)-(\d+)$/.exec(range) : null;
      if (!match) return new Response(bytes.slice());
      const start = Number(match[1]);
      const end = Math.min(Number(match[2]), bytes.length - 1);
      return new Response(bytes.slice(start, end + 1), {
        status: 206,
        headers: { "content-range": `bytes ${start}-${end}/${bytes.length}` },
      });
    },
  );
  const url = `http://127.0.0.1:${server.addr.port}/model.safetensors`;
  return {
    url,
    log,
    async [Symbol.asyncDispose]() {
      controller.abort();
      await server.finished;
    },
  };
}

Deno.test("bytesSource() reads views, copies into a buffer, and rejects reads past the end", async () => {
  const source = bytesSource(new Uint8Array([1, 2, 3, 4]), "four");
  assert.deepEqual(await source.read(1, 2), new Uint8Array([2, 3]));
  const out = new Uint8Array(3);
  assert.equal((await source.read(2, 2, out)).buffer, out.buffer);
  await assert.rejects(
    source.read(3, 2),
    (e: Error) =>
      e instanceof TruncatedError &&
      /Cannot read 2 bytes at offset 3 of four: it has 4 bytes/.test(e.message),
  );
  assert.throws(() => checkRange("x", 10, -1, 1), TruncatedError);
  assert.throws(() => checkRange("x", 10, 0.5, 1), TruncatedError);
});

Deno.test("fileSource() serves concurrent reads correctly and refuses folders", async () => {
  const bytes = await Deno.readFile(MODEL);
  const source = await fileSource(MODEL);
  assert.equal(source.size, bytes.length);
  const ranges = [[0, 8], [100, 500], [3000, 880], [7, 1]] as const;
  const reads = await Promise.all(ranges.map(([o, n]) => source.read(o, n)));
  reads.forEach((r, i) => assert.deepEqual(r, bytes.subarray(ranges[i][0], ranges[i][0] + ranges[i][1])));
  await assert.rejects(source.read(bytes.length - 1, 2), TruncatedError);
  await source.close();
  await source.close();
  await assert.rejects(fileSource(DATA), (e: Error) => /it is not a regular file/.test(e.message));
});

/** A safetensors file of about 1 MiB whose header is larger or smaller than urlSource's 64 KiB head. */
async function remoteModel(bigHeader: boolean): Promise<Uint8Array> {
  const count = bigHeader ? 1500 : 4;
  const tensors = Array.from({ length: count }, (_, i) => {
    const bytes = new Uint8Array(Math.floor(1048576 / count / 4) * 4).fill(i & 255);
    return tensorFromBytes(`layers.${i}.a.rather.long.tensor.name.to.grow.the.header`, "F32", [
      bytes.length / 4,
    ], bytes);
  });
  return await encodeSafetensors({ metadata: { format: "pt" }, tensors });
}

Deno.test("urlSource() reads with Range requests, so opening a file downloads only its head", async (t) => {
  for (const bigHeader of [false, true]) {
    await t.step(
      bigHeader ? "a header beyond the first 64 KiB" : "a header within the first 64 KiB",
      async () => {
        const bytes = await remoteModel(bigHeader);
        await using server = serveRanges(bytes);
        const file = await openTensorFile(server.url);
        const dataOffset = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
        assert.equal(dataOffset > 65536, bigHeader);
        assert.deepEqual(
          server.log,
          bigHeader ? ["bytes=0-65535", `bytes=8-${dataOffset - 1}`] : ["bytes=0-65535"],
        );
        assert.equal(file.tensors.length, bigHeader ? 1500 : 4);
        // Reading one tensor requests exactly its bytes.
        const last = file.tensors[file.tensors.length - 1];
        server.log.length = 0;
        const body = await last.read();
        assert.deepEqual(server.log, [`bytes=${bytes.length - last.byteLength}-${bytes.length - 1}`]);
        assert.deepEqual(body, bytes.subarray(bytes.length - last.byteLength));
        await file.close();
      },
    );
  }
});

Deno.test("urlSource() refuses servers that ignore Range and missing files", async () => {
  const bytes = await Deno.readFile(MODEL);
  {
    await using server = serveRanges(bytes, { ranges: false });
    await assert.rejects(
      urlSource(server.url),
      (e: Error) => /the server ignores Range requests/.test(e.message),
    );
  }
  {
    await using server = serveRanges(bytes);
    await assert.rejects(
      urlSource(server.url.replace("model", "missing")),
      (e: Error) => /HTTP 404/.test(e.message),
    );
  }
});

Deno.test("fileSink() makes the file appear only on close", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/out.bin`;
  const sink = await fileSink(path);
  await sink.write(new Uint8Array([1, 2, 3]));
  assert.equal((await listDir(dir.path)).includes("out.bin"), false);
  assert.equal(sink.position, 3);
  await sink.close();
  assert.deepEqual(await listDir(dir.path), ["out.bin"]);
  assert.deepEqual(await Deno.readFile(path), new Uint8Array([1, 2, 3]));
});

Deno.test("fileSink() leaves nothing behind when aborted, and withSink() aborts on error", async () => {
  await using dir = await tempDir();
  const sink = await fileSink(`${dir.path}/out.bin`);
  await sink.write(new Uint8Array(100));
  await sink.abort();
  assert.deepEqual(await listDir(dir.path), []);
  await assert.rejects(
    withSink(await fileSink(`${dir.path}/out.bin`), async (s) => {
      await s.write(new Uint8Array(10));
      throw new Error("encoder failed");
    }),
    /encoder failed/,
  );
  assert.deepEqual(await listDir(dir.path), []);
});

Deno.test("fileSink() refuses to replace a protected input, also through a symlink", async () => {
  await using dir = await tempDir();
  const input = `${dir.path}/in.safetensors`;
  await Deno.copyFile(MODEL, input);
  await Deno.symlink(input, `${dir.path}/link.safetensors`);
  for (const path of [input, `${dir.path}/link.safetensors`, `${dir.path}/./in.safetensors`]) {
    await assert.rejects(
      fileSink(path, { protect: [input] }),
      (e: Error) => /Refusing to write .*: it is also an input; choose another output path/.test(e.message),
    );
  }
  assert.deepEqual(await listDir(dir.path), ["in.safetensors", "link.safetensors"]);
});

Deno.test("memorySink() grows and returns everything written", async () => {
  const sink = memorySink();
  const chunk = new Uint8Array(700).map((_, i) => i & 255);
  for (let i = 0; i < 5; i++) await sink.write(chunk);
  await sink.close();
  const bytes = sink.bytes();
  assert.equal(bytes.length, 3500);
  assert.deepEqual(bytes.subarray(2800), chunk);
});
