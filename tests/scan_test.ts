import assert from "node:assert/strict";
import { bytesSource } from "../lib/byte_source.ts";
import { memorySink } from "../lib/byte_sink.ts";
import { FormatError, UnsafePickleError } from "../lib/errors.ts";
import { loadPickle, scanPickle } from "../formats/pickle/mod.ts";
import { MAX_ARCHIVE_DEPTH, openTorch, scanCheckpoint } from "../formats/torch/mod.ts";
import { createZipWriter } from "../formats/zip/mod.ts";
import { DATA, runCli, tempDir } from "./_helpers.ts";

// Hostile pickles are written here as bytes and never given to Python.

function b(...parts: (number | string | number[] | Uint8Array)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "number") out.push(p);
    else if (typeof p === "string") { for (const c of p) out.push(c.charCodeAt(0)); }
    else out.push(...p);
  }
  return new Uint8Array(out);
}

function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

function unicode(text: string): number[] {
  return [0x8c, text.length, ...new TextEncoder().encode(text)];
}

const osSystem = b("cos\nsystem\n(S'echo pwned'\ntR.");
const benign = b(0x80, 2, "}q", 0, "X", u32(1), "aK", 1, "s.");

const HOSTILE: [string, Uint8Array, string[]][] = [
  ["os.system via GLOBAL", osSystem, ["os.system"]],
  [
    "posix.system via STACK_GLOBAL",
    b(0x80, 4, unicode("posix"), unicode("system"), 0x93, unicode("id"), 0x85, "R."),
    ["posix.system"],
  ],
  [
    "a global whose names come back from the memo",
    // Memoize "nt" and "system" as harmless strings, drop them, fetch them back for STACK_GLOBAL.
    b(0x80, 4, unicode("nt"), 0x94, unicode("system"), 0x94, "00", "h", 0, "h", 1, 0x93, ")R."),
    ["nt.system"],
  ],
  ["a second pickle after STOP", b(benign, osSystem), ["os.system"]],
  [
    "a pickle nested in bytes",
    b(0x80, 3, "B", u32(osSystem.length + 2), 0x80, 2, osSystem, "."),
    ["os.system"],
  ],
  [
    "a pickle nested in a latin1 string for _codecs.encode",
    b(
      0x80,
      2,
      "c_codecs\nencode\n",
      "X",
      u32(new TextEncoder().encode("\x80\x02" + "csubprocess\nPopen\n)R.").length),
      new TextEncoder().encode("\x80\x02" + "csubprocess\nPopen\n)R."),
      "X",
      u32(6),
      "latin1",
      0x86,
      "R.",
    ),
    ["_codecs.encode", "subprocess.Popen"],
  ],
  ["builtins.eval under its Python 2 name", b("c__builtin__\neval\n(S'1+1'\ntR."), ["builtins.eval"]],
  [
    "builtins.getattr fetching os.system",
    b("cbuiltins\ngetattr\n(cbuiltins\n__import__\n(S'os'\ntRS'system'\ntR(S'id'\ntR."),
    ["builtins.getattr", "builtins.__import__"],
  ],
  ["runpy via INST", b("(S'print(1)'\nirunpy\n_run_code\n."), ["runpy._run_code"]],
  ["a corrupt stream after a dangerous opcode", b(0x80, 2, "csubprocess\ncheck_output\n", 0xff, 0xfe), [
    "subprocess.check_output",
  ]],
];

