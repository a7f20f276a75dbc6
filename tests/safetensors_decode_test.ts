import assert from "node:assert/strict";
import { bytesSource } from "../lib/byte_source.ts";
import { FormatError, LimitError, TruncatedError } from "../lib/errors.ts";
import {
  decodeSafetensorsHeader,
  MAX_HEADER_BYTES,
} from "../formats/safetensors/decode_safetensors_header.ts";
import { openSafetensors } from "../formats/safetensors/open_safetensors.ts";
import { sniffSafetensors } from "../formats/safetensors/format.ts";
import { DATA } from "./_helpers.ts";

const GOLDEN = `${DATA}/safetensors`;

/** A file from a header text, a declared length (default: the text's) and data bytes. */
function fileOf(header: string | Uint8Array, dataBytes = 0, declared?: bigint): Uint8Array {
  const json = typeof header === "string" ? new TextEncoder().encode(header) : header;
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

/** The header JSON the independent writer put in a golden file, parsed with plain JSON.parse. */
async function goldenHeader(path: string): Promise<Record<string, unknown>> {
  const bytes = await Deno.readFile(path);
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
}

Deno.test("openSafetensors() reads every dtype, 0-d and empty tensors and metadata from a golden file", async () => {
  const path = `${GOLDEN}/mixed.safetensors`;
  const bytes = await Deno.readFile(path);
  const expected = await goldenHeader(path);
  const file = await openSafetensors(bytesSource(bytes));
  assert.equal(file.format, "safetensors");
  assert.deepEqual(file.metadata, expected.__metadata__);
  const names = Object.keys(expected).filter((k) => k !== "__metadata__");
  assert.deepEqual(file.tensors.map((t) => t.name).sort(), names.sort());
  const dataStart = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
  for (const entry of file.tensors) {
    const info = expected[entry.name] as { dtype: string; shape: number[]; data_offsets: [number, number] };
    assert.equal(entry.dtype, info.dtype, entry.name);
    assert.deepEqual(entry.shape, info.shape, entry.name);
    assert.equal(entry.byteLength, info.data_offsets[1] - info.data_offsets[0]);
    const body = await entry.read();
    assert.deepEqual(
      body,
      bytes.subarray(dataStart + info.data_offsets[0], dataStart + info.data_offsets[1]),
    );
  }
  const step = file.tensors.find((t) => t.name === "step")!;
  assert.deepEqual(step.shape, []);
  assert.equal(new DataView((await step.read()).slice().buffer).getBigInt64(0, true), 1234567890123n);
  const bf16 = file.tensors.find((t) => t.name === "model.bf16.weight")!;
  assert.equal(bf16.dtype, "BF16");
  assert.equal(file.fileBytes, bytes.length);
  await file.close();
});

Deno.test("openSafetensors() lists tensors in data-offset order and reads into a caller's buffer", async () => {
  const file = await openSafetensors(bytesSource(await Deno.readFile(`${GOLDEN}/small_model.safetensors`)));
  const offsets = file.header.tensors.map((t) => t.dataOffsets[0]);
  assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b));
  const entry = file.tensors[0];
  const out = new Uint8Array(entry.byteLength + 16);
  const view = await entry.read(out);
  assert.equal(view.buffer, out.buffer);
  assert.deepEqual(view, await entry.read());
  await assert.rejects(entry.read(new Uint8Array(1)), RangeError);
});

Deno.test("openSafetensors() accepts a file with no __metadata__", async () => {
  const file = await openSafetensors(bytesSource(await Deno.readFile(`${GOLDEN}/no_metadata.safetensors`)));
  assert.deepEqual(file.metadata, {});
  assert.equal(file.header.hasMetadata, false);
  assert.deepEqual(file.tensors.map((t) => t.name), ["a", "b"]);
  assert.deepEqual(
    new Float32Array((await file.tensors[1].read()).slice().buffer),
    new Float32Array([1.5, -2]),
  );
});

