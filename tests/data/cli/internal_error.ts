// A command whose body fails with a plain RangeError (a bug, not bad input),
// run through the CLI's error mapping; the exit code is the process's.
import { runCommand } from "../../../cli/_command.ts";

Deno.exit(
  await runCommand({
    name: "broken",
    summary: "fails",
    help: "",
    run: () => Promise.reject(new RangeError("Output buffer of 4 bytes is smaller than 8")),
  }, []),
);