Deno.test("hostile pickles are refused by loadPickle() and reported dangerous by scanPickle()", async (t) => {
  for (const [name, bytes, globals] of HOSTILE) {
    await t.step(name, () => {
      const scan = scanPickle(bytes);
      assert.equal(scan.verdict, "dangerous");
      for (const g of globals) {
        assert.ok(scan.globals.some((x) => x.name === g), `${g} in ${JSON.stringify(scan.globals)}`);
      }
      assert.throws(() => {
        // Every pickle in the bytes is refused, the first or any after it.
        let offset = 0;
        while (offset < bytes.length) offset = loadPickle(bytes, { offset }).end;
        // A nested pickle is refused when it is unpickled in turn.
        for (const g of scan.globals) if (g.verdict === "dangerous") throw new UnsafePickleError([g.name]);
      }, (e: Error) => e instanceof UnsafePickleError || e instanceof FormatError);
    });
  }
  await t.step("scanPickle() notes where the extra pickles were", () => {
    assert.match(
      scanPickle(b(benign, osSystem)).findings.join("\n"),
      new RegExp(`another pickle follows STOP at offset ${benign.length}`),
    );
    assert.match(
      scanPickle(HOSTILE[4][1]).findings.join("\n"),
      /a pickle is nested in a bytes value at offset 7/,
    );
    assert.match(scanPickle(HOSTILE[9][1]).findings.join("\n"), /unknown opcode 0xff/);
  });
});

async function zipOf(members: [string, Uint8Array][]): Promise<Uint8Array> {
  const sink = memorySink();
  const zip = createZipWriter(sink);
  for (const [name, data] of members) await zip.add(name, data, { align: 64 });
  await zip.finish();
  await sink.close();
  return sink.bytes();
}

function replaceAll(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const copy = bytes.slice();
  const f = new TextEncoder().encode(from);
  const r = new TextEncoder().encode(to);
  for (let i = 0; i + f.length <= copy.length; i++) {
    if (f.every((x, k) => copy[i + k] === x)) copy.set(r, i);
  }
  return copy;
}

Deno.test("scanCheckpoint() sees through zip and container tricks", async (t) => {
  const version = new TextEncoder().encode("3\n");
  await t.step("a malicious data.pkl in a torch zip", async () => {
    const zip = await zipOf([["archive/data.pkl", osSystem], ["archive/version", version]]);
    const scan = await scanCheckpoint(bytesSource(zip));
    assert.equal(scan.verdict, "dangerous");
    assert.equal(scan.kind, "zip");
    await assert.rejects(openTorch(bytesSource(zip)), UnsafePickleError);
  });
  await t.step("a bad CRC", async () => {
    const zip = await zipOf([["archive/data.pkl", osSystem], ["archive/version", version]]);
    const bad = replaceAll(zip, "echo pwned", "echo PWNED");
    const scan = await scanCheckpoint(bytesSource(bad));
    assert.equal(scan.verdict, "dangerous");
    assert.match(scan.findings.join("\n"), /member 'archive\/data\.pkl' has a bad CRC-32/);
    await assert.rejects(
      openTorch(bytesSource(bad)),
      (e: Error) => e instanceof FormatError && /CRC-32 mismatch/.test(e.message),
    );
  });
  await t.step("local headers that disagree with the central directory", async () => {
    // The central directory calls the pickle 'archive/data.pkX'; the local header still says data.pkl.
    const zip = await zipOf([["archive/version", version], ["archive/data.pkl", osSystem]]);
    const cdStart = new DataView(zip.buffer).getUint32(zip.length - 6, true);
    const head = zip.subarray(0, cdStart);
    const tail = replaceAll(zip.subarray(cdStart), "data.pkl", "data.pkX");
    const bad = b(head, tail);
    const scan = await scanCheckpoint(bytesSource(bad));
    assert.equal(scan.verdict, "dangerous");
    assert.match(
      scan.findings.join("\n"),
      /local header names 'archive\/data\.pkl' but the central directory names 'archive\/data\.pkX'/,
    );
  });
  await t.step("an encrypted flag on the pickle", async () => {
    const zip = await zipOf([["archive/data.pkl", osSystem]]);
    const bad = zip.slice();
    bad[6] |= 1; // local header flags
    const cd = new DataView(bad.buffer).getUint32(bad.length - 6, true);
    bad[cd + 8] |= 1; // central directory flags
    const scan = await scanCheckpoint(bytesSource(bad));
    assert.equal(scan.verdict, "dangerous");
    assert.match(scan.findings.join("\n"), /is encrypted|marked encrypted/);
  });
  await t.step("a misleading extension: a pickle named .safetensors", async () => {
    const scan = await scanCheckpoint(bytesSource(osSystem, "model.safetensors"));
    assert.equal(scan.kind, "pickle");
    assert.equal(scan.verdict, "dangerous");
  });
  await t.step("a pickle appended after a legacy checkpoint's storages", async () => {
    const legacy = await Deno.readFile(`${DATA}/torch/views_legacy.pt`);
    const scan = await scanCheckpoint(bytesSource(b(legacy, osSystem)));
    assert.equal(scan.kind, "torch-legacy");
    assert.equal(scan.verdict, "dangerous");
    assert.match(
      scan.findings.join("\n"),
      new RegExp(`${osSystem.length} bytes follow the last storage at offset ${legacy.length}`),
    );
  });
});

