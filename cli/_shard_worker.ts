// A shard-conversion worker: converts the shard jobs it is sent, one at a
// time, and on "abort" removes its temporaries (the coordinator is exiting).

import { abortAllSinks } from "../lib/byte_sink.ts";
import { convertShard, type ShardJob } from "./_parallel.ts";

// Worker globals, typed locally: the checker sees this file as a window script.
const scope = self as unknown as {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = async (event: MessageEvent) => {
  const message = event.data as { type: "job"; job: ShardJob } | { type: "abort" };
  if (message.type === "abort") {
    await abortAllSinks();
    scope.postMessage({ type: "aborted" });
    return;
  }
  const { job } = message;
  try {
    const result = await convertShard(job);
    scope.postMessage({ type: "done", id: job.id, result });
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    scope.postMessage({
      type: "error",
      id: job.id,
      error: { name: error.name, message: error.message, stack: error.stack },
    });
  }
};