Deno.test("openSafetensors() accepts leading and trailing spaces around the JSON header", async () => {
  const header = '  {"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}   ';
  const bytes = fileOf(header, 2);
  bytes.set([7, 9], bytes.length - 2);
  const file = await openSafetensors(bytesSource(bytes));
  assert.deepEqual(await file.tensors[0].read(), new Uint8Array([7, 9]));
});

Deno.test("openSafetensors() accepts zero-length tensors sharing an offset", async () => {
  const header = '{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},' +
    '"b":{"dtype":"I64","shape":[0,3],"data_offsets":[0,0]},"c":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}';
  const file = await openSafetensors(bytesSource(fileOf(header, 1)));
  assert.deepEqual(file.tensors.map((t) => t.byteLength), [0, 0, 1]);
});

Deno.test("openSafetensors() rejects malformed headers with a clear message", async (t) => {
  const tensor = (name: string, dtype: string, shape: unknown, offsets: unknown) =>
    `${JSON.stringify(name)}:{"dtype":${JSON.stringify(dtype)},"shape":${
      JSON.stringify(shape)
    },"data_offsets":${JSON.stringify(offsets)}}`;
  const cases: {
    name: string;
    bytes: Uint8Array;
    error: new (...a: never[]) => Error;
    message: RegExp;
    max?: number;
  }[] = [
    {
      name: "a file shorter than the length field",
      bytes: new Uint8Array(5),
      error: TruncatedError,
      message: /the file has 5 bytes, fewer than the 8-byte header length/,
    },
    {
      name: "a header length beyond the file",
      bytes: fileOf("{}", 0, 9000000000n),
      error: LimitError,
      message: /declared length 9000000000 exceeds the file \(10 bytes\)/,
    },
    {
      name: "a header length of 2^64 - 1",
      bytes: fileOf("{}", 0, 2n ** 64n - 1n),
      error: LimitError,
      message: /declared length 18446744073709551615 exceeds the file/,
    },
    {
      name: "a header longer than maxHeaderBytes",
      bytes: fileOf(`{${tensor("w", "U8", [1], [0, 1])}}`, 1),
      max: 16,
      error: LimitError,
      message: /exceeds the limit of 16 bytes \(maxHeaderBytes\)/,
    },
    {
      name: "a header length too short for JSON",
      bytes: fileOf("{", 0),
      error: FormatError,
      message: /declared length 1 is too short for a JSON object/,
    },
    {
      name: "invalid UTF-8",
      bytes: fileOf(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])),
      error: FormatError,
      message: /it is not valid UTF-8/,
    },
    { name: "invalid JSON", bytes: fileOf('{"w":'), error: FormatError, message: /invalid JSON/ },
    {
      name: "a byte order mark",
      bytes: fileOf(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d])),
      error: FormatError,
      message: /invalid JSON/,
    },
    {
      name: "a JSON array",
      bytes: fileOf("[1, 2]"),
      error: FormatError,
      message: /the JSON header is not an object/,
    },
    {
      name: "an unknown dtype",
      bytes: fileOf(`{${tensor("w", "F128", [1], [0, 16])}}`, 16),
      error: FormatError,
      message: /tensor 'w' has unknown dtype "F128"/,
    },
    {
      name: "a negative dimension",
      bytes: fileOf(`{${tensor("w", "U8", [-1], [0, 0])}}`),
      error: FormatError,
      message: /tensor 'w' has invalid dimension -1 \(not a non-negative integer\)/,
    },
    {
      name: "a fractional dimension",
      bytes: fileOf(`{${tensor("w", "U8", [1.5], [0, 0])}}`),
      error: FormatError,
      message: /tensor 'w' has invalid dimension 1.5/,
    },
    {
      name: "a string dimension",
      bytes: fileOf(`{${tensor("w", "U8", ["2"], [0, 2])}}`, 2),
      error: FormatError,
      message: /tensor 'w' has invalid dimension "2"/,
    },
    {
      name: "a missing shape",
      bytes: fileOf('{"w":{"dtype":"U8","data_offsets":[0,0]}}'),
      error: FormatError,
      message: /tensor 'w' has no shape array/,
    },
    {
      name: "a shape whose size overflows",
      bytes: fileOf(`{${tensor("w", "F32", [2 ** 40, 2 ** 40], [0, 4])}}`, 4),
      error: LimitError,
      message:
        /tensor 'w' of shape \[1099511627776, 1099511627776\] is too large \(element count × dtype size overflows\)/,
    },
    {
      name: "a size that does not match data_offsets",
      bytes: fileOf(`{${tensor("w", "F32", [2], [0, 4])}}`, 4),
      error: FormatError,
      message: /tensor 'w' of dtype F32 and shape \[2\] needs 8 bytes, its data_offsets \[0, 4\] span 4/,
    },
    {
      name: "a sub-byte tensor that ends mid-byte",
      bytes: fileOf(`{${tensor("w", "F4", [3], [0, 2])}}`, 2),
      error: FormatError,
      message: /tensor 'w' of dtype F4 and shape \[3\] does not end on a whole byte \(12 bits\)/,
    },
    {
      name: "malformed data_offsets",
      bytes: fileOf(`{${tensor("w", "U8", [1], [0, 1, 2])}}`, 1),
      error: FormatError,
      message: /tensor 'w' has invalid data_offsets \[0,1,2\]/,
    },
    {
      name: "negative data_offsets",
      bytes: fileOf(`{${tensor("w", "U8", [1], [-1, 0])}}`, 1),
      error: FormatError,
      message: /tensor 'w' has invalid data_offsets \[-1,0\]/,
    },
    {
      name: "data_offsets that end before they begin",
      bytes: fileOf(`{${tensor("w", "U8", [0], [4, 2])}}`, 4),
      error: FormatError,
      message: /tensor 'w' has data_offsets \[4, 2\] that end before they begin/,
    },
    {
      name: "a tensor described by a number",
      bytes: fileOf('{"w":3}'),
      error: FormatError,
      message: /tensor 'w' is described by a number, not an object/,
    },
    {
      name: "a hole between tensors",
      bytes: fileOf(`{${tensor("a", "U8", [8], [0, 8])},${tensor("b", "U8", [4], [12, 16])}}`, 16),
      error: FormatError,
      message: /tensor 'b' starts at data offset 12, leaving a hole after offset 8/,
    },
    {
      name: "a hole at the start",
      bytes: fileOf(`{${tensor("a", "U8", [4], [4, 8])}}`, 8),
      error: FormatError,
      message: /tensor 'a' starts at data offset 4, leaving a hole after offset 0/,
    },
    {
      name: "overlapping tensors",
      bytes: fileOf(`{${tensor("a", "U8", [8], [0, 8])},${tensor("b", "U8", [4], [4, 8])}}`, 8),
      error: FormatError,
      message: /tensor 'b' starts at data offset 4, overlapping the previous tensor \(which ends at 8\)/,
    },
    {
      name: "trailing bytes after the data section",
      bytes: fileOf(`{${tensor("a", "U8", [4], [0, 4])}}`, 6),
      error: FormatError,
      message: /the data section ends at byte (\d+), but the file has (?!\1)\d+ bytes \(trailing data\)/,
    },
    {
      name: "a data section beyond the end of the file",
      bytes: fileOf(`{${tensor("a", "U8", [16], [0, 16])}}`, 4),
      error: TruncatedError,
      message: /its tensors need 16 data bytes, the file has 4 after the header/,
    },
    {
      name: "duplicate tensor names",
      bytes: fileOf(`{${tensor("w", "U8", [4], [0, 4])},${tensor("w", "U8", [4], [4, 8])}}`, 8),
      error: FormatError,
      message: /duplicate tensor name 'w'/,
    },
    {
      name: "duplicate names spelled with escapes",
      bytes: fileOf(
        `{${tensor("wA", "U8", [4], [0, 4])},"w\\u0041":{"dtype":"U8","shape":[0],"data_offsets":[4,4]}}`,
        4,
      ),
      error: FormatError,
      message: /duplicate tensor name 'wA'/,
    },
    {
      name: "two __metadata__ entries",
      bytes: fileOf('{"__metadata__":{"a":"1"},"__metadata__":{"a":"2"}}'),
      error: FormatError,
      message: /duplicate __metadata__ entry/,
    },
    {
      name: "duplicate metadata keys",
      bytes: fileOf('{"__metadata__":{"a":"1","b":"[\\"a\\"]","a":"2"}}'),
      error: FormatError,
      message: /duplicate metadata key 'a'/,
    },
    {
      name: "a non-string metadata value",
      bytes: fileOf('{"__metadata__":{"epoch":3}}'),
      error: FormatError,
      message: /metadata value of 'epoch' is a number, not a string/,
    },
    {
      name: "metadata that is not an object",
      bytes: fileOf('{"__metadata__":["a"]}'),
      error: FormatError,
      message: /__metadata__ is not an object of strings/,
    },
  ];
  for (const c of cases) {
    await t.step(`rejects ${c.name}`, async () => {
      await assert.rejects(
        openSafetensors(bytesSource(c.bytes, "bad.safetensors"), { maxHeaderBytes: c.max }),
        (error: Error) => {
          assert.ok(error instanceof c.error, `${error.name}: ${error.message}`);
          assert.match(error.message, c.message);
          assert.match(error.message, /bad\.safetensors/);
          return true;
        },
      );
      // The pure parser agrees with the opener.
      assert.throws(
        () => decodeSafetensorsHeader(c.bytes, { maxHeaderBytes: c.max }),
        (error: Error) => error instanceof c.error && c.message.test(error.message),
      );
    });
  }
});