Deno.test("scanCheckpoint() judges torch's own files safe, a pickled module unknown, garbage an error", async (t) => {
  const cases: [string, string][] = [
    ["mobilenet.pt", "safe"],
    ["views_legacy.pt", "safe"],
    // ckpt reads numpy arrays' reconstruction, but torch's weights-only loader refuses it.
    ["numpy_p5.pkl", "unknown"],
    ["full_model.pt", "unknown"],
    ["zip_python.zip", "safe"],
  ];
  for (const [file, verdict] of cases) {
    await t.step(file, async () => {
      const scan = await scanCheckpoint(bytesSource(await Deno.readFile(`${DATA}/torch/${file}`)));
      assert.equal(scan.verdict, verdict, JSON.stringify(scan));
    });
  }
  await t.step("garbage", async () => {
    const scan = await scanCheckpoint(bytesSource(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])));
    assert.equal(scan.verdict, "error");
    assert.deepEqual(scan.findings, ["not a pickle, a zip archive or a known tensor file"]);
  });
});

Deno.test("ckpt scan prints verdicts, JSON, and exits 0, 1 or 2", async (t) => {
  await using dir = await tempDir();
  const evil = `${dir.path}/evil.bin`;
  await Deno.writeFile(evil, osSystem);
  const good = `${DATA}/torch/views.pt`;
  const readOnly = { permissions: ["--allow-read"] };
  await t.step("safe file: exit 0", async () => {
    const r = await runCli(["scan", good], readOnly);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /views\.pt: safe/);
    assert.match(r.stdout, /torch\._utils\._rebuild_tensor_v2\s+safe/);
  });
  await t.step("dangerous file among safe ones, JSON: exit 1", async () => {
    const r = await runCli(["scan", good, evil, "--json"], readOnly);
    assert.equal(r.code, 1, r.stderr);
    const json = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(json), ["files"]);
    assert.deepEqual(json.files.map((f: { path: string; verdict: string }) => [f.path, f.verdict]), [
      [good, "safe"],
      [evil, "dangerous"],
    ]);
    assert.deepEqual(Object.keys(json.files[1]), ["path", "verdict", "globals", "findings"]);
    assert.deepEqual(json.files[1].globals, ["os.system"]);
    assert.match(json.files[1].findings[0], /os\.system: dangerous/);
  });
  await t.step("--allow makes a global safe", async () => {
    const r = await runCli([
      "scan",
      `${DATA}/torch/full_model.pt`,
      "--allow",
      "torch.nn.modules.container.Sequential",
      "--json",
    ], readOnly);
    assert.equal(r.code, 1);
    const globals = JSON.parse(r.stdout).files[0].findings.join("\n");
    assert.doesNotMatch(globals, /Sequential/);
    assert.match(globals, /torch\.nn\.modules\.linear\.Linear: unknown/);
  });
  await t.step("missing and garbage files: exit 2", async () => {
    const garbage = `${dir.path}/garbage.pt`;
    await Deno.writeFile(garbage, new Uint8Array([9, 9, 9, 9, 9, 9, 9, 9, 9, 9]));
    const r = await runCli(["scan", `${dir.path}/missing.pt`, garbage], readOnly);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /ckpt scan: cannot read .*missing\.pt: no such file/);
    assert.match(
      r.stderr,
      /ckpt scan: cannot read .*garbage\.pt: not a pickle, a zip archive or a known tensor file/,
    );
  });
  await t.step("no file: usage error", async () => {
    const r = await runCli(["scan"], readOnly);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim(), "ckpt scan: Missing FILE (see --help)");
  });
});

