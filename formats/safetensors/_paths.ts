// Path helpers for the multi-file writers (shards, metadata rewrites) live in lib.

export { basename, dirname, join, refuseInputs, stagingName } from "../../lib/paths.ts";
