// ckpt scan says `safe` exactly when torch.load(weights_only=True) loads the file: a corpus
// made and judged by torch 2.x itself (tests/data/torch/make_verdict_corpus.py) in the setup,
// and judged again by Debian's torch 1.13 where it is installed.
import assert from "node:assert/strict";
import { scanCheckpoint } from "../formats/torch/mod.ts";
import { fileSource } from "../lib/byte_source.ts";
import { DATA, hasPython, runCli, runPython, tempDir } from "./_helpers.ts";
import { runVenv, skipUnlessVenv } from "./_oracles.ts";

type Verdicts = Record<string, { accepted: boolean; why: string }>;

const SCRIPT = `${DATA}/torch/make_verdict_corpus.py`;
// Files torch loads that ckpt still flags: a pickle torch never reads (a second one
// after STOP, a member torch ignores) would run under a plain pickle.load.
const STRICTER = new Set(["stricter_second_pickle_after_stop.pt", "stricter_hidden_member.pt"]);

Deno.test({
  name: "scanCheckpoint() says safe exactly when torch 2.x's weights-only loader accepts the file",
  ignore: skipUnlessVenv("torch"),
  async fn(t) {
    await using dir = await tempDir("ckpt-verdicts-");
    const torch2 = JSON.parse(await runVenv(await Deno.readTextFile(SCRIPT), [dir.path])) as Verdicts;
    const files = Object.keys(torch2);
    assert.ok(files.length >= 50, `${files.length} files`);
    // The corpus holds both kinds, so neither half of "exactly" is vacuous.
    assert.ok(files.filter((f) => torch2[f].accepted).length >= 25);
    assert.ok(files.filter((f) => !torch2[f].accepted).length >= 25);
    const scans = new Map<string, Awaited<ReturnType<typeof scanCheckpoint>>>();
    for (const file of files) {
      const source = await fileSource(`${dir.path}/${file}`);
      scans.set(file, await scanCheckpoint(source));
      await source.close();
    }
    for (const file of files) {
      await t.step(file, () => {
        const scan = scans.get(file)!;
        const detail = `${torch2[file].why}\n${JSON.stringify(scan, null, 1)}`;
        if (STRICTER.has(file)) {
          assert.equal(torch2[file].accepted, true);
          assert.equal(scan.verdict, "dangerous", detail);
        } else {
          assert.equal(scan.verdict === "safe", torch2[file].accepted, detail);
        }
        if (
          file.includes("os_system") || file.includes("posix") || file.includes("eval") ||
          file.includes("subprocess")
        ) {
          assert.equal(scan.verdict, "dangerous", detail);
        }
      });
    }
    await t.step("a corrupt stream after a dangerous GLOBAL is dangerous, protocol 0 too", () => {
      for (const file of ["crafted_corrupt_after_global.pt", "crafted_protocol0_corrupt_after_global.pt"]) {
        assert.equal(scans.get(file)!.verdict, "dangerous", file);
      }
    });
    await t.step("ckpt scan exits 0 for safe files, 1 for flagged ones", async () => {
      const safe = files.filter((f) => torch2[f].accepted && !STRICTER.has(f)).map((f) => `${dir.path}/${f}`);
      const ok = await runCli(["scan", ...safe], { permissions: ["--allow-read"] });
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      const flagged = await runCli(["scan", safe[0], `${dir.path}/crafted_stack_global_allowed_name.pt`], {
        permissions: ["--allow-read"],
      });
      assert.equal(flagged.code, 1, flagged.stdout + flagged.stderr);
      assert.match(
        flagged.stdout,
        /weights_only=True\) would refuse the pickle at offset 0: opcode SHORT_BINUNICODE/,
      );
    });
    if (hasPython("torch")) {
      await t.step("torch 1.13 accepts nothing torch 2.x refuses", async () => {
        // Where 1.13 and 2.x differ (2.x accepts more: float8, uint16-64, Counter, sets), 2.x decides.
        const torch1 = JSON.parse(
          await runPython(await Deno.readTextFile(SCRIPT), ["--judge", dir.path]),
        ) as Verdicts;
        for (const file of files) {
          if (torch1[file].accepted && !STRICTER.has(file)) {
            assert.equal(scans.get(file)!.verdict, "safe", `${file}: torch 1.13 accepts it`);
          }
        }
      });
    } else {
      console.warn("skipping the torch 1.13 step: /usr/bin/python3 has no torch");
    }
  },
});