// 7-Zip itself (the 7z-wasm build) makes the 7z archives.
async function sevenZip(
  files: [string, Uint8Array][],
  method: string,
  password?: string,
): Promise<Uint8Array> {
  const { default: factory } = await import("7z-wasm");
  const sz = await (factory as unknown as (o: object) => Promise<{
    FS: {
      writeFile(p: string, d: Uint8Array): void;
      readFile(p: string): Uint8Array;
      mkdir(p: string): void;
    };
    callMain(args: string[]): number;
  }>)({ print: () => {}, printErr: () => {} });
  sz.FS.mkdir("/in");
  for (const [name, data] of files) sz.FS.writeFile(`/in/${name}`, data);
  const args = ["a", "-t7z", `-m0=${method}`, "/out.7z", ...files.map(([n]) => `/in/${n}`)];
  if (password) args.push(`-p${password}`, "-mhe=on");
  assert.equal(sz.callMain(args) ?? 0, 0);
  return sz.FS.readFile("/out.7z");
}

Deno.test("scanCheckpoint() recognises pickles of every protocol by their bytes, whatever opcode comes first", async (t) => {
  // Each opens with a different protocol-0/1 opcode, then calls os.system.
  const tail = "0cos\nsystem\n(S'id'\ntR.";
  const cases: [string, Uint8Array][] = [
    ["V (UNICODE)", b("Vhello\np0\n", tail)],
    ["S' (STRING)", b("S'hello'\np0\n", tail)],
    ["c (GLOBAL)", osSystem],
    ["( (MARK)", b("(cos\nsystem\nS'id'\ntR.")],
    ["I (INT)", b("I1\n", tail)],
    ["N (NONE)", b("N", tail)],
    ["] (EMPTY_LIST, protocol 1)", b("]", tail)],
    ["} (EMPTY_DICT, protocol 1)", b("}", tail)],
    ["F (FLOAT)", b("F1.5\n", tail)],
    ["protocol 3 BINBYTES", b(0x80, 3, "C", 2, "ab", tail)],
    ["protocol 4 FRAME", b(0x80, 4, 0x95, u32(osSystem.length), [0, 0, 0, 0], osSystem)],
    ["protocol 5", b(0x80, 5, "N", tail)],
  ];
  for (const [name, bytes] of cases) {
    await t.step(name, async () => {
      const scan = await scanCheckpoint(bytesSource(bytes, "evil.bin"));
      assert.equal(scan.kind, "pickle", JSON.stringify(scan));
      assert.equal(scan.verdict, "dangerous");
      assert.deepEqual(scan.globals.map((g) => g.name), ["os.system"]);
    });
  }
  await t.step("a protocol-0 pickle that breaks after the dangerous GLOBAL", async () => {
    const scan = await scanCheckpoint(bytesSource(b("cos\nsystem\n(S'id'\n", 0xff, 0xfe)));
    assert.equal(scan.verdict, "dangerous");
    assert.match(scan.findings.join("\n"), /unknown opcode 0xff/);
  });
});