Deno.test("decodeSafetensorsHeader() parses a header prefix given the real file size", () => {
  const bytes = fileOf('{"w":{"dtype":"F32","shape":[1000],"data_offsets":[0,4000]}}');
  const header = decodeSafetensorsHeader(bytes, { fileBytes: bytes.length + 4000 });
  assert.equal(header.dataBytes, 4000);
  assert.equal(header.dataOffset, bytes.length);
  assert.deepEqual(header.tensors[0].shape, [1000]);
  assert.throws(() => decodeSafetensorsHeader(bytes.subarray(0, 20), { fileBytes: 10_000 }), TruncatedError);
});

Deno.test("MAX_HEADER_BYTES is the reference reader's 100,000,000", () => {
  assert.equal(MAX_HEADER_BYTES, 100_000_000);
});

Deno.test("openSafetensors() reads exactly the length field and the header, nothing more", async () => {
  const bytes = await Deno.readFile(`${GOLDEN}/small_model.safetensors`);
  const inner = bytesSource(bytes);
  const reads: [number, number][] = [];
  const source = {
    ...inner,
    read: (o: number, n: number, out?: Uint8Array) => (reads.push([o, n]), inner.read(o, n, out)),
  };
  const file = await openSafetensors(source);
  assert.deepEqual(reads, [[0, 8], [8, file.header.headerBytes]]);
});

