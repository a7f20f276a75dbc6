import assert from "node:assert/strict";
import { deflateSync } from "fflate";
import { bytesSource } from "../lib/byte_source.ts";
import { memorySink } from "../lib/byte_sink.ts";
import { crc32 } from "../lib/crc32.ts";
import { FormatError, LimitError, TruncatedError } from "../lib/errors.ts";
import { createZipWriter, openZip, readZipEntry, type ZipAddOptions } from "../formats/zip/mod.ts";
import { DATA, runPython, skipUnlessPython, tempDir } from "./_helpers.ts";

const enc = new TextEncoder();

async function makeZip(
  members: [string, Uint8Array, ZipAddOptions?][],
): Promise<Uint8Array> {
  const sink = memorySink();
  const zip = createZipWriter(sink);
  for (const [name, data, options] of members) await zip.add(name, data, options);
  await zip.finish();
  await sink.close();
  return sink.bytes();
}

Deno.test("crc32() matches the standard check value and continues across chunks", () => {
  const text = enc.encode("123456789");
  assert.equal(crc32(text), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  const big = new Uint8Array(100_003).map((_, i) => (i * 7919) & 0xff);
  assert.equal(crc32(big.subarray(37), crc32(big.subarray(0, 37))), crc32(big));
});

Deno.test("openZip() reads an archive written by Python's zipfile", async () => {
  const bytes = await Deno.readFile(`${DATA}/torch/zip_python.zip`);
  const zip = await openZip(bytesSource(bytes));
  assert.deepEqual(zip.entries.map((e) => [e.name, e.method, e.size]), [
    ["stored.txt", 0, 39],
    ["dir/deflated.bin", 8, 10240],
  ]);
  assert.equal(
    new TextDecoder().decode(await readZipEntry(zip, zip.entry("stored.txt")!)),
    "hello stored\n".repeat(3),
  );
  const inflated = await readZipEntry(zip, zip.entry("dir/deflated.bin")!);
  assert.equal(inflated.length, 10240);
  for (let i = 0; i < inflated.length; i++) assert.equal(inflated[i], i & 0xff);
});

Deno.test("createZipWriter() aligns member data through an FB extra field", async () => {
  const data = new Uint8Array(100).fill(3);
  const bytes = await makeZip([
    ["archive/data.pkl", enc.encode("x"), { align: 64 }],
    ["archive/data/0", data, { align: 64 }],
    ["archive/other-name", data, { align: 64 }],
  ]);
  const zip = await openZip(bytesSource(bytes));
  for (const entry of zip.entries) {
    assert.equal(entry.dataOffset % 64, 0, entry.name);
    const extraStart = entry.localHeaderOffset + 30 + enc.encode(entry.name).length;
    assert.equal(bytes[extraStart] | (bytes[extraStart + 1] << 8), 0x4246);
  }
  assert.deepEqual(await readZipEntry(zip, zip.entry("archive/data/0")!), data);
});

Deno.test(
  "createZipWriter() output reads back in Python's zipfile",
  { ignore: skipUnlessPython() },
  async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/out.zip`;
    await Deno.writeFile(
      path,
      await makeZip([
        ["a/stored", enc.encode("abc"), { align: 64 }],
        ["a/deflated", enc.encode("z".repeat(5000)), { method: "deflate" }],
      ]),
    );
    const out = await runPython(
      `import zipfile,sys,json
z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None
print(json.dumps({i.filename:[i.compress_type,len(z.read(i))] for i in z.infolist()}))`,
      [path],
    );
    assert.deepEqual(JSON.parse(out), { "a/stored": [0, 3], "a/deflated": [8, 5000] });
  },
);

Deno.test("openZip() reads ZIP64 end records written by zipfile and by createZipWriter()", {
  ignore: skipUnlessPython(),
}, async (t) => {
  await using dir = await tempDir();
  // 65536 members force the ZIP64 end-of-central-directory record.
  await t.step("from Python", async () => {
    const path = `${dir.path}/py64.zip`;
    await runPython(
      `import zipfile,sys
with zipfile.ZipFile(sys.argv[1],"w") as z:
  for i in range(65536): z.writestr(str(i), b"")`,
      [path],
    );
    const zip = await openZip(bytesSource(await Deno.readFile(path)));
    assert.equal(zip.entries.length, 65536);
    assert.equal(zip.entries[65535].name, "65535");
  });
  await t.step("from createZipWriter(), read by Python", async () => {
    const path = `${dir.path}/ts64.zip`;
    const members: [string, Uint8Array][] = [];
    for (let i = 0; i < 65536; i++) members.push([String(i), new Uint8Array(0)]);
    const bytes = await makeZip(members);
    await Deno.writeFile(path, bytes);
    assert.equal((await openZip(bytesSource(bytes))).entries.length, 65536);
    assert.equal(
      (await runPython(`import zipfile,sys; print(len(zipfile.ZipFile(sys.argv[1]).infolist()))`, [path]))
        .trim(),
      "65536",
    );
  });
});

function patch(bytes: Uint8Array, at: number, values: number[]): Uint8Array {
  const copy = bytes.slice();
  copy.set(values, at);
  return copy;
}

function u16(value: number): number[] {
  return [value & 0xff, value >> 8];
}

Deno.test("openZip() rejects malformed archives", async (t) => {
  const good = await makeZip([["a", enc.encode("hello")], ["b", enc.encode("world")]]);
  const cdOffset = new DataView(good.buffer).getUint32(good.length - 6, true);
  const secondCentral = cdOffset + 46 + 1;
  // deno-lint-ignore no-explicit-any
  const cases: [string, Uint8Array, new (...args: any[]) => Error, RegExp][] = [
    ["too short", good.subarray(0, 10), FormatError, /10 bytes is too short/],
    ["no end record", new Uint8Array(100), FormatError, /no end-of-central-directory record/],
    ["encrypted", patch(good, cdOffset + 8, u16(1)), FormatError, /member 'a' is encrypted/],
    [
      "local name differs",
      patch(good, 30, [0x7a]),
      FormatError,
      /local header names 'z' but the central directory names 'a'/,
    ],
    [
      "overlapping members",
      patch(good, secondCentral + 42, [0, 0, 0, 0]),
      FormatError,
      /member 'a' appears twice|overlap|local header names/,
    ],
    [
      "local CRC differs",
      patch(good, 14, [1, 2, 3, 4]),
      FormatError,
      /member 'a' has a local header that disagrees with the central directory/,
    ],
    [
      "central directory past the end",
      patch(good, good.length - 6, [0xff, 0xff, 0, 0]),
      FormatError,
      /central directory \(\d+ bytes at 65535\) runs past its end record/,
    ],
    [
      "too many members for the directory",
      patch(good, good.length - 12, u16(500)),
      FormatError,
      /500 members cannot fit in a \d+-byte central directory/,
    ],
    [
      "data past the archive",
      patch(
        patch(patch(patch(good, cdOffset + 20, [0xff, 0xff]), cdOffset + 24, [0xff, 0xff]), 18, [0xff, 0xff]),
        22,
        [0xff, 0xff],
      ),
      FormatError,
      /data of member 'a' \(65535 bytes at 31\) runs past the archive data/,
    ],
  ];
  for (const [name, bytes, cls, pattern] of cases) {
    await t.step(name, async () => {
      await assert.rejects(openZip(bytesSource(bytes)), (e: Error) => {
        assert.ok(e instanceof cls, `${e.name}: ${e.message}`);
        assert.match(e.message, pattern);
        return true;
      });
    });
  }
  await t.step("more members than maxEntries", async () => {
    await assert.rejects(openZip(bytesSource(good), { maxEntries: 1 }), (e: Error) => {
      assert.ok(e instanceof LimitError);
      assert.match(e.message, /2 members exceed the limit of 1/);
      return true;
    });
  });
  await t.step("duplicate names", async () => {
    const dup = await makeZip([["a", enc.encode("1")], ["c", enc.encode("2")]]);
    const cd = new DataView(dup.buffer).getUint32(dup.length - 6, true);
    // Rename the second member to "a" in both its local header and its central record.
    const local2 = new DataView(dup.buffer).getUint32(cd + 46 + 1 + 42, true);
    const renamed = patch(patch(dup, local2 + 30, [0x61]), cd + 46 + 1 + 46, [0x61]);
    await assert.rejects(openZip(bytesSource(renamed)), (e: Error) => {
      assert.ok(e instanceof FormatError);
      assert.match(e.message, /member 'a' appears twice/);
      return true;
    });
  });
});

Deno.test("readZipEntry() refuses bad CRCs, zip bombs and broken deflate data", async (t) => {
  await t.step("bad CRC", async () => {
    const bytes = await makeZip([["a", enc.encode("hello")]]);
    const zip = await openZip(bytesSource(patch(bytes, bytes.indexOf(0x68), [0x48])));
    await assert.rejects(readZipEntry(zip, zip.entries[0]), (e: Error) => {
      assert.ok(e instanceof FormatError);
      assert.match(e.message, /member 'a' of <memory>: CRC-32 mismatch/);
      return true;
    });
    assert.equal((await readZipEntry(zip, zip.entries[0], { verifyCrc: false }))[0], 0x48);
  });
  const bomb = await makeZip([["bomb", new Uint8Array(4 * 1024 * 1024), { method: "deflate" }]]);
  await t.step("inflated size over maxInflatedBytes", async () => {
    const zip = await openZip(bytesSource(bomb));
    await assert.rejects(readZipEntry(zip, zip.entries[0], { maxInflatedBytes: 1024 }), (e: Error) => {
      assert.ok(e instanceof LimitError);
      assert.match(e.message, /member 'bomb' of <memory>: its 4194304 bytes exceed the limit of 1024/);
      return true;
    });
  });
  await t.step("inflating past the declared size", async () => {
    const cd = new DataView(bomb.buffer).getUint32(bomb.length - 6, true);
    // Declare 1000 bytes in both headers; the stream still inflates to 4 MiB.
    const lied = patch(patch(bomb, 22, [0xe8, 0x03, 0, 0]), cd + 24, [0xe8, 0x03, 0, 0]);
    const zip = await openZip(bytesSource(lied));
    await assert.rejects(readZipEntry(zip, zip.entries[0]), (e: Error) => {
      assert.ok(e instanceof FormatError);
      assert.match(e.message, /inflates past its declared size of 1000 bytes/);
      return true;
    });
  });
  await t.step("declared size beyond what deflate can reach", async () => {
    const small = await makeZip([["s", enc.encode("abc"), { method: "deflate" }]]);
    const cd = new DataView(small.buffer).getUint32(small.length - 6, true);
    const lied = patch(patch(small, 22, [0, 0, 0, 0x40]), cd + 24, [0, 0, 0, 0x40]);
    const zip = await openZip(bytesSource(lied));
    await assert.rejects(readZipEntry(zip, zip.entries[0]), (e: Error) => {
      assert.ok(e instanceof FormatError);
      assert.match(e.message, /deflated bytes cannot inflate to the declared 1073741824/);
      return true;
    });
  });
  await t.step("garbage deflate stream", async () => {
    const real = deflateSync(enc.encode("hello hello hello"));
    const bytes = await makeZip([["g", real]]);
    // Relabel the stored member as deflated, with garbage in place of the stream.
    const cd = new DataView(bytes.buffer).getUint32(bytes.length - 6, true);
    const junk = patch(patch(patch(bytes, 8, [8]), cd + 10, [8]), 31, [0xff, 0xff, 0xff]);
    const zip = await openZip(bytesSource(junk));
    await assert.rejects(readZipEntry(zip, zip.entries[0], { verifyCrc: false }), (e: Error) => {
      assert.ok(e instanceof FormatError || e instanceof TruncatedError);
      assert.match(e.message, /member 'g' of <memory>: (invalid deflate data|it inflates)/);
      return true;
    });
  });
});