Deno.test("scanCheckpoint() sniffs every archive member by its content, nested archives and 7z included", async (t) => {
  const version = new TextEncoder().encode("3\n");
  const safePickle = b(0x80, 2, "}.");
  await t.step("a pickle under an arbitrary name in a zip", async () => {
    const zip = await zipOf([["archive/data.pkl", safePickle], ["archive/data.txt", osSystem], [
      "archive/version",
      version,
    ]]);
    const scan = await scanCheckpoint(bytesSource(zip));
    assert.equal(scan.verdict, "dangerous");
    assert.match(scan.findings.join("\n"), /archive\/data\.txt/);
  });
  await t.step("a zip inside a zip inside a zip", async () => {
    const inner = await zipOf([["notes/readme", osSystem]]);
    const middle = await zipOf([["inner.bin", inner]]);
    const outer = await zipOf([["archive/data.pkl", safePickle], ["archive/extra", middle]]);
    const scan = await scanCheckpoint(bytesSource(outer));
    assert.equal(scan.verdict, "dangerous");
    assert.ok(
      scan.findings.some((f) => f.includes("archive/extra/inner.bin/notes/readme")),
      scan.findings.join("\n"),
    );
  });
  await t.step("archives nested deeper than the limit are an error, not safe", async () => {
    let nested = await zipOf([["x", safePickle]]);
    for (let i = 0; i < MAX_ARCHIVE_DEPTH; i++) nested = await zipOf([[`level${i}`, nested]]);
    const scan = await scanCheckpoint(bytesSource(nested));
    assert.equal(scan.verdict, "error");
    assert.match(scan.findings.join("\n"), /nested deeper than 4 levels/);
  });
  await t.step("a torch zip's tensor bytes are data, not pickles", async () => {
    const scan = await scanCheckpoint(bytesSource(await Deno.readFile(`${DATA}/torch/mobilenet.pt`)));
    assert.equal(scan.verdict, "safe", JSON.stringify(scan.findings));
  });
  for (const method of ["Copy", "LZMA", "LZMA2"]) {
    await t.step(`a 7z archive (${method}) holding a pickle`, async () => {
      const archive = await sevenZip([["model.bin", osSystem], ["ok.pkl", safePickle]], method);
      const scan = await scanCheckpoint(bytesSource(archive, "model.7z"));
      assert.equal(scan.kind, "7z");
      assert.equal(scan.verdict, "dangerous");
      assert.deepEqual(scan.globals.map((g) => g.name), ["os.system"]);
      const benign = await scanCheckpoint(bytesSource(await sevenZip([["ok.pkl", safePickle]], method)));
      assert.equal(benign.verdict, "safe", JSON.stringify(benign));
    });
  }
  await t.step("a 7z inside a zip", async () => {
    const zip = await zipOf([["archive/data.pkl", safePickle], [
      "archive/blob",
      await sevenZip([["x", osSystem]], "LZMA"),
    ]]);
    assert.equal((await scanCheckpoint(bytesSource(zip))).verdict, "dangerous");
  });
  await t.step("an encrypted 7z cannot be read: not safe", async () => {
    const archive = await sevenZip([["a.pkl", safePickle]], "LZMA", "secret");
    const scan = await scanCheckpoint(bytesSource(archive));
    assert.notEqual(scan.verdict, "safe");
  });
  await t.step("a truncated 7z is an error", async () => {
    const archive = await sevenZip([["a.pkl", safePickle]], "LZMA");
    const scan = await scanCheckpoint(bytesSource(archive.subarray(0, archive.length - 10)));
    assert.equal(scan.verdict, "error", JSON.stringify(scan));
  });
});

Deno.test("scanCheckpoint() calls a truncated .pt an error, with what it could read", async (t) => {
  const good = await Deno.readFile(`${DATA}/torch/mobilenet.pt`);
  await t.step("cut in the tensor data", async () => {
    const scan = await scanCheckpoint(bytesSource(good.subarray(0, Math.floor(good.length / 2))));
    assert.equal(scan.verdict, "error");
    assert.ok(
      scan.globals.some((g) => g.name === "torch._utils._rebuild_tensor_v2"),
      "data.pkl was still read",
    );
    assert.match(scan.findings.join("\n"), /no end-of-central-directory record/);
  });
  await t.step("cut after a dangerous data.pkl", async () => {
    const zip = await zipOf([["archive/data.pkl", osSystem], ["archive/data/0", new Uint8Array(4096)]]);
    const scan = await scanCheckpoint(bytesSource(zip.subarray(0, 200)));
    assert.equal(scan.verdict, "dangerous");
  });
  await t.step("ckpt scan exits 2 on it", async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/cut.pt`;
    await Deno.writeFile(path, good.subarray(0, 3000));
    const r = await runCli(["scan", path], { permissions: ["--allow-read"] });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout, /cut\.pt: error/);
  });
});
