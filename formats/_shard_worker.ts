// A shard-conversion worker: converts the shard jobs it is sent, one at a
// time, replies with the result or the whole error, and on "abort" removes
// its temporaries (the coordinator is exiting).

import { abortAllSinks } from "../lib/byte_sink.ts";
import { errorToData } from "../lib/errors.ts";
import { convertShard, type ShardJob } from "./convert_shards.ts";

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
    scope.postMessage({ type: "done", id: job.id, result: await convertShard(job) });
  } catch (error) {
    scope.postMessage({ type: "error", id: job.id, error: errorToData(error) });
  }
};