Deno.test("sniffSafetensors() recognises safetensors heads and nothing else", async (t) => {
  const good = await Deno.readFile(`${GOLDEN}/mixed.safetensors`);
  const cases: [string, Uint8Array, number, boolean][] = [
    ["a golden file", good, good.length, true],
    ["a header after spaces", fileOf("   {}"), 13, true],
    ["a zip file", new Uint8Array([0x50, 0x4b, 3, 4, 0, 0, 0, 0, 0, 0]), 10, false],
    ["a length beyond the file", fileOf("{}", 0, 100n), 10, false],
    ["too few bytes", new Uint8Array([2, 0, 0]), 3, false],
    ["a header not starting with {", fileOf("[]"), 10, false],
  ];
  for (const [name, head, size, expected] of cases) {
    await t.step(name, () => assert.equal(sniffSafetensors(head, size), expected));
  }
});

Deno.test("decodeSafetensorsHeader() refuses C128, ckpt's own dtype that safetensors lacks", () => {
  const json = new TextEncoder().encode('{"z":{"dtype":"C128","shape":[1],"data_offsets":[0,16]}}');
  const head = new Uint8Array(8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
  head.set(json, 8);
  assert.throws(() => decodeSafetensorsHeader(head, { fileBytes: head.length + 16 }), /unknown dtype "C128"/);
});
